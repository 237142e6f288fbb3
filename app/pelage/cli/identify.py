"""``pelage train / embed / rank / evaluate``: identification on folders of photos.

Torch and the models load inside each command, so ``pelage info`` and friends stay quick to start.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from pelage.cli.cluster import cluster_option, connect_cluster
from pelage.reid.ranking import SHORTLIST


class _Bars:
    """One tqdm bar per stage on stderr, for the core's (stage, done, total) progress callbacks."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit="img" if stage != "verify" else "pair",
                                           disable=None, file=sys.stderr, leave=False)
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write atomically; a .npz is what numpy's ``np.load`` reads back with ``allow_pickle=False``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _prepare(images_dir: Path, cache: Path | None, threads: int | None, bars: _Bars):
    from pelage.reid.workflow import prepare_folder

    if not images_dir.is_dir():
        raise FileNotFoundError(f"{images_dir} is not a folder")
    folder = prepare_folder(images_dir, cache, threads=threads, progress=bars)
    for failure in folder.failures:
        click.echo(f"skipped {failure.path}: {failure.reason}", err=True)
    for path in folder.undetected:
        click.echo(f"no animal detected, whole image used: {path}", err=True)
    if not folder.records:
        raise ValueError(f"no readable images under {images_dir}")
    return folder


def _int_tuple(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of whole numbers", param_hint=option) from None


model_option = click.option("--model", "model_name", default=None,
                            help="Model folder or bundled model name (default: the bundled nyala model).")
cache_option = click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
                            help="Crop cache folder (default: one per image folder in your user cache).")
threads_option = click.option("--threads", type=int, default=None, help="CPU threads for the models (default: all).")


@click.command("embed")
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .npz (paths, emb).")
@model_option
@cache_option
@threads_option
def embed_command(images_dir: Path, out_path: Path, model_name: str | None, cache: Path | None, threads: int | None) -> None:
    """Embed every image under IMAGES_DIR (detect → mask → edge → model)."""
    from pelage.reid.embed import Embedder
    from pelage.reid.workflow import embed_folder

    bars = _Bars()
    embedder = Embedder(model_name, threads=threads)
    folder = _prepare(images_dir, cache, threads, bars)
    embeddings = embed_folder(embedder.model, folder, bars)
    bars.close()
    _save_npz(out_path, paths=np.array(folder.paths, dtype=str), emb=embeddings, model_id=np.array(embedder.model_id))
    click.echo(f"Embedded {len(folder.paths)} images ({embeddings.shape[1]}-d, model {embedder.model_id}) into {out_path}; "
               f"{len(folder.undetected)} without a detection, {len(folder.failures)} unreadable.")


@click.command("rank")
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .npz (paths, sim).")
@click.option("--shortlist", default=SHORTLIST, show_default=True, help="Embedding neighbours per image verified by pattern matching.")
@model_option
@cache_option
@threads_option
def rank_command(images_dir: Path, out_path: Path, shortlist: int, model_name: str | None, cache: Path | None, threads: int | None) -> None:
    """Similarity of every pair of images from the full system (embedding + pattern re-ranking)."""
    from pelage.reid.embed import Embedder
    from pelage.reid.workflow import rank_prepared

    bars = _Bars()
    embedder = Embedder(model_name, threads=threads)
    folder = _prepare(images_dir, cache, threads, bars)
    ranking = rank_prepared(embedder.model, embedder.bundle.calibration, folder, shortlist, bars)
    bars.close()
    _save_npz(out_path, paths=np.array(ranking.paths, dtype=str), sim=ranking.ranked.astype(np.float32),
              pairwise=ranking.fused.astype(np.float32), cosine=ranking.cosine.astype(np.float32),
              inliers=ranking.inliers.astype(np.float32))
    click.echo(f"Ranked {len(ranking.paths)} images into {out_path} (sim: row i scores image i's candidates as review ranks "
               "them, pairwise: each pair's own calibrated probability of the same animal).")


