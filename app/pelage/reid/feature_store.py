"""Pattern features kept in the project's artefact folder, extracted once per crop at identify time.

Extracting RootSIFT features costs tens of milliseconds a crop, and a new anchor's shortlist needs a hundred
crops' worth, so review reads them from here instead. Each crop's features sit beside it, named by the crop
file (``…_crop.jpg`` → ``…_crop.spots.npz``): a redrawn box gets a new crop file, hence a new features file,
and the old one is never read for it. A file is used only when it was written by the same extractor
(:func:`pelage.reid.rerank.extractor_signature`) from a crop and mask of the sizes they have now; anything else
(stale, damaged, unreadable) is ignored and written afresh, so older projects heal as they are reviewed.

Files are plain ``np.savez`` arrays read with ``allow_pickle=False``, written to a temporary file and renamed
into place, so a kill never leaves half a file and two threads writing the same crop's features both succeed.
Descriptors are kept as the SIFT histograms they come from (uint8, a quarter of float32's bytes) and turned into
RootSIFT when read, which gives the extracted descriptors back bit for bit: matches on stored features equal matches
on fresh ones. (Float16 descriptors would be half the size but changed the inliers of 18 of 435 pairs.)
"""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from pelage.ingest.artefacts import read_grey, read_rgb
from pelage.reid import rerank
from pelage.reid.rerank import LocalFeatures

SUFFIX = ".spots.npz"
_GEOMETRY = ("keypoints", "sizes", "angles")


def features_path(crop: str) -> str:
    """The features file of a crop (relative to the artefact folder, like the crop's own path)."""
    return PurePosixPath(crop).with_suffix(SUFFIX).as_posix()


def _size(path: Path | None) -> int:
    """Bytes of a cached file, -1 for no file (no mask): part of what a features file was made from."""
    return -1 if path is None else path.stat().st_size


def _sources(artefacts: Path, crop: str, mask: str | None) -> tuple[Path, Path | None]:
    return artefacts / crop, (artefacts / mask if mask else None)


def load_features(artefacts: Path, crop: str, mask: str | None) -> LocalFeatures | None:
    """The stored features of this crop, or None when there are none usable (absent, stale or damaged)."""
    crop_file, mask_file = _sources(artefacts, crop, mask)
    try:
        made_from = (_size(crop_file), _size(mask_file))
        with np.load(artefacts / features_path(crop), allow_pickle=False) as data:
            if str(data["signature"]) != rerank.extractor_signature() or tuple(data["made_from"].tolist()) != made_from:
                return None
            keypoints, sizes, angles = (data[name] for name in _GEOMETRY)
            stored = data["sift"] if "sift" in data.files else data["descriptors"]
            width, height = (int(v) for v in data["image_size"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # absent, unreadable or damaged: extract again
    n = len(keypoints)
    shapes_ok = (keypoints.shape == (n, 2) and sizes.shape == (n,) and angles.shape == (n,) and stored.shape == (n, 128)
                 and all(a.dtype == np.float32 for a in (keypoints, sizes, angles)) and stored.dtype in (np.uint8, np.float32))
    if not shapes_ok:
        return None
    descriptors = rerank.root_sift(stored) if stored.dtype == np.uint8 else stored
    return LocalFeatures(keypoints, sizes, angles, descriptors, (width, height))


def save_features(artefacts: Path, crop: str, mask: str | None, features: LocalFeatures) -> None:
    """Write atomically (temporary file, then rename); the sizes of crop and mask are recorded to spot a rewritten one."""
    crop_file, mask_file = _sources(artefacts, crop, mask)
    target = artefacts / features_path(crop)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as out:
            np.savez(out, signature=np.array(rerank.extractor_signature()),
                     made_from=np.array([_size(crop_file), _size(mask_file)], np.int64),
                     image_size=np.array(features.image_size, np.int64),
                     **{name: np.ascontiguousarray(getattr(features, name), np.float32) for name in _GEOMETRY},
                     **({"sift": np.ascontiguousarray(features.sift, np.uint8)} if features.sift is not None
                        else {"descriptors": np.ascontiguousarray(features.descriptors, np.float32)}))
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def extract_crop_features(artefacts: Path, crop: str, mask: str | None) -> LocalFeatures:
    """Extract from the cached crop (a missing mask means the whole crop); raises OSError/ValueError when unreadable."""
    rgb = read_rgb(artefacts / crop)
    grey = read_grey(artefacts / mask) if mask else np.full(rgb.shape[:2], 255, np.uint8)
    return rerank.extract_features(rgb, grey, rerank.WORKING_SIDE, rerank.MAX_KEYPOINTS)


def load_or_extract(artefacts: Path, crop: str, mask: str | None) -> tuple[LocalFeatures, bool]:
    """(features, whether they had to be extracted): stored ones when usable, else extracted and stored.

    Raises OSError/ValueError when the crop cannot be read; a features file that cannot be written (a read-only
    project, a full disk) is not an error, only a cost paid again next time."""
    stored = load_features(artefacts, crop, mask)
    if stored is not None:
        return stored, False
    features = extract_crop_features(artefacts, crop, mask)
    try:
        save_features(artefacts, crop, mask, features)
    except OSError:
        pass
    return features, True
