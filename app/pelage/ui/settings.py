"""The application's settings: a dataclass, kept in a JSON file between runs.

Settings belong to the user, not to a project (a project folder may move between laptops with
different GPUs), so they live in the user's config folder; tests point the window at a file of their
own. JSON and not QSettings: PySide's QSettings unpickles any value stored as a Python object, so a
settings file copied from someone else could run code when read. A file that cannot be read is never
lost either: the defaults are used, the user is told, and the file is set aside before a new one is written.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import platformdirs

DETECTORS = ("auto", "saliency", "yolo")
DEVICES = ("auto", "cpu", "cuda")  # auto: CUDA when torch sees a GPU here, else the CPU
MAX_RECENT = 8


@dataclass
class AppSettings:
    detector: str = "auto"  # auto: MegaDetector when installed, else the offline saliency detector
    detector_weights: str = ""  # a YOLO detector exported to ONNX; "" = the installed MegaDetector
    confidence: float = 0.2  # YOLO detection threshold
    remove_background: bool = True
    device: str = "auto"  # for detection and identification: auto (CUDA when available), cpu or cuda
    model: str = ""  # identification model folder; "" = the bundled model
    same_flank_only: bool = True  # propose only candidates showing the anchor's flank (or an unknown one)
    threads: int = 0  # CPU threads for the models; 0 = all
    recent_projects: list[str] = field(default_factory=list)

    def remember_project(self, path: str) -> None:
        self.recent_projects = [path, *(p for p in self.recent_projects if p != path)][:MAX_RECENT]


SETTINGS_FILE = "settings.json"


@dataclass(frozen=True)
class LoadedSettings:
    settings: AppSettings
    problems: list[str]  # what could not be used from the file, in plain words (empty when all was well)


def _coerce(value: object, default: object) -> object:
    """``value`` as the type of ``default``; TypeError when it is not that kind of value."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, list):
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value)
    elif isinstance(value, str):
        return value
    raise TypeError(f"expected {type(default).__name__}, found {type(value).__name__}")


def load_settings(path: Path) -> LoadedSettings:
    """The settings in ``path``; defaults (and a note of why) for whatever is missing, unreadable or of the wrong type."""
    settings = AppSettings()
    if not path.is_file():
        return LoadedSettings(settings, [])
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return LoadedSettings(settings, [f"{path} could not be read ({exc}); using the default settings"])
    if not isinstance(data, dict):
        return LoadedSettings(settings, [f"{path} does not hold settings (a JSON object); using the default settings"])
    problems = []
    for spec in fields(AppSettings):
        if spec.name in data:
            try:
                setattr(settings, spec.name, _coerce(data[spec.name], getattr(settings, spec.name)))
            except TypeError as exc:
                problems.append(f"setting {spec.name!r} in {path}: {exc}; using the default")
    if settings.detector not in DETECTORS:
        problems.append(f"setting 'detector' in {path}: {settings.detector!r} is not one of {', '.join(DETECTORS)}; using auto")
        settings.detector = "auto"
    if settings.device not in DEVICES:
        problems.append(f"setting 'device' in {path}: {settings.device!r} is not one of {', '.join(DEVICES)}; using auto")
        settings.device = "auto"
    return LoadedSettings(settings, problems)


def _set_aside_if_unreadable(path: Path) -> None:
    """Keep a settings file we cannot read (hand-edited, from a newer Pelage) as ``settings.json.unreadable[-N]``."""
    try:
        if not path.is_file() or isinstance(json.loads(path.read_text(encoding="utf-8")), dict):
            return
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    target, n = path.with_name(path.name + ".unreadable"), 1
    while target.exists():
        target, n = path.with_name(f"{path.name}.unreadable-{n}"), n + 1
    path.rename(target)


def save_settings(path: Path, settings: AppSettings) -> None:
    """Write atomically (a crash leaves the old file or the new one), never over a file we could not read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _set_aside_if_unreadable(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def default_settings_path() -> Path:
    return platformdirs.user_config_path("pelage", appauthor=False) / SETTINGS_FILE
