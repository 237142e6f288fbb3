"""Checksums of model files, and the state of an installed one (installed, missing or damaged).

A detector file can be damaged after it was installed (a disk error, a sync tool, a half-copied home
folder), and a damaged file otherwise shows up only as a crash deep inside every import. So the file is
checked against its published digest when a detector is chosen; a good result is remembered in a small
JSON file beside the weights, keyed by the file's size and modification time, so the file is hashed once,
not on every run.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pelage.paths import bundle_dir

CHUNK = 1 << 20
VERIFIED_FILE = "verified.json"  # beside the weights: file name → size, mtime and digest of a file that checked out


class WeightsError(RuntimeError):
    """A model file could not be installed, or is damaged; the message names the problem and the fix."""


class ChecksumError(WeightsError):
    """A downloaded, extracted or installed file does not match its published digest."""


class WeightsState(str, enum.Enum):
    INSTALLED = "installed"
    MISSING = "not installed"
    DAMAGED = "damaged"


@dataclass(frozen=True)
class InstalledFile:
    path: Path
    state: WeightsState


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_matches(path: Path, checksum: str) -> tuple[bool, str]:
    """Whether ``path`` has the digest ``checksum`` ("md5:<hex>" or "sha256:<hex>"), and the digest it has."""
    algorithm, _, expected = checksum.partition(":")
    actual = file_digest(path, algorithm)
    return actual == expected.lower(), f"{algorithm} {actual}"


def _stamp(path: Path, checksum: str) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "checksum": checksum}


def _read_verified(folder: Path) -> dict:
    try:
        verified = json.loads((folder / VERIFIED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return verified if isinstance(verified, dict) else {}


def _inside_bundle(path: Path) -> bool:
    bundle = bundle_dir()
    return bundle is not None and path.resolve().is_relative_to(bundle.resolve())


def remember_verified(path: Path, checksum: str) -> None:
    """Record that ``path`` (as it is now) has ``checksum``; best effort, a read-only folder only costs a re-hash.

    Never inside a frozen build's bundle: nothing is written there (it may be read-only, or shared by several users).
    """
    if _inside_bundle(path):
        return
    verified = _read_verified(path.parent)
    verified[path.name] = _stamp(path, checksum)
    tmp = path.parent / f".{VERIFIED_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(verified, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path.parent / VERIFIED_FILE)
    except OSError:
        tmp.unlink(missing_ok=True)


def installed_state(path: Path, checksum: str) -> InstalledFile:
    """Whether the model file at ``path`` is there and intact, hashing it only when it changed since it last checked out.

    Only good results are remembered: a damaged file is re-checked next time (it is about to be replaced anyway),
    and checking never writes anything beside a damaged file.
    """
    if not path.is_file():
        return InstalledFile(path, WeightsState.MISSING)
    if _read_verified(path.parent).get(path.name) == _stamp(path, checksum):
        return InstalledFile(path, WeightsState.INSTALLED)
    if not checksum_matches(path, checksum)[0]:
        return InstalledFile(path, WeightsState.DAMAGED)
    remember_verified(path, checksum)
    return InstalledFile(path, WeightsState.INSTALLED)
