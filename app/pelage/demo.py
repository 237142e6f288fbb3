"""A small synthetic survey season that ships with Pelage, for trying the tool and for its tests.

Spotted animals (three individuals, each with its own fixed spot pattern, seen from the left or the
right) walk past camera stations laid out as ``STATION/CAMERA/IMG_nnnn.JPG`` with EXIF capture
times; a few empty frames, one truncated photo and a note file show how imports treat them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import piexif

STATIONS = {"ST01": ["CAM-A", "CAM-B"], "ST02": ["CAM-A"], "ST03": ["CAM-A"], "ST04": ["CAM-A", "CAM-B"]}
# The field team's station table, as `pelage stations --import` reads it: UTM zone 36S metres, ISO dates,
# and ST03's camera out of order for three days (its photos then are left out of capture histories).
STATION_TABLE = """station,x,y,setup,retrieval,crs,lat,lon,problem1_from,problem1_to
ST01,500000,8000000,2024-06-01,2024-06-22,EPSG:32736,-18.0867,33.0000,,
ST02,501500,8000200,2024-06-01,2024-06-22,EPSG:32736,-18.0849,33.0142,,
ST03,503000,8001000,2024-06-01,2024-06-22,EPSG:32736,-18.0777,33.0284,2024-06-10,2024-06-12
ST04,501200,8002400,2024-06-01,2024-06-22,EPSG:32736,-18.0650,33.0114,,
"""
INDIVIDUALS = 3
SIZE = (1280, 960)  # a typical low-resolution trail-camera frame


@dataclass(frozen=True)
class DemoSummary:
    images: int
    animals: int
    empty: int
    broken: int

    def __str__(self) -> str:
        return f"{self.images} photos ({self.animals} with an animal, {self.empty} empty, {self.broken} broken)"


def _background(rng: np.random.Generator, night: bool) -> np.ndarray:
    width, height = SIZE
    noise = rng.normal(0, 1, (height // 8, width // 8, 3)).astype(np.float32)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    base = np.array([70, 95, 60] if not night else [85, 85, 85], np.float32)
    image = base + noise * 18
    horizon = int(height * rng.uniform(0.25, 0.4))
    image[:horizon] = (np.array([150, 170, 185] if not night else [40, 40, 40], np.float32)
                       + noise[:horizon] * 6)
    return np.clip(image, 0, 255).astype(np.uint8)


def _spots(individual: int) -> np.ndarray:
    """The individual's coat: spot centres and sizes on a unit body, fixed for life."""
    rng = np.random.default_rng(1000 + individual)
    return np.column_stack([rng.uniform(-0.9, 0.9, 45), rng.uniform(-0.75, 0.75, 45), rng.uniform(0.04, 0.1, 45)])


def _draw_animal(image: np.ndarray, rng: np.random.Generator, individual: int, facing_right: bool,
                 spots: np.ndarray | None = None) -> tuple[int, int, int, int]:
    """Draw the animal (``spots``: its coat, default the individual's); returns its box ``x0, y0, x1, y1`` in the frame."""
    height, width = image.shape[:2]
    body_w = int(width * rng.uniform(0.25, 0.35))
    body_h = int(body_w * 0.42)
    cx = int(rng.uniform(0.3, 0.7) * width)
    cy = int(rng.uniform(0.55, 0.7) * height)
    coat = (196, 160, 96)
    direction = 1 if facing_right else -1
    for leg in (-0.6, -0.35, 0.35, 0.6):
        x = cx + int(leg * body_w / 2)
        cv2.rectangle(image, (x - body_w // 22, cy), (x + body_w // 22, cy + int(body_h * 1.1)), coat, -1)
    cv2.ellipse(image, (cx, cy), (body_w // 2, body_h // 2), 0, 0, 360, coat, -1)
    head = (cx + direction * int(body_w * 0.55), cy - int(body_h * 0.45))
    cv2.circle(image, head, int(body_h * 0.33), coat, -1)
    tail_end = (cx - direction * int(body_w * 0.85), cy - int(body_h * 0.1))
    cv2.line(image, (cx - direction * body_w // 2, cy), tail_end, coat, max(3, body_w // 40))
    for sx, sy, radius in _spots(individual) if spots is None else spots:
        # The right flank shows the other side of the animal: a different pattern, mirrored in view.
        x = cx + int(direction * sx * body_w / 2 * 0.9)
        y = cy + int(sy * body_h / 2 * 0.9)
        cv2.circle(image, (x, y), max(2, int(radius * body_w / 2)), (40, 28, 20), -1)
    head_r, tail = int(body_h * 0.33), max(3, body_w // 40)
    xs = [cx - body_w // 2, cx + body_w // 2, head[0] - head_r, head[0] + head_r, tail_end[0] - tail, tail_end[0] + tail]
    x0, x1 = max(0, min(xs)), min(width, max(xs))
    y0, y1 = max(0, min(cy - body_h // 2, head[1] - head_r)), min(height, cy + int(body_h * 1.1))
    return x0, y0, x1, y1


def _exif(when: datetime) -> bytes:
    stamp = when.strftime("%Y:%m:%d %H:%M:%S").encode()
    return piexif.dump({"0th": {piexif.ImageIFD.Make: b"Pelage demo camera"},
                        "Exif": {piexif.ExifIFD.DateTimeOriginal: stamp}})


def make_demo_survey(out_dir: Path, seed: int = 7, photos_per_camera: int = 3) -> DemoSummary:
    """Write the demo survey into ``out_dir`` (created; existing files with the same names are replaced)."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 6, 1, 18, 0, 0)
    images = animals = empty = 0
    for s_index, (station, cameras) in enumerate(STATIONS.items()):
        for camera in cameras:
            folder = Path(out_dir) / station / camera
            folder.mkdir(parents=True, exist_ok=True)
            for photo in range(photos_per_camera + 1):
                when = start + timedelta(days=int(rng.integers(0, 20)), hours=int(rng.integers(0, 12)),
                                         minutes=int(rng.integers(0, 60)), seconds=int(rng.integers(0, 60)))
                night = when.hour >= 20 or when.hour < 6
                image = _background(rng, night)
                if photo < photos_per_camera:
                    _draw_animal(image, rng, int((s_index + photo) % INDIVIDUALS), facing_right=photo % 2 == 0)
                    animals += 1
                else:
                    empty += 1
                if night:
                    image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
                assert ok
                target = folder / f"IMG_{photo + 1:04d}.JPG"
                target.write_bytes(jpeg.tobytes())
                piexif.insert(_exif(when), str(target))
                images += 1
    broken = Path(out_dir) / "ST02" / "CAM-A" / "IMG_0099.JPG"
    whole = (Path(out_dir) / "ST02" / "CAM-A" / "IMG_0001.JPG").read_bytes()
    broken.write_bytes(whole[: len(whole) // 3])  # a card pulled out mid-write
    (Path(out_dir) / "field-notes.txt").write_text("Demo survey generated by Pelage. Stations ST01-ST04.\n")
    (Path(out_dir) / "stations.csv").write_text(STATION_TABLE, encoding="utf-8")
    return DemoSummary(images=images + 1, animals=animals, empty=empty, broken=1)
