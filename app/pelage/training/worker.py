"""Training in a separate process: the GUI stays responsive and a crash in training cannot take the app down.

The child is started with ``spawn`` (a fresh interpreter: no copy of the GUI's Qt state, and the same
behaviour on Linux, macOS and Windows), imports torch itself, and streams dataclass events back through a
queue. Cancelling sets an event the loop polls between steps; the loop then saves its checkpoint, so
"pause" is a cancel followed later by :func:`start_job` with ``resume=True``, in this session or after a
restart. Nothing here imports torch, so the GUI can import this module freely.

A worker never outlives the process that started it. ``daemon=True`` covers a parent that exits
normally, but not one that is killed (SIGKILL, a crash, the task manager): the worker would train on
and register a model nobody asked for any more. So each worker watches its parent (:class:`ParentWatch`)
and, when it is gone, cancels its job, which saves its checkpoint and says "cancelled" in job.json as a
pause would, and then ends, after at most :data:`ORPHAN_GRACE_S` whatever the job was doing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pelage.training import events as ev

_CONTEXT = mp.get_context("spawn")
ORPHAN_GRACE_S = 5.0  # how long an orphaned job may take to reach its next step and save a checkpoint
ORPHANED_EXIT = 3  # the exit status of a worker that ended because its parent was gone


class ParentWatch:
    """In a worker: notices at once when the parent process is gone, cancels the work, then ends the process.

    It waits on the parent's sentinel (what :func:`multiprocessing.parent_process` offers on every
    platform; it becomes ready when the parent dies), so detection costs no polling and no delay.
    """

    def __init__(self, grace_s: float = ORPHAN_GRACE_S) -> None:
        self.orphaned = threading.Event()
        self.done = threading.Event()
        self.grace_s = grace_s
        self.parent = mp.parent_process()
        if self.parent is not None:
            threading.Thread(target=self._watch, name="pelage-parent-watch", daemon=True).start()

    def _watch(self) -> None:
        self.parent.join()  # returns when the parent process has ended, however it ended
        self.orphaned.set()
        self.done.wait(self.grace_s)  # the job stops at its next step and saves its checkpoint
        os._exit(ORPHANED_EXIT)  # nobody reads the result; do not wait for queue threads that can never flush

    def should_stop(self, cancel) -> Callable[[], bool]:
        """The job's stop test: the parent asked for it, or the parent is gone."""
        return lambda: self.orphaned.is_set() or cancel.is_set()

    def report(self, events, result: object) -> None:
        """Send the terminal event, unless nobody is left to read it."""
        self.done.set()
        if not self.orphaned.is_set():
            events.put(result)


def _limit_threads(threads: int) -> None:
    """Before torch loads: a shared laptop's cores are the user's, not all the training job's."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(max(1, threads)))


def _child(spec: ev.TrainingSpec, job_id: str, resume: bool, events, cancel) -> None:
    """Entry point of the worker process."""
    watch = ParentWatch()
    _limit_threads(spec.threads)
    from pelage.training.finetune import run_job

    watch.report(events, run_job(spec, job_id, events.put, watch.should_stop(cancel), resume))


def _embed_child(project_root: str, model_id: str, job_id: str, threads: int, device: str | None, events, cancel) -> None:
    watch = ParentWatch()
    _limit_threads(threads)
    from pelage.training.adopt import embed_with_model

    watch.report(events, embed_with_model(project_root, model_id, job_id, events.put, watch.should_stop(cancel), threads, device))


@dataclass
class JobHandle:
    """A running (or finished) worker process and its event stream."""

    job_id: str
    process: object
    events: object
    cancel_event: object
    finished: object | None = None  # the terminal event once seen
    _backlog: list = field(default_factory=list)

    def cancel(self) -> None:
        """Ask the job to stop after its current step; it saves a checkpoint and reports :class:`Cancelled`."""
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        return self.finished is None

    def poll(self) -> list:
        """Every event that has arrived, without waiting; a worker that died silently yields a :class:`Failed`."""
        out = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            except (EOFError, OSError):
                break
            out.append(event)
            if isinstance(event, ev.TERMINAL):
                self.finished = event
        if self.finished is None and not self.process.is_alive():
            # Drain what the child flushed just before it exited, then report a crash if no result came.
            try:
                while True:
                    event = self.events.get(timeout=0.5)
                    out.append(event)
                    if isinstance(event, ev.TERMINAL):
                        self.finished = event
                        break
            except (queue.Empty, EOFError, OSError):
                pass
            if self.finished is None:
                self.finished = ev.Failed(self.job_id, f"the training process stopped unexpectedly (exit code {self.process.exitcode}); "
                                                       "the last checkpoint can be resumed")
                out.append(self.finished)
        return out

    def iter_events(self, timeout: float = 0.2) -> Iterator[object]:
        """Block and yield events until the terminal one (for the CLI and tests)."""
        while self.finished is None:
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                yield from self.poll()
                continue
            if isinstance(event, ev.TERMINAL):
                self.finished = event
            yield event

    def join(self, timeout: float | None = None) -> None:
        self.process.join(timeout)

    def kill(self) -> None:
        """Stop the worker at once (the app is quitting); the last epoch's checkpoint stays."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)

    def stop(self, grace_s: float = 2.0) -> None:
        """End the worker now, without waiting for its step to finish (the user's Cancel).

        Nothing the job does becomes the project's model until it finishes (a fine-tune registers an
        inactive model, an adoption switches only after its last animal), so ending it mid-way leaves the
        previous model in use. SIGTERM first, SIGKILL if the process has not gone after ``grace_s``.
        """
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(grace_s)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(grace_s)
        if self.finished is None:
            self.finished = ev.Failed(self.job_id, "cancelled")


def start_job(spec: ev.TrainingSpec, job_id: str | None = None, resume: bool = False) -> JobHandle:
    """Start a training job in a new process; ``resume`` continues ``job_id`` from its checkpoint."""
    if resume and job_id is None:
        raise ValueError("resuming needs the job's id")
    if job_id is None:
        from datetime import datetime

        job_id = f"{spec.kind}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')[:-3]}"
    events = _CONTEXT.Queue()
    cancel = _CONTEXT.Event()
    process = _CONTEXT.Process(target=_child, args=(spec, job_id, resume, events, cancel), name=f"pelage-train-{job_id}", daemon=True)
    process.start()
    return JobHandle(job_id, process, events, cancel)


def resume_job(project_root: str, job_id: str) -> JobHandle:
    """Continue a paused, failed or interrupted job from its checkpoint."""
    record = ev.JobRecord.load(ev.job_folder(project_root, job_id))
    return start_job(record.spec, job_id, resume=True)


def start_embedding(project_root: str, model_id: str, threads: int = 2, device: str | None = None) -> JobHandle:
    """Re-embed the project with an adopted model and rebuild its index, in a worker process."""
    from datetime import datetime

    job_id = f"embed-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')[:-3]}"
    events = _CONTEXT.Queue()
    cancel = _CONTEXT.Event()
    process = _CONTEXT.Process(target=_embed_child, args=(str(project_root), model_id, job_id, threads, device, events, cancel),
                               name=f"pelage-{job_id}", daemon=True)
    process.start()
    return JobHandle(job_id, process, events, cancel)
