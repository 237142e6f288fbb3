"""Work off the GUI thread, so the window never freezes.

Two shapes of work:

- :class:`JobQueue` runs short core calls (propose candidates, record a decision, list individuals) one
  after another on a single worker thread that owns the review session. Keeping them in one ordered
  queue means a decision typed while candidates load is applied after, never beside, that load.
- :class:`TaskRunner` runs one long, cancellable task (import a survey, embed a project) that reports
  progress; the task polls ``should_stop`` and ends early, keeping everything it finished.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot


def describe_error(exc: BaseException) -> str:
    """One line a biologist can act on; the traceback goes to the log, not to a dialog."""
    text = str(exc).strip() or exc.__class__.__name__
    return text if isinstance(exc, (OSError, ValueError, RuntimeError)) else f"{exc.__class__.__name__}: {text}"


class _JobExecutor(QObject):
    finished = Signal(int, object)
    failed = Signal(int, str)

    @Slot(int, object)
    def execute(self, job_id: int, function: Callable[[], Any]) -> None:
        try:
            result = function()
        except Exception as exc:  # every failure is reported to the window; none ends the thread
            traceback.print_exc()
            self.failed.emit(job_id, describe_error(exc))
            return
        self.finished.emit(job_id, result)


@dataclass
class _Pending:
    on_done: Callable[[Any], None] | None
    on_error: Callable[[str], None] | None
    label: str


class JobQueue(QObject):
    """An ordered queue of core calls on one worker thread; callbacks run back on the GUI thread."""

    _submit = Signal(int, object)
    busy_changed = Signal(str)  # label of the job now running, "" when idle
    error = Signal(str)  # failures of jobs submitted without their own error handler

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._thread = QThread(self)
        self._thread.setObjectName("pelage-review")
        self._executor = _JobExecutor()
        self._executor.moveToThread(self._thread)
        self._submit.connect(self._executor.execute)
        self._executor.finished.connect(self._on_finished)
        self._executor.failed.connect(self._on_failed)
        self._thread.start()

    def submit(self, function: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None, label: str = "") -> int:
        job_id = next(self._ids)
        self._pending[job_id] = _Pending(on_done, on_error, label)
        if len(self._pending) == 1:
            self.busy_changed.emit(label)
        self._submit.emit(job_id, function)
        return job_id

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _settle(self, job_id: int) -> _Pending | None:
        pending = self._pending.pop(job_id, None)
        following = next(iter(self._pending.values()), None)
        self.busy_changed.emit(following.label if following else "")
        return pending

    @Slot(int, object)
    def _on_finished(self, job_id: int, result: object) -> None:
        pending = self._settle(job_id)
        if pending and pending.on_done:
            pending.on_done(result)

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        pending = self._settle(job_id)
        if pending and pending.on_error:
            pending.on_error(message)
        else:
            self.error.emit(message)

    def stop(self, timeout_ms: int = 30000) -> None:
        """Finish the queued jobs (each is a short store write or read) and end the thread."""
        self._thread.quit()
        self._thread.wait(timeout_ms)


@dataclass(frozen=True)
class Progress:
    """What a long task reports after each step; ``error`` is a per-item failure to list, not a stop."""

    done: int
    total: int
    text: str = ""
    error: str | None = None


class TaskRunner(QThread):
    """One long task on its own thread: ``task(report, should_stop)`` returns the result.

    ``report(Progress)`` may be called from the task at any rate; Qt queues the signal to the GUI
    thread. ``cancel()`` only raises a flag, so the task stops at a safe point.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, task: Callable[[Callable[[Progress], None], Callable[[], bool]], Any], name: str = "task",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"pelage-{name}")
        self._task = task
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        try:
            result = self._task(self.progress.emit, self._stop.is_set)
        except Exception as exc:  # reported to the window
            traceback.print_exc()
            self.failed.emit(describe_error(exc))
            return
        self.succeeded.emit(result)
