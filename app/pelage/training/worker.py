"""Training in a separate process: the GUI stays responsive and a crash in training cannot take the app down.

The child is started with ``spawn`` (a fresh interpreter: no copy of the GUI's Qt state, and the same
behaviour on Linux, macOS and Windows), imports torch itself, and streams dataclass events back through a
queue. Cancelling sets an event the loop polls between steps; the loop then saves its checkpoint, so
"pause" is a cancel followed later by :func:`start_job` with ``resume=True``, in this session or after a
restart. Nothing here imports torch, so the GUI can import this module freely.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Iterator
from dataclasses import dataclass, field

from pelage.training import events as ev

_CONTEXT = mp.get_context("spawn")


def _child(spec: ev.TrainingSpec, job_id: str, resume: bool, events, cancel) -> None:
    """Entry point of the worker process."""
    import os

    # Before torch loads: a shared laptop's cores are the user's, not all the training job's.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(max(1, spec.threads)))
    from pelage.training.finetune import run_job

    result = run_job(spec, job_id, events.put, cancel.is_set, resume)
    events.put(result)


def _embed_child(project_root: str, model_id: str, job_id: str, threads: int, device: str | None, events, cancel) -> None:
    import os

    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(max(1, threads)))
    from pelage.training.adopt import embed_with_model

    events.put(embed_with_model(project_root, model_id, job_id, events.put, cancel.is_set, threads, device))


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
