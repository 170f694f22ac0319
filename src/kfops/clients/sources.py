"""Opening the Prometheus, Galera and KFP sources a diagnosis should use, the same way everywhere
(and the Galera and KFP writers, for the playbooks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kfops.clients.errors import ConfigurationError
from kfops.clients.galera.address import normalise, split_addresses
from kfops.clients.protocols import (
    GaleraReader,
    GaleraWriter,
    KfpReader,
    KfpWriter,
    KubeReader,
    PromReader,
)
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


def open_galera(
    settings: Settings, kube: KubeReader | None, nodes: tuple[str, ...] = ()
) -> GaleraReader | None:
    """The Galera cluster a diagnosis should read, the same way for the CLI, capture and the bot.

    A snapshot's recorded answers when the cluster is a snapshot; else live nodes from `nodes`
    (``--galera-node``), settings.galera_nodes, or discovered from settings.galera_mariadb; else
    None (the Galera rungs then say nothing is configured). Credentials come from settings
    (KFOPS_GALERA_USER / KFOPS_GALERA_PASSWORD) or the Secret settings.galera_secret names.
    Raises ConfigurationError with one actionable sentence when that is impossible.
    """
    from kfops.clients.snapshot.kube import SnapshotKubeReader

    if isinstance(kube, SnapshotKubeReader):
        from kfops.clients.snapshot.galera import SnapshotGaleraReader

        return SnapshotGaleraReader.open(kube.store)
    from kfops.clients.galera.discovery import credentials, discover

    try:
        addresses = tuple(normalise(n) for n in nodes) or split_addresses(settings.galera_nodes)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    expected = settings.galera_expected_size
    if not addresses and settings.galera_mariadb:
        if kube is None:
            raise ConfigurationError(
                "settings.galera_mariadb needs a Kubernetes connection to discover nodes"
            )
        addresses, discovered = discover(kube, settings.galera_mariadb, settings.galera_port)
        expected = expected or discovered
    if not addresses:
        return None
    user, password = credentials(settings, kube)
    from kfops.clients.live.galera import LiveGaleraReader

    return LiveGaleraReader(
        addresses,
        user,
        password,
        expected_size=expected,
        connect_timeout_s=settings.galera_connect_timeout_s,
        read_timeout_s=settings.galera_read_timeout_s,
    )


@contextmanager
def open_galera_writer(
    settings: Settings, node: str, kube: KubeReader | None = None
) -> Iterator[GaleraWriter]:
    """The one database writer (``galera.kill-query``), for one node, as the admin user; closed after.

    The admin credentials come only from settings (KFOPS_GALERA_ADMIN_USER /
    KFOPS_GALERA_ADMIN_PASSWORD), never from the read-only user or its Secret. `node` must be one
    of the nodes kfops is configured for (settings.galera_nodes, or discovered from
    settings.galera_mariadb through `kube`), so an address taken from a proposal can never make
    kfops send the admin password elsewhere. Raises ConfigurationError with one actionable sentence.
    """
    from kfops.clients.snapshot.kube import SnapshotKubeReader

    if isinstance(kube, SnapshotKubeReader):
        raise ConfigurationError("a snapshot is not a live cluster: kfops ends database sessions only live")
    if not settings.galera_admin_user:
        raise ConfigurationError(
            "no Galera admin credentials: set KFOPS_GALERA_ADMIN_USER and KFOPS_GALERA_ADMIN_PASSWORD "
            "(a user with PROCESS and CONNECTION ADMIN) to let kfops end a blocking session"
        )
    try:
        address = normalise(node)
        known = split_addresses(settings.galera_nodes)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    if not known and settings.galera_mariadb and kube is not None:
        from kfops.clients.galera.discovery import discover

        known, _ = discover(kube, settings.galera_mariadb, settings.galera_port)
    if address not in known:
        listed = ", ".join(known) or "none: set KFOPS_GALERA_NODES or settings.galera_mariadb"
        raise ConfigurationError(
            f"{address} is not one of the Galera nodes kfops is configured for ({listed}); "
            "kfops sends the admin credentials only to those"
        )
    from kfops.clients.live.galera_writer import LiveGaleraWriter

    writer = LiveGaleraWriter(
        (address,),
        settings.galera_admin_user,
        settings.galera_admin_password,
        connect_timeout_s=settings.galera_connect_timeout_s,
    )
    try:
        yield writer
    finally:
        writer.close()


def open_kfp(settings: Settings, kube: KubeReader | None, url: str | None = None) -> KfpReader | None:
    """The KFP API a diagnosis should ask, the same way for the CLI, capture and the bot.

    A snapshot's recorded answers (``kfp/``) when the cluster is a snapshot, or None when it
    recorded none; else the live API at `url` (``--kfp-url``) or settings.kfp_url; else None (the
    ``kfp-run`` rung then says the API was not asked). Raises ConfigurationError for a URL that
    is not http(s) or a CA file that does not exist.
    """
    from kfops.clients.snapshot.kube import SnapshotKubeReader

    if isinstance(kube, SnapshotKubeReader):
        from kfops.clients.snapshot.kfp import SnapshotKfpReader

        return SnapshotKfpReader.open(kube.store)
    url = url or settings.kfp_url
    if not url:
        return None
    from kfops.clients.live.kfp import LiveKfpReader

    return LiveKfpReader.from_settings(settings, url)


def open_kfp_writer(settings: Settings, kube: KubeReader | None, url: str | None = None) -> KfpWriter:
    """The KFP API the playbooks terminate and retry runs through (``kfp.terminate-run``,
    ``kfp.retry-run``), with the same URL and credentials as the reader.

    Raises ConfigurationError with one actionable sentence when the cluster is a snapshot or no
    URL is configured.
    """
    from kfops.clients.snapshot.kube import SnapshotKubeReader

    if isinstance(kube, SnapshotKubeReader):
        raise ConfigurationError(
            "a snapshot is not a live cluster: kfops terminates or retries KFP runs only live"
        )
    url = url or settings.kfp_url
    if not url:
        raise ConfigurationError(
            "no KFP API URL: set KFOPS_KFP_URL (e.g. http://ml-pipeline.kubeflow.svc:8888) to let kfops "
            "terminate or retry pipeline runs"
        )
    from kfops.clients.live.kfp_writer import LiveKfpWriter

    return LiveKfpWriter.from_settings(settings, url)
