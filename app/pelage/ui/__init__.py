"""The PySide6 desktop application: a thin GUI over the core."""
