"""Recording readers: what a live diagnosis read, kept to be written as a snapshot (`kfops capture`).

Wrapping the live readers means a capture holds exactly what the ladders need: every object a
get or list returned, every log read, every Prometheus, Galera and KFP answer, and every read that
failed (as a snapshot fault, so the replay fails the same way). Secret objects are never kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kfops.clients.errors import Forbidden, NotFound, ReaderError, ReadTimeout, Unreachable
from kfops.clients.galera.faults import fault_name
from kfops.clients.galera.queries import Query, Shape
from kfops.clients.protocols import Fetched, GaleraReader, KfpReader, KubeReader, PromReader, Sample
from kfops.clients.resources import ResourceRef

#: failures kept as faults; a 404 only on a list, where it means the kind is not served (a CRD
#: not installed) — a missing object is simply absent from the snapshot
_FAULT_KIND = {
    Forbidden: "forbidden",
    ReadTimeout: "timeout",
    Unreachable: "unreachable",
    NotFound: "not-found",
}


@dataclass
class Recording:
    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    logs: dict[tuple[str, str, str, bool], str] = field(default_factory=dict)
    prometheus: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    faults: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)
    #: node address → the node file of galera/ (docs/snapshots.md)
    galera: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: run id → the API's answer, or {fault: {error, message}} for a read that failed (kfp/runs/);
    #: when every call failed, kfp/api.yaml keeps the fault as the API's own
    kfp_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, obj: dict[str, Any]) -> None:
        if obj.get("kind") == "Secret":
            return  # never captured, whoever asked
        meta = obj.get("metadata") or {}
        key = (
            str(obj.get("apiVersion")),
            str(obj.get("kind")),
            str(meta.get("namespace", "")),
            str(meta.get("name")),
        )
        with self.lock:
            self.objects[key] = obj

    def fault(self, verb: str, resource: str, namespace: str | None, error: ReaderError) -> None:
        kind = next((name for cls, name in _FAULT_KIND.items() if isinstance(error, cls)), None)
        if kind is None or (kind == "not-found" and verb != "list"):
            return  # other failures (404, 400) are not a property of the cluster's access
        with self.lock:
            self.faults[(verb, resource, namespace or "")] = {
                "verb": verb,
                "resource": resource,
                **({"namespace": namespace} if namespace else {}),
                "error": kind,
                "message": error.message,
            }


class RecordingKubeReader:
    def __init__(self, inner: KubeReader, recording: Recording) -> None:
        self._inner = inner
        self.recording = recording

    def describe(self) -> str:
        return self._inner.describe()

    def now(self) -> datetime:
        return self._inner.now()

    def get(self, ref: ResourceRef, name: str, namespace: str | None = None) -> Fetched:
        try:
            fetched = self._inner.get(ref, name, namespace)
        except NotFound:
            raise
        except ReaderError as exc:
            self.recording.fault("get", ref.qualified, namespace, exc)
            raise
        self.recording.keep({"apiVersion": ref.api_version, "kind": ref.kind, **fetched.value})
        return fetched

    def list(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Fetched:
        try:
            fetched = self._inner.list(ref, namespace, label_selector, field_selector)
        except ReaderError as exc:
            self.recording.fault("list", ref.qualified, namespace, exc)
            raise
        for item in fetched.value:
            self.recording.keep(item)
        return fetched

    def pod_log(
        self, namespace: str, pod: str, container: str, previous: bool = False, tail_lines: int = 50
    ) -> Fetched:
        try:
            fetched = self._inner.pod_log(namespace, pod, container, previous, tail_lines)
        except NotFound:
            raise
        except ReaderError as exc:
            self.recording.fault("log", "pods/log", namespace, exc)
            raise
        key = (namespace, pod, container, previous)
        with self.recording.lock:
            if len(str(fetched.value)) >= len(self.recording.logs.get(key, "")):
                self.recording.logs[key] = str(fetched.value)
        return fetched


def _vector(samples: list[Sample], at: float) -> list[dict[str, Any]]:
    return [{"metric": s.labels, "value": [at, repr(s.value)]} for s in samples]


class RecordingPromReader:
    def __init__(self, inner: PromReader, recording: Recording) -> None:
        self._inner = inner
        self.recording = recording

    def describe(self) -> str:
        return self._inner.describe()

    def query(self, promql: str) -> Fetched:
        try:
            fetched = self._inner.query(promql)
        except ReaderError as exc:
            self.recording.fault("query", "prometheus", None, exc)
            raise
        with self.recording.lock:
            self.recording.prometheus[("instant", promql)] = _vector(
                fetched.value, fetched.observed_at.timestamp()
            )
        return fetched

    def query_range(self, promql: str, minutes: float, step_s: float) -> Fetched:
        try:
            fetched = self._inner.query_range(promql, minutes, step_s)
        except ReaderError as exc:
            self.recording.fault("query", "prometheus", None, exc)
            raise
        matrix = [{"metric": s.labels, "values": [[t, repr(v)] for t, v in s.points]} for s in fetched.value]
        with self.recording.lock:
            self.recording.prometheus[("range", promql)] = matrix
        return fetched


class RecordingGaleraReader:
    """Keeps every Galera answer (and failure) in the node files' shape."""

    def __init__(self, inner: GaleraReader, recording: Recording) -> None:
        self._inner = inner
        self.recording = recording
        for address in inner.nodes():
            recording.galera.setdefault(address, {"address": address, "queries": {}, "schemas": {}})

    def describe(self) -> str:
        return self._inner.describe()

    def nodes(self) -> tuple[str, ...]:
        return self._inner.nodes()

    def expected_size(self) -> int:
        return self._inner.expected_size()

    def query(self, node: str, query: Query, schemas: tuple[str, ...] = ()) -> Fetched:
        answers = self.recording.galera[node]["queries"]
        try:
            fetched = self._inner.query(node, query, schemas)
        except ReaderError as exc:
            self._fault(node, answers, query.name, exc)
            raise
        with self.recording.lock:
            if query.shape is Shape.ROWS and isinstance(answers.get(query.name), list):
                kept = answers[query.name]
                kept.extend(r for r in fetched.value if r not in kept)
            else:
                answers[query.name] = fetched.value
        return fetched

    def query_in(self, node: str, schema: str, query: Query) -> Fetched:
        with self.recording.lock:
            answers = self.recording.galera[node]["schemas"].setdefault(schema, {})
        try:
            fetched = self._inner.query_in(node, schema, query)
        except ReaderError as exc:
            self._fault(node, answers, query.name, exc)
            raise
        with self.recording.lock:
            answers[query.name] = fetched.value
        return fetched

    def _fault(self, node: str, answers: dict[str, Any], name: str, error: ReaderError) -> None:
        fault = {"fault": {"error": fault_name(error), "message": error.message}}
        with self.recording.lock:
            if error.verb == "connect":
                self.recording.galera[node].update(fault)
            else:
                answers[name] = fault


class RecordingKfpReader:
    """Keeps every KFP run answer, and every failed call, in the shape of ``kfp/`` (snapshot/kfp.py).

    A 404 is not recorded: the replay answers 404 for any run without a file, as the API does.
    """

    def __init__(self, inner: KfpReader, recording: Recording) -> None:
        self._inner = inner
        self.recording = recording

    def describe(self) -> str:
        return self._inner.describe()

    def get_run(self, run_id: str) -> Fetched:
        try:
            fetched = self._inner.get_run(run_id)
        except NotFound:
            raise
        except ReaderError as exc:
            fault = {"error": fault_name(exc), "message": exc.message}
            with self.recording.lock:
                self.recording.kfp_runs[run_id] = {"fault": fault}
            raise
        with self.recording.lock:
            self.recording.kfp_runs[run_id] = fetched.value
        return fetched
