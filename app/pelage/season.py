"""A synthetic survey season at any size, with its ground truth: for testing and timing imports at scale.

``make_season`` writes ``STATION/CAMERA/IMG_nnnnn.JPG`` frames with EXIF capture times, numbered in time
order per camera as trail cameras do. Each camera sees its own fixed scene (day, and grey infrared at night);
``individuals`` spotted animals, each with its own coat per flank, wander between a few home stations over
``days`` days; some frames are empty (a triggered camera and no animal) and a few are cut short (a card
pulled out mid-write). ``ground-truth.csv`` beside the stations says what each file shows (individual, flank,
box); the importer leaves ``.csv`` files alone, so the season imports as it is. Every frame is drawn from its
own seed, so the season is the same whichever process draws it, and frames are drawn in parallel processes.
"""

from __future__ import annotations

import csv
import io
import os
import time
import zlib
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pelage.demo import _background, _draw_animal, _exif

GROUND_TRUTH = "ground-truth.csv"
STATION_TABLE = "stations.csv"
GROUND_TRUTH_FIELDS = ("path", "kind", "station", "camera", "captured_at", "individual", "flank", "x0", "y0", "x1", "y1")
START = datetime(2024, 6, 1)
HOME_STATIONS = 3  # stations an individual is seen at (fewer when the season has fewer)
SPOTS = 45
PARALLEL_FROM = 200  # frames; below this the processes cost more than they save
NOISE_LEVEL = 6  # grey levels of sensor noise on every frame, so no two frames are the same file
NOISE_MARGIN = 64  # the noise sheet is this much larger than a frame; each frame takes a window of it


@dataclass(frozen=True)
class SeasonSpec:
    images: int
    stations: int = 20
    individuals: int = 12
    days: int = 60
    seed: int = 7
    size: tuple[int, int] = (1920, 1080)  # width, height: a 2-MP trail-camera frame
    empty_share: float = 0.35
    broken_share: float = 0.002  # at least one broken file in every season

    def __post_init__(self) -> None:
        if self.images < 2 or self.stations < 1 or self.individuals < 1 or self.days < 1:
            raise ValueError("A season needs at least 2 images, 1 station, 1 individual and 1 day.")
        if min(self.size) < 64:
            raise ValueError(f"Frames of {self.size[0]}×{self.size[1]} are too small to hold an animal.")


@dataclass(frozen=True)
class Shot:
    """One file of the season: where and when, and what it shows (the ground truth)."""

    path: str
    kind: str  # animal | empty | broken
    station: str
    camera: str
    captured_at: datetime
    index: int  # seeds its pixels
    individual: int | None = None
    facing_right: bool = False
    box: tuple[int, int, int, int] | None = None

    @property
    def flank(self) -> str:
        # An animal walking to the right shows the camera its right flank.
        return "" if self.individual is None else ("right" if self.facing_right else "left")

    def row(self) -> dict[str, object]:
        x0, y0, x1, y1 = self.box or ("", "", "", "")
        return {"path": self.path, "kind": self.kind, "station": self.station, "camera": self.camera,
                "captured_at": self.captured_at.isoformat(sep=" "), "individual": _name(self.individual),
                "flank": self.flank, "x0": x0, "y0": y0, "x1": x1, "y1": y1}


@dataclass(frozen=True)
class SeasonSummary:
    images: int
    animals: int
    empty: int
    broken: int
    stations: int
    cameras: int
    individuals: int
    seconds: float = 0.0
    shots: list[Shot] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return (f"{self.images} photos ({self.animals} with an animal, {self.empty} empty, {self.broken} broken) at "
                f"{self.stations} stations, {self.cameras} cameras; {self.individuals} individuals; {self.seconds:.1f} s")


def _name(individual: int | None) -> str:
    return "" if individual is None else f"IND{individual + 1:03d}"


def cameras_of(spec: SeasonSpec) -> list[tuple[str, str]]:
    """(station, camera) pairs: every third station has a pair of cameras, as for two-flank surveys."""
    width = max(2, len(str(spec.stations)))
    pairs = []
    for number in range(1, spec.stations + 1):
        station = f"ST{number:0{width}d}"
        pairs += [(station, "CAM-A"), (station, "CAM-B")] if number % 3 == 0 else [(station, "CAM-A")]
    return pairs


def _home_ranges(spec: SeasonSpec, rng: np.random.Generator) -> list[np.ndarray]:
    """The stations each individual visits: a few neighbours on the station line, so individuals recur across them."""
    size = min(HOME_STATIONS, spec.stations)
    starts = rng.integers(0, spec.stations - size + 1, spec.individuals)
    return [np.arange(start, start + size) for start in starts]


