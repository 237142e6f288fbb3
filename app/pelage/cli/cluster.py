"""``--cluster ADDRESS``: the commands' way into :mod:`pelage.cluster` (Dask is imported only when asked for)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pelage.cluster import Cluster

cluster_option = click.option(
    "--cluster", "cluster_address", default=None, metavar="ADDRESS",
    help="Run the per-photo work on the workers of this Dask scheduler (tcp://host:8786); see the README's team section.")


class ClusterUnavailable(click.ClickException):
    exit_code = 2


@contextmanager
def connect_cluster(address: str | None) -> Iterator[Cluster | None]:
    """The connected cluster for the command's duration, or None without ``--cluster``; one clear line when it cannot be used."""
    if address is None:
        yield None
        return
    try:
        from pelage.cluster import Cluster, ClusterError
    except ImportError:
        raise ClusterUnavailable("--cluster needs Dask, which is not installed. Install it with "
                                 "`pip install 'pelage[team]'` and run the command again.") from None
    try:
        cluster = Cluster.connect(address)
    except ClusterError as exc:
        raise ClusterUnavailable(str(exc)) from None
    with cluster:
        yield cluster
