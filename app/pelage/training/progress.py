"""One progress figure for a whole job: every phase mapped onto 0–100 %, with the phase in words.

A job gets ready (loads photos, measures the current model), trains for some passes, then measures the
new model; an adoption describes every animal. Showing each phase on a bar of its own makes the bar run
back to zero several times, so the user cannot tell how far the whole job is. Torch-free and Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from pelage.training import events as ev

# Shares of the bar: getting ready, training, checking the new model (an adoption's embedding fills all of it).
SPANS = {ev.PREPARE: (0.0, 10.0), ev.TRAIN: (10.0, 95.0), ev.CHECK: (95.0, 100.0), ev.EMBED: (0.0, 100.0)}


@dataclass
class JobProgress:
    """Fed every event of one job; ``percent`` never goes back, ``phase`` says what happens now."""

    percent: float = 0.0
    phase: str = "Starting…"
    epochs: int = 0
    _prepared: int = 0  # preparation steps seen, to move the bar through steps that report no count

    def update(self, event: object) -> None:
        if isinstance(event, ev.Started):
            self.epochs = event.epochs
            self.phase = "Resuming…" if event.resumed else "Starting…"
        elif isinstance(event, ev.Stage):
            self._stage(event)
        elif isinstance(event, ev.Progress):
            epochs = max(self.epochs, event.epoch, 1)
            done = (event.epoch - 1 + event.step / max(event.steps, 1)) / epochs
            self._advance(ev.TRAIN, done)
            left = _left(event.eta_s) if event.eta_s > 0 else ""
            self.phase = f"Training: pass {event.epoch} of {epochs} over the photos{left}"
        elif isinstance(event, ev.Finished | ev.Embedded) and not getattr(event, "cancelled", False):
            self.percent, self.phase = 100.0, "Done"

    def _stage(self, event: ev.Stage) -> None:
        if event.phase == ev.PREPARE:
            self._prepared += 1
            done = event.done / event.total if event.total else 0.0
            self._advance(ev.PREPARE, min(0.9, (self._prepared - 1 + done) / 5))  # about five preparation steps
            self.phase = f"Getting ready: {event.stage}"
        elif event.phase == ev.TRAIN:
            self.phase = f"Training: {event.stage}"
        else:
            self._advance(event.phase, event.done / event.total if event.total else 0.0)
            self.phase = ("Checking: " if event.phase == ev.CHECK else "") + event.stage[:1].upper() + event.stage[1:]

    def _advance(self, phase: str, fraction: float) -> None:
        low, high = SPANS[phase]
        self.percent = max(self.percent, low + (high - low) * min(max(fraction, 0.0), 1.0))


def _left(seconds: float) -> str:
    return ", less than a minute left" if seconds < 60 else f", about {round(seconds / 60)} min left"
