"""Adopting a model: embed every animal of the project with it, rebuild its index, then make it the active one.

The switch happens only after the embedding is complete, so the review screen never meets a model with
missing vectors; a cancelled adoption keeps what it embedded (the next one continues) and changes nothing
else. Embeddings and index files are keyed by model id, so going back to an earlier model is instant.
"""

from __future__ import annotations

from collections.abc import Callable

from pelage.store import open_project
from pelage.training import events as ev
from pelage.training.registry import get_model, model_dir, set_active


def embed_with_model(project_root: str, model_id: str, job_id: str, emit: Callable[[object], None], should_stop: Callable[[], bool],
                     threads: int | None = 2, device: str | None = None) -> object:
    """Embed the project with ``model_id`` and activate it; returns the terminal event."""
    try:
        from pelage.reid.candidates import embed_project
        from pelage.reid.embed import Embedder

        with open_project(project_root) as project:
            with project.sessions() as session:
                entry = get_model(session, model_id)
            embedder = Embedder(model_dir(project.root, entry), device=device, threads=threads)
            if embedder.model_id != model_id:
                raise ValueError(f"the weights in {model_dir(project.root, entry)} are model {embedder.model_id}, not {model_id}")
            emit(ev.Stage(job_id, f"describing every animal with {model_id}", phase=ev.EMBED))
            summary = embed_project(project, embedder, should_stop=should_stop,
                                    progress=lambda done, total: emit(ev.Stage(job_id, "describing every animal", done, total, ev.EMBED)))
            if not summary.cancelled:
                set_active(project, model_id)
        return ev.Embedded(job_id, model_id, summary.embedded + summary.already, summary.indexed, summary.cancelled)
    except Exception as exc:  # the GUI shows it; the previous model stays active
        import traceback

        return ev.Failed(job_id, str(exc) or exc.__class__.__name__, traceback.format_exc())
