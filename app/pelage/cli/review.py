"""``pelage propose / decide / undo / redo / individuals / rename / flank / unusable / restore / conflicts``: review from the command line.

The same functions the review screen calls, for scripting and batch work. Each decision is its own
transaction; ids are those of detected animals (``pelage animals PROJECT``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from pelage.review.graph import DecisionGraph


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _describe(decision) -> str:
    return f"decision {decision.id}: {decision.a_id} {decision.kind.value} {decision.b_id}"


project_argument = click.argument("project_dir", type=click.Path(path_type=Path))


@click.command("propose")
@project_argument
@click.option("--anchor", "anchor_id", type=int, default=None, help="Propose candidates for this animal instead of the next in the queue.")
@click.option("--top", "k", type=click.IntRange(1), default=5, show_default=True, help="Candidates per anchor.")
@click.option("--any-flank", is_flag=True, help="Also propose animals showing the other known flank.")
@click.option("--model", "model_name", default=None, help="Model folder, bundled name or model id (default: the project's).")
@click.option("--json", "as_json", is_flag=True, help='Print {"anchor": {"id": …}, "candidates": [{"id": …, "score": …}, …]}.')
def propose_command(project_dir: Path, anchor_id: int | None, k: int, any_flank: bool, model_name: str | None, as_json: bool) -> None:
    """The next animal to review (or ANCHOR) and its most likely matches, never one decided before."""
    from pelage.reid.scenery import SCENERY_SHORT
    from pelage.review.session import ReviewSession
    from pelage.store import open_project

    with open_project(project_dir) as project, ReviewSession(project, model_name, same_flank=not any_flank, k=k) as session:
        proposal = session.next_proposal(anchor_id)
    if as_json:
        _echo_json(proposal.as_json() if proposal else {"anchor": None, "candidates": []})
        return
    if proposal is None:
        click.echo("Nothing left to review.")
        return
    anchor = proposal.anchor
    click.echo(f"Anchor {anchor.id}: {anchor.survey}/{anchor.image} ({anchor.station or '?'}, {anchor.time or 'no time'})")
    if not proposal.candidates:
        click.echo("  no candidate left for this animal")
    for rank, candidate in enumerate(proposal.candidates, 1):
        spots = f"{candidate.inliers} matching spots" if candidate.verified else "not verified"
        if candidate.scenery:
            spots = SCENERY_SHORT
        if candidate.via is not None:
            spots += f", through animal {candidate.via}"
        click.echo(f"  {rank}. animal {candidate.id}: P(same) {candidate.score:.3f}  (cosine {candidate.cosine:.3f}, {spots})  "
                   f"{candidate.record.survey}/{candidate.record.image}")


@click.command("decide")
@project_argument
@click.argument("anchor_id", type=int)
@click.argument("candidate_id", type=int)
@click.argument("kind", type=click.Choice(["match", "nonmatch", "notcomparable"]))
@click.option("--author", default=None, help="Who decided (kept with the decision).")
def decide_command(project_dir: Path, anchor_id: int, candidate_id: int, kind: str, author: str | None) -> None:
    """Record whether CANDIDATE_ID shows the same animal as ANCHOR_ID."""
    from pelage.review import actions
    from pelage.store import open_project

    with open_project(project_dir) as project:
        decision = actions.decide(project, anchor_id, candidate_id, kind, author)
        with project.sessions() as session:
            graph = DecisionGraph.load(session)
    size = len(graph.component(anchor_id))
    click.echo(f"Recorded {_describe(decision)}; the individual of {anchor_id} now has {size} photo{'s' if size > 1 else ''}.")
    for conflict in graph.conflicts():
        if conflict.a_id in graph.component(anchor_id):
            click.echo(f"warning: animals {conflict.a_id} and {conflict.b_id} were marked not a match but confirmed matches join them "
                       f"(decision {conflict.decision_id}); see `pelage conflicts`", err=True)


@click.command("undo")
@project_argument
def undo_command(project_dir: Path) -> None:
    """Undo the newest decision (it stays in the store's history as retracted)."""
    from pelage.review import actions
    from pelage.store import open_project

    with open_project(project_dir) as project:
        undone = actions.undo(project)
    click.echo(f"Undid {_describe(undone)}." if undone else "Nothing to undo.")


@click.command("redo")
@project_argument
def redo_command(project_dir: Path) -> None:
    """Re-apply what the newest undo retracted (only while nothing was decided since)."""
    from pelage.review import actions
    from pelage.store import open_project

    with open_project(project_dir) as project:
        again = actions.redo(project)
    click.echo(f"Redid {_describe(again)}." if again else "Nothing to redo.")


@click.command("individuals")
@project_argument
@click.option("--json", "as_json", is_flag=True, help='Print [{"id": …, "name": …, "members": [animal ids]}, …].')
def individuals_command(project_dir: Path, as_json: bool) -> None:
    """Every individual with two or more photos (ids are the smallest member's)."""
    from pelage.review.summary import summarise_individuals
    from pelage.store import open_project

    with open_project(project_dir) as project, project.sessions() as session:
        summaries = summarise_individuals(session)
    if as_json:
        _echo_json([{"id": s.id, "name": s.name, "members": list(s.members)} for s in summaries])
        return
    if not summaries:
        click.echo("No individual with two or more photos yet.")
    for s in summaries:
        seen = f"{s.first_seen:%Y-%m-%d} – {s.last_seen:%Y-%m-%d}" if s.first_seen else "no dates"
        click.echo(f"{s.id:>6}  {s.name or '(unnamed)':<20} {s.count:>4} photos  {seen:<25} {', '.join(s.stations) or '?'}")


@click.command("rename")
@project_argument
@click.argument("animal_id", type=int)
@click.argument("name")
def rename_command(project_dir: Path, animal_id: int, name: str) -> None:
    """Name the individual ANIMAL_ID belongs to."""
    from pelage.review.individuals import rename_individual
    from pelage.store import open_project, transaction

    with open_project(project_dir) as project, transaction(project.sessions) as session:
        rename_individual(session, animal_id, name)
    click.echo(f"The individual of animal {animal_id} is now called {name!r}.")


@click.command("flank")
@project_argument
@click.argument("animal_id", type=int)
@click.argument("flank", type=click.Choice(["left", "right", "unknown"]))
def flank_command(project_dir: Path, animal_id: int, flank: str) -> None:
    """Record which flank ANIMAL_ID shows; proposals compare left with left and right with right."""
    from pelage.review import actions
    from pelage.store import open_project

    with open_project(project_dir) as project:
        actions.set_flank(project, animal_id, flank)
    click.echo(f"Animal {animal_id} shows its {flank} flank." if flank != "unknown" else f"Animal {animal_id}: flank not known.")


@click.command("unusable")
@project_argument
@click.argument("animal_id", type=int)
@click.option("--reason", required=True, help="Why it cannot be used (e.g. 'only a tail', 'a rock'); exports list it with this reason.")
def unusable_command(project_dir: Path, animal_id: int, reason: str) -> None:
    """Set a detection aside as not usable: out of review, listed as left out (with REASON) by every export."""
    from pelage.review import actions
    from pelage.store import open_project

    with open_project(project_dir) as project:
        reason = actions.mark_unusable(project, animal_id, reason)
    click.echo(f"Animal {animal_id} set aside as not usable: {reason}. `pelage restore` brings it back.")


@click.command("restore")
@project_argument
@click.argument("animal_id", type=int)
def restore_command(project_dir: Path, animal_id: int) -> None:
    """Bring a detection set aside as not usable back into review and the exports."""
    from pelage.review import actions
    from pelage.store import open_project

    with open_project(project_dir) as project:
        reason = actions.restore(project, animal_id)
    click.echo(f"Animal {animal_id} restored" + (f" (it was set aside: {reason})." if reason else "; it was not set aside."))


@click.command("conflicts")
@project_argument
@click.option("--json", "as_json", is_flag=True)
def conflicts_command(project_dir: Path, as_json: bool) -> None:
    """Pairs marked "not a match" that confirmed matches put in one individual (resolve by undo, merge or split)."""
    from pelage.store import open_project

    with open_project(project_dir) as project, project.sessions() as session:
        conflicts = DecisionGraph.load(session).conflicts()
    if as_json:
        _echo_json([{"a": c.a_id, "b": c.b_id, "decision": c.decision_id, "component": sorted(c.component)} for c in conflicts])
        return
    if not conflicts:
        click.echo("No conflicts.")
    for c in conflicts:
        click.echo(f"animals {c.a_id} and {c.b_id}: not a match (decision {c.decision_id}) but in one individual of {len(c.component)} photos")


@click.command("calibrate")
@project_argument
@click.option("--model", "model_name", default=None, help="Model folder, bundled name or model id (default: the project's).")
@click.option("--check-only", is_flag=True, help="Report how well the scores fit the decisions; keep nothing.")
@click.option("--json", "as_json", is_flag=True)
def calibrate_command(project_dir: Path, model_name: str | None, check_only: bool, as_json: bool) -> None:
    """Refit the "% same animal" scores from this project's confirmed matches and rejections (10 of each at least),
    checked by cross-validation against the model's own; review then shows the project's scores."""
    from pelage.reid.calibration import MIN_EACH
    from pelage.review.calibration import calibrate_project
    from pelage.review.model import resolve_review_model
    from pelage.store import open_project

    with open_project(project_dir) as project:
        model = resolve_review_model(project, model_name, project_calibration=False)
        result = calibrate_project(project, model.model_id, model.calibration, save=not check_only)
    if as_json:
        _echo_json({"model_id": result.model_id, "matches": result.matches, "rejections": result.rejections,
                    "calibration": result.fitted.to_dict() if result.fitted else None, "check": result.check.as_dict() if result.check else None,
                    "saved": str(result.path) if result.path else None})
        return
    decisions = f"{result.matches} confirmed matches and {result.rejections} rejections"
    if result.check is None:
        click.echo(f"Not enough decisions to refit the scores yet: {decisions}; it needs {MIN_EACH} of each. Review goes on with "
                   "the model's own scores.")
        return
    check = result.check
    click.echo(f"From {decisions} (model {result.model_id}), checked on decisions each fit did not see (5-fold cross-validation):")
    click.echo(f"  calibration error {check.ece:.3f} (model's own scores: {check.prior_ece:.3f}; 0 = \"80 %\" comes true 4 times in 5)")
    click.echo(f"  a true match scores above a non-match {100 * check.auc:.1f} % of the time (model's own: {100 * check.prior_auc:.1f} %)")
    click.echo(f"Saved to {result.path}: review now shows this project's scores." if result.path else "Nothing saved (--check-only).")


COMMANDS = [propose_command, decide_command, undo_command, redo_command, individuals_command, rename_command, flank_command,
            unusable_command, restore_command, conflicts_command, calibrate_command]
