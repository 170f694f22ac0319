"""Opening the Prometheus source a diagnosis should use, the same way for the CLI and the bot."""

from __future__ import annotations

from kfops.clients.protocols import KubeReader, PromReader
from kfops.settings import Settings


def open_prometheus(settings: Settings, kube: KubeReader | None, url: str | None = None) -> PromReader | None:
    """A snapshot's recorded answers when the cluster is a snapshot; else a live Prometheus at `url`
    or settings.prometheus_url; else None (the Prometheus rungs then say they were skipped)."""
    from kfops.clients.snapshot.kube import SnapshotKubeReader

    if isinstance(kube, SnapshotKubeReader):
        from kfops.clients.snapshot.prometheus import SnapshotPromReader

        return SnapshotPromReader.open(kube.store)
    url = url or settings.prometheus_url
    if not url:
        return None
    from kfops.clients.live.prometheus import LivePromReader

    return LivePromReader(
        url,
        token=settings.prometheus_token,
        username=settings.prometheus_username,
        password=settings.prometheus_password,
        ca_file=settings.prometheus_ca_file,
    )
