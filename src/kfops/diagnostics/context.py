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


def kube_evidence(fetched: Fetched, summary: str, data: object = None) -> Evidence:
    return Evidence(
        source=Source.KUBE,
        query=fetched.query,
        summary=summary,
        observed_at=fetched.observed_at,
        data=data,
    )


def prom_evidence(fetched: Fetched, summary: str, window: str | None = None, data: object = None) -> Evidence:
    return Evidence(
        source=Source.PROMETHEUS,
        query=fetched.query,
        summary=summary,
        observed_at=fetched.observed_at,
        window=window,
        data=data,
    )


def failure_evidence(error: ReaderError, now: datetime, source: Source = Source.KUBE) -> Evidence:
    """Evidence of a read that failed, with the upstream message kept whole."""
    if error.resource == "prometheus":
        source = Source.PROMETHEUS
    elif error.resource == "galera":
        source = Source.GALERA
    elif error.resource == "kfp":
        source = Source.KFP
    return Evidence(source=source, query=error.query, summary=error.headline, observed_at=now)


def kfp_evidence(fetched: Fetched, summary: str, data: object = None) -> Evidence:
    return Evidence(
        source=Source.KFP,
        query=fetched.query,
        summary=summary,
        observed_at=fetched.observed_at,
        data=data,
    )


def galera_evidence(fetched: Fetched, summary: str, data: object = None) -> Evidence:
    return Evidence(
        source=Source.GALERA,
        query=fetched.query,
        summary=summary,
        observed_at=fetched.observed_at,
        data=data,
    )
