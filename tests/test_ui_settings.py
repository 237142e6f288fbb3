"""The app's settings file is the user's and may come from someone else: it is read as plain JSON (never
unpickled), anything unusable falls back to a default with a note, and a file that cannot be read is
set aside, never overwritten. The settings dialog installs MegaDetector from a loopback server (progress,
checksum, Cancel), explains every threshold, and offers CUDA only where torch sees a GPU."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

import tests.ui_helpers  # noqa: F401  (offscreen Qt before any QApplication exists)
from pelage.ui.app import create_application
from pelage.ui.main_window import MainWindow
from pelage.ui.settings import AppSettings, LoadedSettings, load_settings, save_settings
from pelage.ui.settings_dialog import SettingsDialog, cuda_device_name
from pelage.weights import KNOWN_WEIGHTS
from tests.loopback import LoopbackServer, Reply

# What PySide6's QSettings writes for a Python object: a pickle. Reading it with QSettings.value() ran
# ``Path("MARKER").touch()``; the settings file is JSON now, so these bytes are only an unreadable value.
PICKLED_VALUE = (r"@Variant(\0\0\0\x7f\0\0\0\x18PySide::PyObjectWrapper\0\0\0\0S\x80\x4\x95H\0\0\0\0\0\0\0\x8c\apathlib\x94\x8c"
                 r"\nPath.touch\x94\x93\x94h\0\x8c\tPosixPath\x94\x93\x94\x8c\x1/\x94\x8c\x3tmp\x94\x8c\tMARKER\x94\x87\x94R\x94\x85\x94R\x94.)")


def test_settings_round_trip(tmp_path):
    chosen = AppSettings(detector="yolo", confidence=0.35, device="cuda", same_flank_only=False, threads=3, recent_projects=["/p/a"])
    save_settings(tmp_path / "settings.json", chosen)
    assert load_settings(tmp_path / "settings.json") == LoadedSettings(chosen, [])


@pytest.mark.parametrize("text, problem", [
    ("[1, 2]", "does not hold settings"),
    ("{not json", "could not be read"),
    ('{"threads": "three", "confidence": 0.5}', "'threads'"),
    ('{"device": "tpu", "confidence": 0.5}', "'device'"),
    ('{"recent_projects": [1, 2], "confidence": 0.5}', "'recent_projects'"),
    ('{"same_flank_only": "yes", "confidence": 0.5}', "'same_flank_only'"),
])
def test_unusable_values_fall_back_to_defaults_with_a_note(tmp_path, text, problem):
    path = tmp_path / "settings.json"
    path.write_text(text)
    loaded = load_settings(path)
    assert len(loaded.problems) == 1 and problem in loaded.problems[0] and str(path) in loaded.problems[0]
    usable = json.loads(text) if text.startswith('{"') else {}
    assert loaded.settings.confidence == usable.get("confidence", AppSettings().confidence)
    assert loaded.settings.threads == AppSettings().threads and loaded.settings.device == AppSettings().device == "auto"


def test_a_pickled_qsettings_value_runs_nothing_and_the_unreadable_file_is_kept(qtbot, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "settings.json"
    original = f"[General]\nmodel={PICKLED_VALUE.replace('MARKER', str(marker)[1:])}\n"
    path.write_text(original)
    create_application()
    window = MainWindow(path)
    qtbot.addWidget(window)
    assert window.settings == AppSettings() and not marker.exists()
    assert "could not be read" in window.statusBar().currentMessage()
    window.close()  # saves the settings: the unreadable file is kept beside the new one
    assert (tmp_path / "settings.json.unreadable").read_text() == original
    assert load_settings(path) == LoadedSettings(AppSettings(), [])
    assert not marker.exists()


# --- the dialog: MegaDetector's state and install, tooltips, devices ---------------------------------------------

class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Sends PAYLOAD in small pieces with pauses, as a slow connection would (so Cancel lands mid-download)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        try:
            for start in range(0, len(PAYLOAD), 16384):
                self.wfile.write(PAYLOAD[start:start + 16384])
                self.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up: it cancelled

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def slow_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def megadetector_at(url: str, payload: bytes = PAYLOAD):
    return replace(KNOWN_WEIGHTS["megadetector"], url=url, checksum=f"sha256:{hashlib.sha256(payload).hexdigest()}")


def dialog_for(qtbot, models: Path, spec, gpu: str | None = None, settings: AppSettings | None = None) -> SettingsDialog:
    create_application()
    dialog = SettingsDialog(settings or AppSettings(), models_dir=models, megadetector=spec, gpu_name=lambda: gpu)
    qtbot.addWidget(dialog)
    return dialog


def test_megadetector_installs_with_progress_and_a_checksum(qtbot, tmp_path):
    models = tmp_path / "models"
    with LoopbackServer({"/md.pt": Reply(body=PAYLOAD), "/bad.pt": Reply(body=b"not the weights")}) as server:
        dialog = dialog_for(qtbot, models, megadetector_at(f"{server.base}/bad.pt"))
        assert dialog.md_status.text().startswith("Not installed") and not dialog.install_button.isHidden()
        dialog.install_button.click()  # the wrong bytes: refused by the checksum, nothing installed
        qtbot.waitUntil(lambda: not dialog.installing, timeout=30000)
        assert "damaged" in dialog.note.text() and "nothing was installed" in dialog.note.text()
        assert not models.exists() or list(models.iterdir()) == []

        dialog.spec = megadetector_at(f"{server.base}/md.pt")
        seen = []
        dialog.install_button.click()
        dialog.installer.progress.connect(lambda event: seen.append((event.done, event.total)))
        qtbot.waitUntil(lambda: not dialog.installing, timeout=30000)
    assert (models / dialog.spec.filename).read_bytes() == PAYLOAD
    assert seen and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert dialog.md_status.text().startswith("Installed") and dialog.install_button.isHidden()
    assert dialog.note.text().startswith("MegaDetector installed and checked")
    dialog.accept()  # closed as soon as the result shows: the download's thread is waited for, not destroyed running
    assert dialog._install_thread.isFinished()


def test_a_cancelled_download_leaves_nothing(qtbot, tmp_path, slow_server):
    models = tmp_path / "models"
    dialog = dialog_for(qtbot, models, megadetector_at(f"{slow_server}/md.pt"))
    dialog.install_button.click()
    qtbot.waitUntil(lambda: dialog.install_progress.value() > 0, timeout=30000)
    assert dialog.install_progress.maximum() == len(PAYLOAD) and "MB" in dialog.install_progress.format()
    dialog.install_cancel.click()
    qtbot.waitUntil(lambda: not dialog.installing, timeout=30000)
    assert dialog.note.text() == "Download cancelled; nothing was installed."
    assert list(models.iterdir()) == []  # not even the partial file
    assert dialog.md_status.text().startswith("Not installed") and dialog.install_button.isEnabled()


def test_closing_the_dialog_stops_a_download(qtbot, tmp_path, slow_server):
    models = tmp_path / "models"
    dialog = dialog_for(qtbot, models, megadetector_at(f"{slow_server}/md.pt"))
    dialog.install_button.click()
    qtbot.waitUntil(lambda: dialog.install_progress.value() > 0, timeout=30000)
    started = time.perf_counter()
    dialog.reject()
    assert time.perf_counter() - started < 2.0
    qtbot.waitUntil(lambda: list(models.iterdir()) == [], timeout=5000)


def test_every_threshold_explains_itself_and_cuda_is_offered_only_with_a_gpu(qtbot, tmp_path):
    spec = KNOWN_WEIGHTS["megadetector"]
    dialog = dialog_for(qtbot, tmp_path / "models", spec)  # no GPU: CUDA is not offered
    for widget in (dialog.detector, dialog.weights, dialog.confidence, dialog.remove_background, dialog.device, dialog.model,
                   dialog.same_flank, dialog.threads):
        assert len(widget.toolTip()) > 40, widget
    assert "Lower finds more animals" in dialog.confidence.toolTip()
    assert dialog.devices == ["auto", "cpu"] and dialog.device.currentText() == "Automatic: CPU (no CUDA GPU here)"
    assert dialog.values().device == "auto" == AppSettings().device  # the default: CUDA when available

    gpu = dialog_for(qtbot, tmp_path / "models", spec, gpu="NVIDIA H200")
    assert gpu.devices == ["auto", "cpu", "cuda"] and gpu.device.currentText() == "Automatic: CUDA — NVIDIA H200"
    gpu.device.setCurrentIndex(gpu.device.findData("cuda"))
    assert gpu.values().device == "cuda"

    moved = dialog_for(qtbot, tmp_path / "models", spec, settings=AppSettings(device="cuda"))  # chosen on a laptop with a GPU
    assert moved.device.currentData() == "auto" and "sees no NVIDIA GPU" in moved.note.text()
    assert moved.values().device == "auto"


def test_cuda_is_offered_as_torch_sees_it():
    import torch

    assert (cuda_device_name() is not None) == torch.cuda.is_available()
