"""The ``pelage`` command line: thin commands over the same core functions the GUI calls."""
