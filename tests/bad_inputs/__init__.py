"""The bad-input table: every input a user can get wrong, as data.

Each area of the product keeps its cases in one module here (``store.py``, ``export.py``, ``ingest.py``,
``training.py``) as a list named ``CASES``; ``tests/test_bad_inputs.py`` runs them all through the real
``pelage`` command. A new case is one :class:`BadInput` line (plus, at most, a small function that builds
the bad input).

Every case must end with exactly one line on stderr that starts with ``pelage: error:`` and names the
problem and the fix, a non-zero exit status, no traceback, and **no change** to any file under the case's
folder (the harness compares a snapshot of every file's bytes before and after).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Invocation = list[str] | tuple[list[str], dict[str, str]]  # the arguments, or the arguments and extra environment


@dataclass(frozen=True)
class BadInput:
    """One bad input: ``prepare(folder)`` builds it inside an empty ``folder`` and returns how to run ``pelage``.

    The command runs with ``PELAGE_HOME`` set to a fresh user folder holding the real U²-Net-p model
    (``folder.parent / "pelage-home"`` is *not* it: return extra environment to point elsewhere).
    """

    name: str
    prepare: Callable[[Path], Invocation]
    fragments: tuple[str, ...]  # each must appear in the error line (problem and fix)
    exit_code: int = 2
    may_change: tuple[str, ...] = ()  # glob patterns, relative to the folder, of files the command may write (rare)