@click.command("evaluate")
@click.option("--labels", "labels_csv", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--root", "root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder the label paths are relative to.")
@click.option("--held-out", is_flag=True, help="Only the identities the model was not trained or calibrated on.")
@click.option("--json", "as_json", is_flag=True)
@model_option
@cache_option
@threads_option
def evaluate_command(labels_csv: Path, root: Path, held_out: bool, as_json: bool, model_name: str | None, cache: Path | None,
                     threads: int | None) -> None:
    """mAP, rank-1, rank-5, DT5AP and T5RMD for the embedding alone and for the full system."""
    from pelage.reid.embed import Embedder
    from pelage.reid.metrics import load_labels
    from pelage.reid.workflow import evaluate_labelled

    bars = _Bars()
    embedder = Embedder(model_name, threads=threads)
    rows = load_labels(labels_csv)
    if held_out:
        validation = set(embedder.bundle.extra.get("training_data", {}).get("validation", {}).get("identities", []))
        if not validation:
            raise ValueError(f"model {embedder.model_id} records no held-out identities")
        rows = [row for row in rows if row.identity in validation]
    report = evaluate_labelled(embedder.model, embedder.bundle.calibration, rows, root, cache, threads, bars)
    bars.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['queries']} queries, {report['identities']} identity+view units, {report['images']} images")
    click.echo(f"{'system':<12}{'mAP':>8}{'rank-1':>8}{'rank-5':>8}{'DT5AP':>8}{'T5RMD':>8}")
    for system in ("embedding", "full"):
        s = report[system]
        click.echo(f"{system:<12}{s['map']:>8.3f}{s['rank1']:>8.3f}{s['rank5']:>8.3f}{s['dt5ap']:>8.3f}{s['t5rmd']:>8.3f}")


