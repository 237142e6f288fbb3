"""Fine-tuning the bundled model on a nyala project's confirmed matches: held-out figures before/after, and wall time.

The project is built the way a user builds one: nyala photos imported through the real pipeline, then one
chain of confirmed matches per individual + flank. Training individuals are the bundled model's calibration
identities plus training identities (up to ``--identities``); the held-out individuals are the bundled
model's *validation* identities, which neither model ever trained on. The job runs through the worker
process with 2 CPU threads (and again on CUDA when there is a GPU). Prints figures; asserts nothing.

``--tune`` is for choosing a recipe without looking at those figures: it holds out the bundled model's
*calibration* identities instead (also never trained on by it), drops the validation identities' matches,
and trains on the rest, so a recipe picked with ``--tune`` is reported on identities it was not picked on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import print_json, shared_dataset  # noqa: E402

from tests.training_project import build_project, nyala_rows, pick_entities  # noqa: E402


def run_job(spec) -> tuple[object, float, list]:
    from pelage.training import events as ev
    from pelage.training.worker import start_job

    started = time.perf_counter()
    handle = start_job(spec)
    events = []
    for event in handle.iter_events():
        events.append(event)
        if isinstance(event, (ev.Validation, ev.Stage)):
            print(f"  [{time.perf_counter() - started:7.1f} s] {event}", file=sys.stderr)
    handle.join(30)
    return events[-1], time.perf_counter() - started, events


RECIPE_OPTIONS = ("learning_rate", "start_weight", "frozen_blocks", "seed")  # TrainingSpec fields the command line may override


def copy_keeping_matches(source: Path, target: Path, keep: Callable[[object], bool]) -> Path:
    """A copy of the project (without its trained models) whose confirmed matches are those ``keep(decision)`` accepts."""
    import shutil

    from pelage.store import open_project, transaction
    from pelage.store.schema import Decision

    if not target.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("models"))
        with open_project(target) as project, transaction(project.sessions) as session:
            for decision in session.query(Decision).all():
                if not keep(decision):
                    session.delete(decision)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=100, help="training identities (confirmed individuals' animals)")
    parser.add_argument("--photos", type=int, default=4, help="at most this many photos per identity + flank (import costs ~1 s a photo)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the app's (TrainingSpec)")
    parser.add_argument("--start-weight", type=float, default=None, help="share of the start model in the saved weights; default: the app's")
    parser.add_argument("--frozen-blocks", type=int, default=None, help="default: the app's")
    parser.add_argument("--seed", type=int, default=None, help="training seed (batches, augmentation); default: the app's")
    parser.add_argument("--work", type=Path, default=Path("/tmp/pelage-finetune-bench"), help="scratch folder (the project is kept for reruns)")
    parser.add_argument("--unsupervised", action="store_true", help="also run unsupervised adaptation on the same project")
    parser.add_argument("--skip-finetune", action="store_true", help="with --unsupervised: run only the unsupervised adaptation")
    parser.add_argument("--tune", action="store_true",
                        help="hold out the calibration identities and leave the validation ones out (for choosing a recipe)")
    args = parser.parse_args()
    root = shared_dataset("nyala")
    if root is None:
        return
    import torch

    from pelage.ingest import build_pipeline
    from pelage.paths import resolve_user_paths
    from pelage.review.individuals import list_individuals
    from pelage.store import open_project
    from pelage.training import events as ev
    from pelage.training.registry import bundled_entry, bundled_models_dir

    bundled = json.loads((bundled_models_dir() / "nyala-lite0" / "config.json").read_text())["training_data"]
    held_ids = set(bundled["validation"]["identities"])
    rng = np.random.default_rng(0)
    pool = list(bundled["calibration"]["identities"]) + list(rng.permutation(bundled["train"]["identities"]))
    rows = nyala_rows(root)
    eligible = {identity for identity, _ in pick_entities(rows, 10_000, 2)}  # a unit with photos from two sightings or more
    train_ids = [identity for identity in pool if identity in eligible][:args.identities]
    project_dir = args.work / f"nyala-{args.identities}x{args.photos}"
    if not project_dir.is_dir():
        entities = pick_entities(rows, 10_000, 2, identities=set(train_ids) | held_ids, keep=args.photos)
        started = time.perf_counter()
        project, truth = build_project(project_dir, root, entities,
                                       lambda: build_pipeline(resolve_user_paths(), project_dir / "artefacts", threads=args.threads))
        project.close()
        (args.work / f"{project_dir.name}.truth.json").write_text(json.dumps({str(k): v for k, v in truth.items()}))
        print(f"imported {sum(len(v) for v in entities.values())} photos in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    truth = {int(k): tuple(v) for k, v in json.loads((args.work / f"{project_dir.name}.truth.json").read_text()).items()}
    if args.tune:
        with open_project(project_dir) as project, project.sessions() as session:
            left_out = {m for ind in list_individuals(session) if truth[ind.members[0]][0] in held_ids for m in ind.members}
        project_dir = copy_keeping_matches(project_dir, args.work / f"{project_dir.name}-tune", lambda d: d.a_id not in left_out)
        held_ids = set(bundled["calibration"]["identities"])
    with open_project(project_dir) as project, project.sessions() as session:
        individuals = list_individuals(session)
    held_out = tuple(str(ind.id) for ind in individuals if truth[ind.members[0]][0] in held_ids)
    trained = [ind for ind in individuals if truth[ind.members[0]][0] not in held_ids]
    print(f"project: {len(trained)} training individual+flank units from {len({truth[i.members[0]][0] for i in trained})} identities "
          f"({sum(len(i.members) for i in trained)} photos); held out {len(held_out)} units", file=sys.stderr)

    devices = [] if args.skip_finetune else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {}
    for device in devices:
        recipe = {key: getattr(args, key) for key in RECIPE_OPTIONS if getattr(args, key) is not None}
        spec = ev.TrainingSpec(project_root=str(project_dir), epochs=args.epochs, device=device, threads=args.threads, held_out=held_out,
                               parent=bundled_entry().id, name=f"bench-{device}", **recipe)
        print(f"{device}: {json.dumps({key: getattr(spec, key) for key in ('epochs', *RECIPE_OPTIONS)})}")
        result, seconds, events = run_job(spec)
        if not isinstance(result, ev.Finished):
            print(f"{device}: {result}", file=sys.stderr)
            continue
        speeds = [e.images_per_s for e in events if isinstance(e, ev.Progress)]
        results[device] = {"seconds": round(seconds, 1), "images_per_s": round(float(np.median(speeds)), 2), **result.metrics}
        m = result.metrics
        print(f"{device} ({args.threads} threads): {args.epochs} epochs in {seconds:.0f} s, median {np.median(speeds):.1f} training images/s")
        held = m["held_out"]
        print(f"  held-out: {held['individuals']} individual+flank units, {held['images']} photos, {m['before']['queries']} queries")
        print(f"  {'':<8}{'mAP':>8}{'rank-1':>8}{'rank-5':>8}")
        for name in ("before", "after"):
            print(f"  {name:<8}{m[name]['map']:>8.3f}{m[name]['rank1']:>8.3f}{m[name]['rank5']:>8.3f}")
    if args.unsupervised:
        held_members = {m for ind in individuals if str(ind.id) in held_out for m in ind.members}
        adapt_dir = copy_keeping_matches(project_dir, args.work / f"{project_dir.name}-unsupervised", lambda d: d.a_id in held_members)
        spec = ev.TrainingSpec(project_root=str(adapt_dir), kind=ev.UNSUPERVISED, epochs=args.epochs, device="cpu", threads=args.threads,
                               parent=bundled_entry().id, name="bench-unsupervised")
        result, seconds, _ = run_job(spec)
        if isinstance(result, ev.Finished):
            results["unsupervised"] = {"seconds": round(seconds, 1), **result.metrics}
            m = result.metrics
            print(f"unsupervised: {seconds:.0f} s; held-out mAP {m['before']['map']:.3f} -> {m['after']['map']:.3f}, "
                  f"rank-1 {m['before']['rank1']:.3f} -> {m['after']['rank1']:.3f}")
        else:
            print(f"unsupervised: {result}")
    print_json("finetune_bench", {"tune": args.tune, "identities": args.identities, "photos_per_unit": args.photos, "epochs": args.epochs,
                                  "results": results})


if __name__ == "__main__":
    main()
