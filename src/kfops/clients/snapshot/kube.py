"""KubeReader over a snapshot directory."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from kfops.clients.errors import Forbidden, NotFound, ReaderError, ReadTimeout, Unreachable
from kfops.clients.protocols import Fetched, list_query, log_query
from kfops.clients.resources import ResourceRef
from kfops.clients.selectors import (
    SelectorError,
    dig,
    field_terms,
    field_value_matches,
    label_matcher,
)
from kfops.clients.snapshot.store import INDEXED_FIELDS, Entry, SnapshotStore

FAULT_ERRORS: dict[str, type[ReaderError]] = {
    "forbidden": Forbidden,
    "timeout": ReadTimeout,
    "unreachable": Unreachable,
    #: a list of a kind the API does not serve (its CRD is not installed)
    "not-found": NotFound,
}


class SnapshotKubeReader:
    """Answers reads from a loaded snapshot, as the API server would have at capture time."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    @classmethod
    def open(cls, root: Path) -> SnapshotKubeReader:
        return cls(SnapshotStore.load(root))

    def describe(self) -> str:
        meta = self.store.meta
        cluster = f" of cluster {meta.cluster}" if meta.cluster else ""
        return f"snapshot {self.store.root}{cluster} captured {meta.captured_at:%Y-%m-%dT%H:%M:%SZ}"

    def now(self) -> datetime:
        return self.store.meta.captured_at

    def _replay_faults(self, verb: str, ref_name: str, namespace: str | None, query: str) -> None:
        for fault in self.store.meta.faults:
            if fault.matches(verb, ref_name, namespace):
                if fault.delay_s:
                    time.sleep(fault.delay_s)
                error = FAULT_ERRORS.get(fault.error)
                if error:
                    raise error(query, fault.message or fault.error, verb=verb, resource=ref_name)

    def get(self, ref: ResourceRef, name: str, namespace: str | None = None) -> Fetched:
        query = "GET " + ref.path(namespace, name)
        self._replay_faults("get", ref.qualified, namespace, query)
        for entry in self.store.entries(ref.group, ref.kind):
            if entry.name == name and (not ref.namespaced or entry.namespace == (namespace or "")):
                return Fetched(entry.obj, query, self.now(), nbytes=entry.nbytes)
        raise NotFound(query, f'{ref.qualified} "{name}" not found', verb="get", resource=ref.qualified)

    def list(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Fetched:
        query = list_query(ref, namespace, label_selector, field_selector)
        self._replay_faults("list", ref.qualified, namespace, query)
        try:
            labels_ok = label_matcher(label_selector)
            terms = field_terms(field_selector)
        except SelectorError as exc:
            raise ReaderError(query, str(exc), verb="list", resource=ref.qualified) from exc
        items, nbytes = [], 0
        for entry in self._candidates(ref, terms):
            if namespace and entry.namespace != namespace:
                continue
            if labels_ok(entry.labels) and _match_fields(entry, terms):
                items.append(entry.obj)
                nbytes += entry.nbytes
        return Fetched(items, query, self.now(), nbytes=nbytes)

    def _candidates(self, ref: ResourceRef, terms: Sequence[tuple[str, bool, str]]) -> Sequence[Entry]:
        """Use an index for the first equality term on an indexed field, else scan the kind."""
        for path, equal, value in terms:
            if equal and path in INDEXED_FIELDS:
                return self.store.indexed(ref.group, ref.kind, path, value)
        return self.store.entries(ref.group, ref.kind)

    def pod_log(
        self, namespace: str, pod: str, container: str, previous: bool = False, tail_lines: int = 50
    ) -> Fetched:
        query = log_query(namespace, pod, container, previous, tail_lines)
        self._replay_faults("log", "pods/log", namespace, query)
        logs = self.store.logs
        path = logs.get((namespace, pod, container, previous))
        if path is None and not previous:
            path = logs.get((namespace, pod, "*", False))
        if path is None:
            which = "previous terminated container" if previous else "container"
            raise NotFound(
                query,
                f'{which} "{container}" in pod "{pod}" has no log in the snapshot',
                verb="get",
                resource="pods/log",
            )
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()[-tail_lines:] if tail_lines > 0 else text.splitlines()
        return Fetched("\n".join(lines), query, self.now(), nbytes=len(text))


def _match_fields(entry: Entry, terms: list[tuple[str, bool, str]]) -> bool:
    for path, equal, value in terms:
        # The index records these fields whenever the object has them.
        actual: Any = entry.fields.get(path) if path in INDEXED_FIELDS else dig(entry.obj, path)
        if not field_value_matches(actual, equal, value):
            return False
    return True