@click.command("train")
@click.option("--labels", "labels_csv", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with path, identity, view, sighting columns.")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder the label paths are relative to; may be left out when --cache already holds every crop.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default=None, help="Model name (default: the output folder's name).")
@click.option("--epochs", type=int, default=None)
@click.option("--arch", type=click.Choice(["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]), default=None)
@click.option("--margin", "margin_function", type=click.Choice(["adaptive", "constant"]), default=None,
              help="CosFace margin: spotID's adaptive h(θ) (default) or the plain constant margin.")
@click.option("--triplet", "triplet_weight", type=float, default=None, help="Weight of the batch-hard triplet loss (0: off).")
@click.option("--smoothed-ce", "smoothed_ce_weight", type=float, default=None, help="Weight of label-smoothed cross-entropy (0: off).")
@click.option("--adaptive-l2/--plain-l2", "adaptive_l2", default=None, help="PGNet-AL2's adaptive L2 regularisation.")
@click.option("--random-erasing", type=click.FloatRange(0, 1), default=None,
              help="Probability of blacking out a random rectangle of each training crop (0: off).")
@click.option("--input-size", default=None, help="Network input HEIGHTxWIDTH, e.g. 192x384 (default 224x448).")
@click.option("--frozen-blocks", type=int, default=None, help="Keep the stem and the first N backbone blocks fixed (faster on a CPU).")
@click.option("--decay-epochs", default=None, help="Comma-separated epochs at which the learning rate drops tenfold.")
@click.option("--warmup-epochs", type=int, default=None)
@click.option("--validation-fraction", default=0.2, show_default=True)
@click.option("--calibration-fraction", default=0.1, show_default=True)
@click.option("--split-seed", default=0, show_default=True)
@click.option("--seed", type=int, default=None)
@click.option("--workers", type=int, default=None, help="Data-loading processes.")
@click.option("--device", default=None, help="cuda, cpu… (default: CUDA when available).")
@click.option("--resume", is_flag=True, help="Carry on from the checkpoint in --out.")
@cache_option
@threads_option
def train_command(labels_csv: Path, data_dir: Path | None, out_dir: Path, name: str | None, epochs: int | None, arch: str | None,
                  margin_function: str | None, triplet_weight: float | None, smoothed_ce_weight: float | None, adaptive_l2: bool | None,
                  random_erasing: float | None, input_size: str | None, frozen_blocks: int | None, decay_epochs: str | None,
                  warmup_epochs: int | None,
                  validation_fraction: float, calibration_fraction: float, split_seed: int, seed: int | None, workers: int | None,
                  device: str | None, resume: bool, cache: Path | None, threads: int | None) -> None:
    """Train an embedding model on labelled photos (identity-disjoint validation and calibration splits)."""
    from dataclasses import replace

    from pelage.reid.checkpoints import CHECKPOINT, read_checkpoint
    from pelage.reid.devices import resolve_device
    from pelage.reid.metrics import load_labels
    from pelage.reid.nets import ModelConfig
    from pelage.reid.train import Recipe, recipe_with
    from pelage.reid.workflow import cached_folder, prepare_folder, train_from_labels

    if data_dir is None and cache is None:
        raise click.UsageError("give --data (the photos) or --cache (a crop cache prepared earlier)")
    resolve_device(device)  # refuse a device this machine lacks, or a damaged checkpoint, before preparing any photo
    if resume:
        read_checkpoint(out_dir / CHECKPOINT)
    recipe = recipe_with(Recipe(), epochs=epochs, margin_function=margin_function, triplet_weight=triplet_weight,
                         smoothed_ce_weight=smoothed_ce_weight, adaptive_l2=adaptive_l2, random_erasing=random_erasing, seed=seed,
                         workers=workers, device=device,
                         frozen_blocks=frozen_blocks, warmup_epochs=warmup_epochs,
                         decay_epochs=_int_tuple(decay_epochs, "--decay-epochs") if decay_epochs else None)
    config = ModelConfig(mirror_features=True)  # mirrored crops are classes of their own: compare both looks
    if arch:
        config = replace(config, arch=arch)
    if input_size:
        height, width = _int_tuple(input_size.lower().replace("x", ","), "--input-size")
        config = replace(config, input_height=height, input_width=width)
    bars = _Bars()

    def folder_for(paths):
        return prepare_folder(data_dir, cache, paths, threads, bars) if data_dir is not None else cached_folder(cache, paths)

    def on_epoch(record: dict) -> None:
        click.echo(json.dumps(record), err=True)

    model_dir = train_from_labels(load_labels(labels_csv), folder_for, out_dir, name or out_dir.name, recipe, config,
                                  validation_fraction, calibration_fraction, split_seed, resume, bars, on_epoch)
    bars.close()
    click.echo(f"Model saved in {model_dir}")


@click.command("identify")
@click.argument("project_dir", type=click.Path(path_type=Path))
@model_option
@threads_option
@cluster_option
def identify_command(project_dir: Path, model_name: str | None, threads: int | None, cluster_address: str | None) -> None:
    """Embed the project's new animals and bring its candidate index up to date."""
    from functools import partial

    from pelage.reid.candidates import embed_project
    from pelage.reid.embed import Embedder
    from pelage.store import open_project
    from pelage.training.registry import active_model_dir

    with (connect_cluster(cluster_address) as cluster, open_project(project_dir) as project,
          tqdm(desc="embed", unit="animal", disable=None, file=sys.stderr) as bar):
        model_dir = model_name or active_model_dir(project)
        embedder = Embedder(model_dir, threads=threads)
        remote = cluster.embedding_workers(partial(Embedder, model_dir, threads=threads or 1)) if cluster else None

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        summary = embed_project(project, embedder, progress=progress, remote=remote)
    for detection_id, reason in summary.failed:
        click.echo(f"animal {detection_id} not embedded: {reason}", err=True)
    click.echo(f"Model {summary.model_id}: {summary.embedded} animals embedded now, {summary.already} before, "
               f"{len(summary.failed)} failed; the index holds {summary.indexed}.")
    if summary.flanks.guessed or summary.flanks.unsure:
        click.echo(f"Flank guessed for {summary.flanks.guessed} animals; {summary.flanks.unsure} too unsure to guess (left unknown).")


@click.command("candidates")
@click.argument("project_dir", type=click.Path(path_type=Path))
@click.argument("animal_id", type=int)
@click.option("--top", "k", default=5, show_default=True)
@click.option("--any-flank", is_flag=True, help="Also consider animals showing the other known flank (review does not).")
@click.option("--json", "as_json", is_flag=True)
@model_option
@threads_option
def candidates_command(project_dir: Path, animal_id: int, k: int, any_flank: bool, as_json: bool, model_name: str | None,
                       threads: int | None) -> None:
    """The most likely other photos of ANIMAL_ID's individual, with a calibrated score, among the photos of its flank
    (or of no known flank) as review shows them."""
    from dataclasses import asdict

    from pelage.reid.candidates import propose_candidates
    from pelage.reid.embed import Embedder
    from pelage.reid.flank_project import same_flank_animals
    from pelage.reid.scenery import SCENERY_SHORT
    from pelage.store import open_project
    from pelage.training.registry import active_model_dir

    with open_project(project_dir) as project:
        embedder = Embedder(model_name or active_model_dir(project), threads=threads)
        allowed = None if any_flank else same_flank_animals(project, animal_id)
        found = propose_candidates(project, embedder, animal_id, k=k, allowed=allowed)
    if as_json:
        click.echo(json.dumps({"anchor": {"id": animal_id}, "candidates": [asdict(c) for c in found]}, indent=2))
        return
    for rank, candidate in enumerate(found, 1):
        spots = SCENERY_SHORT if candidate.scenery else f"{candidate.inliers} matching spots"
        via = f", through animal {candidate.via}: {candidate.direct:.2f} on its own" if candidate.via is not None else ""
        click.echo(f"{rank}. animal {candidate.id}: P(same) {candidate.score:.2f}  (cosine {candidate.cosine:.2f}, {spots}{via})")


COMMANDS = (identify_command, candidates_command, embed_command, rank_command, evaluate_command)  # `train` is in cli/training.py