def _capture_times(spec: SeasonSpec, rng: np.random.Generator, count: int) -> list[datetime]:
    """Times over the season, two thirds of them at night when these cats move most."""
    days = rng.integers(0, spec.days, count)
    night = rng.random(count) < 2 / 3
    hours = np.where(night, (rng.integers(19, 30, count)) % 24, rng.integers(7, 19, count))
    seconds = rng.integers(0, 3600, count)
    return [START + timedelta(days=int(d), hours=int(h), seconds=int(s)) for d, h, s in zip(days, hours, seconds, strict=True)]


def plan_season(spec: SeasonSpec) -> list[Shot]:
    """Every file of the season and what it shows, before any pixel is drawn (cheap, from the seed alone)."""
    rng = np.random.default_rng(spec.seed)
    cameras = cameras_of(spec)
    station_cameras: dict[int, list[int]] = {}
    station_names = sorted({station for station, _ in cameras})
    for index, (station, _) in enumerate(cameras):
        station_cameras.setdefault(station_names.index(station), []).append(index)
    broken = max(1, round(spec.images * spec.broken_share))
    animals = round((spec.images - broken) * (1 - spec.empty_share))
    kinds = np.array(["animal"] * animals + ["empty"] * (spec.images - broken - animals) + ["broken"] * broken)
    rng.shuffle(kinds)
    ranges = _home_ranges(spec, rng)
    individuals = rng.integers(0, spec.individuals, spec.images)
    facing = rng.random(spec.images) < 0.5
    anywhere = rng.integers(0, len(cameras), spec.images)
    times = _capture_times(spec, rng, spec.images)
    drafts = []
    for index, kind in enumerate(kinds):
        if kind == "animal":
            station = int(rng.choice(ranges[individuals[index]]))
            camera = int(rng.choice(station_cameras[station]))
            drafts.append((camera, times[index], index, str(kind), int(individuals[index]), bool(facing[index])))
        else:
            drafts.append((int(anywhere[index]), times[index], index, str(kind), None, False))
    return _numbered(drafts, cameras, spec.images)


def _numbered(drafts: Iterable[tuple], cameras: list[tuple[str, str]], total: int) -> list[Shot]:
    """File names in time order per camera (IMG_00001 first), as the camera wrote them."""
    width = max(4, len(str(total)))
    shots, counters = [], [0] * len(cameras)
    for camera, when, index, kind, individual, facing_right in sorted(drafts, key=lambda d: (d[0], d[1], d[2])):
        counters[camera] += 1
        station, name = cameras[camera]
        path = f"{station}/{name}/IMG_{counters[camera]:0{width}d}.JPG"
        shots.append(Shot(path, kind, station, name, when, index, individual, facing_right))
    return shots


def _coat(spec: SeasonSpec, individual: int, facing_right: bool) -> np.ndarray:
    """The individual's spots on one flank (each flank has its own pattern), fixed for the season."""
    rng = np.random.default_rng([spec.seed, individual, int(facing_right)])
    return np.column_stack([rng.uniform(-0.9, 0.9, SPOTS), rng.uniform(-0.75, 0.75, SPOTS), rng.uniform(0.04, 0.1, SPOTS)])


class _Scenes:
    """Each camera's fixed view by day and by night (grey infrared), and a sheet of sensor noise, drawn once per task."""

    def __init__(self, spec: SeasonSpec) -> None:
        self.spec = spec
        self._views: dict[tuple[str, bool], np.ndarray] = {}
        width, height = spec.size
        rng = np.random.default_rng([spec.seed, 2])
        grey = rng.integers(0, NOISE_LEVEL + 1, (height + NOISE_MARGIN, width + NOISE_MARGIN), dtype=np.uint8)
        self.noise = np.repeat(grey[:, :, None], 3, axis=2)

    def noisy_view(self, shot: Shot, night: bool, rng: np.random.Generator) -> np.ndarray:
        """The view with a window of the noise sheet added: a new array, different for every frame."""
        view = self.view(shot, night)
        height, width = view.shape[:2]
        top, left = (int(v) for v in rng.integers(0, NOISE_MARGIN, 2))
        return cv2.add(view, self.noise[top:top + height, left:left + width])

    def view(self, shot: Shot, night: bool) -> np.ndarray:
        key = (f"{shot.station}/{shot.camera}", night)
        if key not in self._views:
            rng = np.random.default_rng([self.spec.seed, zlib.crc32(key[0].encode()), int(night)])
            self._views[key] = _scaled_background(rng, night, self.spec.size)
        return self._views[key]


