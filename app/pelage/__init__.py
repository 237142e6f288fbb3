"""Pelage: offline identification of individual patterned animals in camera-trap photographs."""

__version__ = "0.1.0"
