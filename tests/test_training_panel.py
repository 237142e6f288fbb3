"""The training tab stays responsive while a real training job runs in its worker process (offscreen)."""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import pytest
from PySide6.QtCore import QTimer

from pelage.training import events as ev
from tests.conftest import shared_dataset
from tests.test_training_worker import TINY, pipelines
from tests.training_project import small_project


@pytest.fixture(scope="module")
def project_root(tmp_path_factory, installed_u2netp):
    root = tmp_path_factory.mktemp("panel") / "project"
    small_project(tmp_path_factory.getbasetemp(), shared_dataset("nyala"), pipelines, root)
    return root


def test_the_panel_does_not_import_torch():
    import subprocess

    code = "import sys, pelage.ui.training_panel; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_the_event_loop_stays_responsive_while_a_job_trains(qtbot, project_root):
    from pelage.ui.training_panel import TrainingPanel

    panel = TrainingPanel(project_root)
    qtbot.addWidget(panel)
    assert panel.start_model.count() == 1 and "(in use)" in panel.start_model.currentText()
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(tick)
    heartbeat.start()
    panel.start(ev.TrainingSpec(project_root=str(project_root), **TINY))
    assert not panel.start_button.isEnabled() and panel.pause_button.isEnabled()
    qtbot.waitUntil(lambda: len(panel.plot.losses) >= 2, timeout=180_000)  # the process started, loaded torch and trains
    during = list(gaps)
    panel.pause()
    qtbot.waitUntil(lambda: panel.handle is None, timeout=60_000)
    heartbeat.stop()
    assert "Paused" in panel.status.text()
    assert panel.resume_button.isEnabled() and panel.start_button.isEnabled()
    assert "Epoch" not in panel.status.text() and panel.plot.losses
    ticks = during[1:]
    assert len(ticks) > 50
    assert max(ticks) < 0.1, f"event loop stalled {max(ticks) * 1000:.0f} ms (median {sorted(ticks)[len(ticks) // 2] * 1000:.0f} ms)"


def test_figures_and_adopt_follow_the_verdict(qtbot, project_root):
    from pelage.ui.training_panel import TrainingPanel

    panel = TrainingPanel(project_root)
    qtbot.addWidget(panel)
    before, worse = {"queries": 4, "map": 0.8, "rank1": 0.75, "rank5": 1.0}, {"queries": 4, "map": 0.6, "rank1": 0.5, "rank5": 1.0}
    panel._kind = ev.UNSUPERVISED
    panel.handle_event(ev.Finished("job", "m-1", "/nowhere", {"before": before, "after": worse, "improved": False}))
    assert not panel.adopt_button.isEnabled() and "NOT better" in panel.status.text()
    assert panel.figures.item(0, 0).text() == "0.800" and panel.figures.item(0, 1).text() == "0.600"
    assert [panel.figures.item(row, 2).text() for row in range(3)] == ["-0.200", "-0.250", "+0.000"]
    panel._kind = ev.FINETUNE
    panel.handle_event(ev.Finished("job", "m-2", "/nowhere", {"before": before, "after": worse, "improved": False}))
    assert panel.adopt_button.isEnabled() and panel.finished_model == "m-2"


def test_the_map_scale_follows_the_figures_so_small_changes_show(qtbot):
    from pelage.ui.training_panel import LivePlot

    plot = LivePlot()
    qtbot.addWidget(plot)
    assert plot.map_range() == (0.0, 1.0)
    plot.add_validation(1, 0.196, before=0.194)
    plot.add_validation(2, 0.199, before=0.194)
    low, high = plot.map_range()
    assert low < 0.194 and high > 0.199 and high - low < 0.1  # a 0.005 gain spans a tenth of the plot or more
    plot.add_validation(3, 0.99, before=0.194)
    assert plot.map_range()[1] == 1.0


def test_each_start_model_says_where_it_came_from_and_how_it_scored():
    from datetime import datetime

    from pelage.training.registry import ModelEntry
    from pelage.ui.training_panel import describe_model

    bundled = ModelEntry("nyala-lite0-1", "nyala-lite0", "nyala-lite0", None, None, None, None, None, True, True)
    assert "bundled with Pelage" in describe_model(bundled)
    metrics = {"before": {"map": 0.194, "rank1": 0.151, "rank5": 0.421}, "after": {"map": 0.199, "rank1": 0.175, "rank5": 0.389}}
    data = {"individuals": 199, "images": 641}
    tuned = ModelEntry("ft-2", "my fine-tune", "models/ft", "nyala-lite0-1", datetime(2026, 11, 30, 4, 5), {}, data, metrics, False, False)
    text = describe_model(tuned)
    assert "fine-tuned from nyala-lite0-1 on 2026-11-30 04:05" in text and "199 individuals, 641 photos" in text
    assert "mAP 0.194 → 0.199" in text and "rank-5 0.421 → 0.389" in text
