"""Per-photo work on a ``dask.distributed`` cluster, for a season past one machine.

A team runs a scheduler on one machine and workers on others; ``pelage import --cluster ADDRESS`` and
``pelage identify --cluster ADDRESS`` then send the heavy per-photo work (decode → detect → mask → edge, and
the embedding) to the workers, while the command that started it records each result in its own transaction,
in the same order as a single-machine run. So:

- the project is the same as a single-machine import of the same survey (duplicates are found in the scan's
  order, which only the recording side sees);
- a lost worker loses nothing: Dask runs its tasks again on another worker (a task writes only cached files
  named by the photo's content, so running it twice writes the same files);
- a killed command loses at most the photos in flight, and a re-run records the rest, as without a cluster.

What every worker needs: the same Pelage version and models, the survey folder and the project folder at the
same paths as the machine that runs the command (a shared drive), and the project's database on a server
(PostgreSQL) when the workers are on other machines. Recording from one place costs a few milliseconds a
photo, far below the ~0.4 s a photo costs to analyse, so it is not what limits a cluster.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from distributed import Client, Future, WorkerPlugin, get_worker
from distributed.comm.addressing import resolve_address

from pelage.reid.candidates import CropRow, EmbeddedBatch, embed_batch

if TYPE_CHECKING:
    from pelage.ingest.pipeline import Analysis, Pipeline
    from pelage.reid.embed import Embedder

CONNECT_SECONDS = 20.0


class ClusterError(RuntimeError):
    """The cluster cannot be used; ``str()`` is one line naming the problem and the fix."""


class _LazyModels(WorkerPlugin):
    """A worker plugin holding one process's models, loaded by the first task that needs them.

    Loading takes longer than analysing a photo, so each worker loads once; a plugin is Dask's place for
    per-worker state, and ``factory`` (a picklable recipe such as ``functools.partial(build_pipeline, …)``)
    travels to each worker once, not with every task.
    """

    def __init__(self, name: str, factory: Callable[[], Any]) -> None:
        self.name = name
        self.factory = factory
        self._models: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"name": self.name, "factory": self.factory}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["name"], state["factory"])

    def teardown(self, worker) -> None:
        self._models = None

    def models(self) -> Any:
        with self._lock:
            if self._models is None:
                self._models = self.factory()
            return self._models


def _models_on_this_worker(plugin_name: str) -> Any:
    return get_worker().plugins[plugin_name].models()


def _analyse_on_worker(plugin_name: str, path: str, sha256: str) -> Analysis | Exception:
    """One photo analysed on a worker: its cached files written, the rest sent back (without the mask's pixels,
    which are in the cached mask file and which the recording side does not need)."""
    from pelage.ingest.decode import ImageReadError

    pipeline: Pipeline = _models_on_this_worker(plugin_name)
    try:
        analysis = pipeline.analyse(Path(path), sha256)
    except ImageReadError as exc:
        return exc
    empty = np.zeros((0, 0), np.uint8)
    return replace(analysis, detections=[replace(d, mask=replace(d.mask, mask=empty)) for d in analysis.detections])


def _embed_on_worker(plugin_name: str, artefacts: str, rows: Sequence[CropRow]) -> EmbeddedBatch:
    """One batch of crops embedded on a worker, by the function identify uses without a cluster."""
    return embed_batch(Path(artefacts), _models_on_this_worker(plugin_name), rows)


@dataclass
class RemoteWork:
    """Tasks of one kind sent to the cluster, with the models they need loaded once per worker."""

    client: Client
    plugin_name: str
    slots: int  # how many tasks to keep in flight so no worker waits
    pending: list[Future] = field(default_factory=list)

    def _track(self, future: Future) -> Future:
        self.pending = [f for f in self.pending if not f.done()]
        self.pending.append(future)
        return future

    def close(self) -> None:
        """Cancel what has not run yet (a cancelled import stops here) and unload the models from the workers."""
        if self.pending:
            self.client.cancel(self.pending)
            self.pending = []
        try:
            self.client.unregister_worker_plugin(self.plugin_name)
        except Exception:  # noqa: BLE001 - the workers may be gone; nothing of the user's depends on it
            pass


@dataclass
class PhotoWorkers(RemoteWork):
    """The importer's view of the cluster: hand out a photo, get a future of its analysis."""

    def submit(self, path: Path, sha256: str) -> Future:
        return self._track(self.client.submit(_analyse_on_worker, self.plugin_name, str(path), sha256, pure=False))


@dataclass
class EmbeddingWorkers(RemoteWork):
    """Identify's view of the cluster: hand out a batch of crops, get a future of (ids, vectors, failures)."""

    def submit(self, artefacts: Path, rows: Sequence[CropRow]) -> Future:
        return self._track(self.client.submit(_embed_on_worker, self.plugin_name, str(artefacts), list(rows), pure=False))


@dataclass
class Cluster:
    """A connection to a Dask scheduler that has workers."""

    client: Client
    address: str

    @classmethod
    def connect(cls, address: str, timeout: float = CONNECT_SECONDS) -> Cluster:
        try:
            # A malformed or unknown address is refused before a client exists (one that fails to start complains at exit).
            client = Client(resolve_address(address), timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"Cannot reach the Dask scheduler at {address} ({exc}). Start it with `dask scheduler` "
                               "on that machine and check the address and port.") from None
        cluster = cls(client, address)
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            client.close()
            raise ClusterError(f"The Dask scheduler at {address} has no workers ({type(exc).__name__}). Start some with "
                               f"`dask worker {address}` on the machines that share the survey and project folders.") from None
        return cluster

    def threads(self) -> int:
        """Worker threads across the cluster: how much it can do at once."""
        return max(1, sum(info.get("nthreads", 1) for info in self.client.scheduler_info()["workers"].values()))

    def _load(self, factory: Callable[[], Any], kind: str) -> str:
        name = f"pelage-{kind}-{uuid.uuid4().hex[:8]}"
        self.client.register_plugin(_LazyModels(name, factory), name=name)
        return name

    def photo_workers(self, pipeline_factory: Callable[[], Pipeline]) -> PhotoWorkers:
        return PhotoWorkers(self.client, self._load(pipeline_factory, "import"), slots=2 * self.threads() + 1)

    def embedding_workers(self, embedder_factory: Callable[[], Embedder]) -> EmbeddingWorkers:
        return EmbeddingWorkers(self.client, self._load(embedder_factory, "identify"), slots=2 * self.threads())

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
