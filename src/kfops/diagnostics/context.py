"""What a probe sees: the readers of one diagnosis, its target and its notion of now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kfops.clients.errors import ReaderError
from kfops.clients.protocols import Fetched, GaleraReader, KfpReader, KubeReader, PromReader
from kfops.model import Evidence, Source
from kfops.settings import Settings


class TargetNotFound(Exception):
    """The named target does not exist: a usage error, reported in one sentence."""


@dataclass(frozen=True)
class ProbeContext:
    kube: KubeReader
    target: str
    now: datetime
    settings: Settings
    prom: PromReader | None = None  # None: no Prometheus configured (or recorded in the snapshot)
    galera: GaleraReader | None = None  # None: no Galera nodes configured (or recorded)
    kfp: KfpReader | None = None  # None: no KFP API URL configured (or recorded)


def _evidence(
    source: Source, fetched: Fetched, summary: str, data: object, window: str | None = None
) -> Evidence:
    return Evidence(
        source=source,
        query=fetched.query,
        summary=summary,
        observed_at=fetched.observed_at,
        window=window,
        data=data,
    )


def kube_evidence(fetched: Fetched, summary: str, data: object = None) -> Evidence:
    return _evidence(Source.KUBE, fetched, summary, data)


def prom_evidence(fetched: Fetched, summary: str, window: str | None = None, data: object = None) -> Evidence:
    return _evidence(Source.PROMETHEUS, fetched, summary, data, window)


def kfp_evidence(fetched: Fetched, summary: str, data: object = None) -> Evidence:
    return _evidence(Source.KFP, fetched, summary, data)


def galera_evidence(fetched: Fetched, summary: str, data: object = None) -> Evidence:
    return _evidence(Source.GALERA, fetched, summary, data)


#: the source of a failed read, by the reader's `resource` name (anything else is Kubernetes)
_SOURCE_OF = {"prometheus": Source.PROMETHEUS, "galera": Source.GALERA, "kfp": Source.KFP}


def failure_evidence(error: ReaderError, now: datetime, source: Source = Source.KUBE) -> Evidence:
    """Evidence of a read that failed, with the upstream message kept whole."""
    source = _SOURCE_OF.get(error.resource, source)
    return Evidence(source=source, query=error.query, summary=error.headline, observed_at=now)
