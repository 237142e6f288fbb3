"""Kill -9 the application mid-review and reopen the project: every decision it reported is there.

The application runs in a subprocess (``python -m tests.ui_helpers review``) that answers candidates from
the keyboard as fast as the window takes them and prints each decision once the window was told it is saved;
the kill lands wherever it lands, possibly with a decision in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from pelage.review.graph import DecisionGraph, active_decisions
from pelage.review.session import ReviewSession
from pelage.store import open_project
from pelage.store.schema import Decision
from tests.conftest import REPO_ROOT
from tests.ui_helpers import copy_project, leopard_template

WANTED = 6  # decisions reported before the kill


@pytest.fixture(scope="module")
def template(tmp_path_factory, installed_u2netp):
    return leopard_template(tmp_path_factory, installed_u2netp)


def test_decisions_survive_sigkill_during_review(template, tmp_path):
    root = copy_project(template, tmp_path / "project")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "tests.ui_helpers", "review", str(root), str(tmp_path / "settings.json")],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    reported = []
    try:
        deadline = time.monotonic() + 120
        while len(reported) < WANTED and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("{"):
                reported.append(json.loads(line))
        assert len(reported) >= WANTED, f"the app reported {len(reported)} decisions (exit code {process.poll()})"
        process.send_signal(signal.SIGKILL)  # no clean-up, no atexit, no Qt shutdown
        process.wait(timeout=30)
        reported += [json.loads(line) for line in process.stdout.read().splitlines() if line.startswith("{")]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL

    with open_project(root) as project:
        with project.sessions() as session:
            rows = {row.id: row for row in session.scalars(select(Decision))}
            active = {decision.id for decision in active_decisions(session)}
        for decision in reported:
            row = rows[decision["id"]]  # every decision the window reported is in the store, as reported
            assert (row.a_id, row.b_id, row.kind.value) == (decision["a"], decision["b"], decision["kind"])
            assert decision["id"] in active
        assert len(rows) <= len(reported) + 1  # at most the one decision in flight went unreported

        with project.sessions() as session:
            graph = DecisionGraph.load(session)
        with ReviewSession(project) as review:  # the reopened project proposes nothing already settled
            proposal = review.next_proposal()
            assert proposal is not None
            for candidate in proposal.candidates:
                assert not graph.decided(proposal.anchor.id, candidate.id)
                assert candidate.id not in graph.component(proposal.anchor.id)