def _scaled_background(rng: np.random.Generator, night: bool, size: tuple[int, int]) -> np.ndarray:
    view = _background(rng, night)
    if night:
        view = cv2.cvtColor(cv2.cvtColor(view, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.resize(view, size, interpolation=cv2.INTER_LINEAR) if view.shape[1::-1] != size else view


def _is_night(when: datetime) -> bool:
    return when.hour >= 20 or when.hour < 6


def draw_shot(spec: SeasonSpec, scenes: _Scenes, shot: Shot) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """The frame's pixels (RGB) and the animal's box: the camera's view, sensor noise, light, and the animal."""
    rng = np.random.default_rng([spec.seed, shot.index, 1])
    night = _is_night(shot.captured_at)
    image = scenes.noisy_view(shot, night, rng)
    shift = int(rng.integers(-12, 13))  # the light of the moment
    image = cv2.add(image, (shift,) * 3, dst=image) if shift >= 0 else cv2.subtract(image, (-shift,) * 3, dst=image)
    if shot.individual is None:
        return image, None
    box = _draw_animal(image, rng, shot.individual, shot.facing_right, _coat(spec, shot.individual, shot.facing_right))
    if night:  # infrared: grey
        image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return image, box


def _jpeg(image: np.ndarray, when: datetime) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=85, exif=_exif(when))
    return buffer.getvalue()


def _write_shots(spec: SeasonSpec, out_dir: Path, shots: list[Shot]) -> list[Shot]:
    """Draw and write ``shots``; returns them with their boxes."""
    scenes = _Scenes(spec)
    written = []
    for shot in shots:
        image, box = draw_shot(spec, scenes, shot)
        data = _jpeg(image, shot.captured_at)
        if shot.kind == "broken":
            data = data[: len(data) // 3]  # a card pulled out mid-write
        target = out_dir / shot.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(replace(shot, box=box))
    return written


def _by_camera(shots: list[Shot], chunk: int = 100) -> list[list[Shot]]:
    """Shots in tasks of one camera each (its views are drawn once per task), at most ``chunk`` long."""
    groups: dict[tuple[str, str], list[Shot]] = {}
    for shot in shots:
        groups.setdefault((shot.station, shot.camera), []).append(shot)
    return [group[start:start + chunk] for group in groups.values() for start in range(0, len(group), chunk)]


def write_ground_truth(path: Path, shots: Iterable[Shot]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, GROUND_TRUTH_FIELDS)
        writer.writeheader()
        writer.writerows(shot.row() for shot in sorted(shots, key=lambda s: s.path))


def read_ground_truth(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_station_table(path: Path, spec: SeasonSpec) -> None:
    """The stations on a line 1.5 km apart (UTM 36S metres), all working for the whole season."""
    end = (START + timedelta(days=spec.days)).date().isoformat()
    lines = ["station,x,y,setup,retrieval,crs"]
    for number, station in enumerate(sorted({station for station, _ in cameras_of(spec)})):
        lines.append(f"{station},{500000 + 1500 * number},{8000000 + 400 * (number % 5)},{START.date().isoformat()},{end},EPSG:32736")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_season(out_dir: Path, spec: SeasonSpec, processes: int | None = None) -> SeasonSummary:
    """Write the season into ``out_dir`` (created; files of the same names are replaced) with its ground truth.

    ``processes``: how many processes draw frames (default: one per core for seasons of 200 frames or more).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = _by_camera(plan_season(spec))
    if processes is None:  # small seasons are quicker drawn here than in fresh processes
        processes = (os.cpu_count() or 1) if spec.images >= PARALLEL_FROM else 1
    if processes <= 1:
        written = [shot for group in groups for shot in _write_shots(spec, out_dir, group)]
    else:
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_write_shots, spec, out_dir, group) for group in groups]
            written = [shot for future in futures for shot in future.result()]
    write_ground_truth(out_dir / GROUND_TRUTH, written)
    write_station_table(out_dir / STATION_TABLE, spec)
    kinds = [shot.kind for shot in written]
    return SeasonSummary(
        images=len(written), animals=kinds.count("animal"), empty=kinds.count("empty"), broken=kinds.count("broken"),
        stations=spec.stations, cameras=len(cameras_of(spec)), individuals=len({s.individual for s in written} - {None}),
        seconds=time.perf_counter() - started, shots=written,
    )
