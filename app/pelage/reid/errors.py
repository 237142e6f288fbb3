"""Errors of the identification engine that the command line reports as plain messages (no torch import)."""


class ModelFolderError(RuntimeError):
    """A model folder is missing, incomplete or not a Pelage model."""
