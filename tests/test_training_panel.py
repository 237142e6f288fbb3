"""The training tab (offscreen): responsive while a real job trains in its worker process; it refuses a job whose
result nobody could check, says what training does in plain words, shows one bar for the whole job, "Pausing…"
until the worker stops, and Cancel ends the worker at once with the previous model still in use."""

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
from tests.training_project import few_individuals_project, small_project


@pytest.fixture(scope="module")
def project_root(tmp_path_factory, installed_u2netp):
    root = tmp_path_factory.mktemp("panel") / "project"
    small_project(tmp_path_factory.getbasetemp(), shared_dataset("nyala"), pipelines, root)
    return root


@pytest.fixture
def fresh_project(tmp_path_factory, installed_u2netp):
    """A project of its own (four confirmed individuals, no jobs) for a test that must see no other test's jobs."""
    root = tmp_path_factory.mktemp("panel-fresh") / "project"
    small_project(tmp_path_factory.getbasetemp(), shared_dataset("nyala"), pipelines, root)
    return root


@pytest.fixture
def few_root(tmp_path_factory, installed_u2netp):
    """Two confirmed individuals: enough to train on, too few to set any aside."""
    root = tmp_path_factory.mktemp("panel-few") / "project"
    few_individuals_project(tmp_path_factory.getbasetemp(), shared_dataset("nyala"), pipelines, root)
    return root


def registered(root) -> dict:
    from pelage.store import open_project
    from pelage.training.registry import list_models

    with open_project(root) as project, project.sessions() as session:
        return {entry.id: entry for entry in list_models(session)}


def visible_text(widget) -> str:
    """Every word the user can see on ``widget`` now (labels, buttons, combo boxes, check boxes)."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel

    texts = []
    for child in widget.findChildren(QLabel) + widget.findChildren(QAbstractButton):
        if child.isVisibleTo(widget):
            texts.append(child.text())
    for combo in widget.findChildren(QComboBox):
        if combo.isVisibleTo(widget):
            texts += [combo.itemText(i) for i in range(combo.count())]
    return "\n".join(texts)


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
    assert panel.progress.maximum() == 100 and 10 <= panel.progress.value() < 95
    assert "Training: pass 1 of 2 over the photos" in panel.progress.format()
    job_id = panel.handle.job_id
    panel.pause()
    assert "Pausing…" in panel.status.text() and panel.progress.format() == "Pausing…" and not panel.pause_button.isEnabled()
    panel.handle_event(ev.Progress(job_id, 1, 2, 3, 0.5, 30.0, 4.0))  # a step the worker finished before it saw the request
    assert "Pausing…" in panel.status.text() and panel.progress.format() == "Pausing…"
    qtbot.waitUntil(lambda: panel.handle is None, timeout=60_000)
    heartbeat.stop()
    assert "Paused" in panel.status.text() and "Pausing" not in panel.progress.format()
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
    nothing = {"queries": 0}
    panel.handle_event(ev.Finished("job", "m-3", "/nowhere", {"before": nothing, "after": nothing, "improved": False}))
    assert "not checked" in panel.status.text() and "better" not in panel.status.text().replace("is better", "")
    assert "NOT better" not in panel.status.text()
    assert [panel.figures.item(row, column).text() for row in range(3) for column in range(3)] == ["–"] * 9


def test_training_is_explained_in_plain_words_and_the_method_waits_behind_advanced(qtbot, project_root):
    from pelage.ui.training_panel import TrainingPanel

    panel = TrainingPanel(project_root)
    qtbot.addWidget(panel)
    panel.show()
    shown = visible_text(panel)
    assert "teaches the identification model" in shown and "similarity scores" in shown and "can be chosen again" in shown
    assert "Ready: 4 confirmed individuals (8 photos); 2 of them are set aside" in panel.readiness_label.text()
    assert "not known on this computer yet" in panel.readiness_label.text() or "It should take" in panel.readiness_label.text()
    for jargon in ("CosFace", "Epoch", "Learning rate", "unsupervised", "triplet", "Held-out share"):
        assert jargon not in shown, jargon
    assert not panel.advanced.isVisible() and not panel.advanced_button.isChecked()
    panel.advanced_button.click()
    assert panel.advanced.isVisible()
    shown = visible_text(panel)
    assert all(word in shown for word in ("CosFace", "Epochs", "Learning rate", "unsupervised"))
    assert panel.start_button.isEnabled() and not panel.unchecked_button.isVisible()


def test_too_few_individuals_refuse_to_start_and_only_adapting_without_checking_runs(qtbot, few_root):
    from pelage.training.readiness import NOT_CHECKED
    from pelage.ui.training_panel import TrainingPanel

    panel = TrainingPanel(few_root)
    qtbot.addWidget(panel)
    panel.show()
    said = panel.readiness_label.text()
    assert "2 confirmed individuals" in said and "4 in all" in said and "sets at least 2 individuals aside" in said
    assert not panel.start_button.isEnabled() and panel.unchecked_button.isVisible() and panel.unchecked_button.isEnabled()
    tiny = {key: value for key, value in TINY.items() if key != "holdout_fraction"}
    assert not panel.start(ev.TrainingSpec(project_root=str(few_root), **tiny))  # even called directly, it does not start
    assert panel.handle is None and ev.list_jobs(few_root) == [] and "Not started" in panel.status.text()

    values: list[int] = []
    panel.progress.valueChanged.connect(values.append)
    assert panel.start_unchecked(ev.TrainingSpec(project_root=str(few_root), **tiny))
    qtbot.waitUntil(lambda: panel.handle is None, timeout=240_000)
    status = panel.status.text()
    assert status.startswith("Finished, not checked") and "better" not in status.replace("is better", ""), status
    assert values == sorted(values) and values[-1] == 100 and any(10 < value < 95 for value in values)
    assert panel.adopt_button.isEnabled() and panel.finished_model
    assert [panel.figures.item(row, 1).text() for row in range(3)] == ["–"] * 3
    entry = registered(few_root)[panel.finished_model]
    assert not entry.active and entry.metrics["checked"] is False and entry.data["individuals"] == 2
    from pelage.training.readiness import verdict

    assert verdict(entry.metrics) == NOT_CHECKED


def test_cancel_ends_the_worker_at_once_and_the_previous_model_stays_in_use(qtbot, fresh_project):
    from pelage.ui.training_panel import TrainingPanel

    panel = TrainingPanel(fresh_project)
    qtbot.addWidget(panel)
    before = registered(fresh_project)
    assert panel.start(ev.TrainingSpec(project_root=str(fresh_project), **{**TINY, "epochs": 50}))
    handle = panel.handle
    qtbot.waitUntil(lambda: len(panel.plot.losses) >= 1, timeout=180_000)
    assert panel.cancel_button.isEnabled()
    started = time.perf_counter()
    panel.cancel_button.click()
    assert time.perf_counter() - started < 5 and not handle.process.is_alive()
    assert panel.handle is None and panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert "Cancelled" in panel.status.text() and "still uses nyala-lite0" in panel.status.text(), panel.status.text()
    assert ev.JobRecord.load(ev.job_folder(fresh_project, handle.job_id)).status == "stopped"
    assert ev.resumable_jobs(fresh_project) == [] and not panel.resume_button.isEnabled()
    after = registered(fresh_project)
    assert after.keys() == before.keys() and [e.id for e in after.values() if e.active] == [e.id for e in before.values() if e.active]


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
