"""The application's settings: a dataclass, stored with QSettings between runs.

Settings belong to the user, not to a project (a project folder may move between laptops with
different GPUs), so they live in the platform's settings store; tests point QSettings at an INI file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from PySide6.QtCore import QSettings

DETECTORS = ("auto", "saliency", "yolo")
DEVICES = ("cpu", "cuda")
MAX_RECENT = 8


@dataclass
class AppSettings:
    detector: str = "auto"  # auto: MegaDetector when installed, else the offline saliency detector
    detector_weights: str = ""  # a YOLO .pt file; "" = the installed MegaDetector
    confidence: float = 0.2  # YOLO detection threshold
    remove_background: bool = True
    device: str = "cpu"  # cpu or cuda, for detection and identification
    model: str = ""  # identification model folder; "" = the bundled model
    same_flank_only: bool = True  # propose only candidates showing the anchor's flank (or an unknown one)
    threads: int = 0  # CPU threads for the models; 0 = all
    recent_projects: list[str] = field(default_factory=list)

    def remember_project(self, path: str) -> None:
        self.recent_projects = [path, *(p for p in self.recent_projects if p != path)][:MAX_RECENT]


def _coerce(value, default):
    """QSettings hands INI values back as strings; turn them into the field's type."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, list):
        if value in (None, ""):
            return []
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    return str(value)


def load_settings(store: QSettings) -> AppSettings:
    settings = AppSettings()
    for spec in fields(AppSettings):
        default = getattr(settings, spec.name)
        if store.contains(spec.name):
            try:
                setattr(settings, spec.name, _coerce(store.value(spec.name), default))
            except (TypeError, ValueError):
                pass  # a hand-edited or foreign value: keep the default rather than refuse to start
    if settings.detector not in DETECTORS:
        settings.detector = "auto"
    if settings.device not in DEVICES:
        settings.device = "cpu"
    return settings


def save_settings(store: QSettings, settings: AppSettings) -> None:
    for name, value in asdict(settings).items():
        store.setValue(name, value)
    store.sync()


def default_store() -> QSettings:
    return QSettings("Pelage", "Pelage")
