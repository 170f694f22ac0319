"""Loading a snapshot directory (format version 1, see docs/snapshots.md).

Objects are kept decoded, once, and shared by every read: probes only read them. Equality
selectors on common fields (`spec.nodeName=…`, `involvedObject.name=…`) are answered from lazy
per-field indexes, so a ladder's reads cost the same on a 30,000-pod snapshot as on a small one.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from kfops.clients.errors import SnapshotError

META_FILE = "kfops-snapshot.yaml"
#: Top-level folders that hold other sources, not Kubernetes objects.
NON_OBJECT_DIRS = {"logs", "prometheus", "galera", "kfp"}
#: Fields kept decoded for selectors; any other field selector decodes the object.
INDEXED_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "status.phase",
    "involvedObject.kind",
    "involvedObject.name",
    "involvedObject.namespace",
)

_INDEX_PATHS = tuple((dotted, tuple(dotted.split("."))) for dotted in INDEXED_FIELDS)

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """A safe YAML loader that keeps timestamps as the strings the API server wrote."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Fault:
    """A read that failed when the snapshot was captured, replayed as the same failure."""

    verb: str
    resource: str
    error: str  # forbidden | timeout | unreachable | none (delay only)
    message: str
    namespace: str | None = None
    delay_s: float = 0.0

    def matches(self, verb: str, resource: str, namespace: str | None) -> bool:
        return (
            self.verb == verb
            and self.resource == resource
            and (not self.namespace or self.namespace == namespace)
        )


@dataclass(frozen=True)
class SnapshotMeta:
    captured_at: datetime
    captured_at_source: str  # "capturedAt" or "newest file time"
    cluster: str = ""
    kfops_version: str = ""
    description: str = ""
    faults: tuple[Fault, ...] = ()


@dataclass(frozen=True)
class Entry:
    namespace: str
    name: str
    labels: dict[str, str]
    fields: dict[str, str]
    obj: dict[str, Any]  # shared between reads: never mutate
    nbytes: int  # the object's share of its file, for request accounting


@dataclass
class SnapshotStore:
    root: Path
    meta: SnapshotMeta
    objects: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)
    logs: dict[tuple[str, str, str, bool], Path] = field(default_factory=dict)
    _indexes: dict[tuple[str, str, str], dict[str, list[Entry]]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> SnapshotStore:
        if not root.is_dir():
            raise SnapshotError(f"snapshot directory {root} does not exist or is not a directory")
        objects: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        newest = 0.0
        count = 0
        for path in _object_files(root):
            stat = path.stat()
            newest = max(newest, stat.st_mtime)
            items = [item for obj in _documents(path) for item in _flatten(obj, path)]
            share = stat.st_size // max(1, len(items))
            for item in items:
                key, entry = _entry(item, path, share)
                objects[key].append(entry)
                count += 1
        for entries in objects.values():
            entries.sort(key=lambda e: (e.namespace, e.name))
        meta = _meta(root, newest)
        if count == 0 and not (root / META_FILE).exists():
            raise SnapshotError(
                f"{root} holds no Kubernetes objects and no {META_FILE}: is it a snapshot directory?"
            )
        return cls(root=root, meta=meta, objects=dict(objects), logs=_logs(root))

    def entries(self, group: str, kind: str) -> list[Entry]:
        return self.objects.get((group, kind), [])

    def indexed(self, group: str, kind: str, path: str, value: str) -> list[Entry]:
        """Entries whose indexed field `path` equals `value`; the index is built on first use."""
        key = (group, kind, path)
        index = self._indexes.get(key)
        if index is None:
            index = defaultdict(list)
            for entry in self.entries(group, kind):
                index[entry.fields.get(path, "")].append(entry)
            self._indexes[key] = index
        return index.get(value, [])


def _object_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d not in NON_OBJECT_DIRS]
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith("kfops-"):
                continue
            if name.endswith((".yaml", ".yml", ".json")):
                yield here / name


def _documents(path: Path) -> Iterator[Any]:
    try:
        if path.suffix == ".json":
            yield orjson.loads(path.read_bytes())
        else:
            text = path.read_text(encoding="utf-8")
            yield from (d for d in yaml.load_all(text, Loader=_Loader) if d is not None)
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"cannot read {path}: {exc}") from exc
    except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
        raise SnapshotError(f"{path} is not valid YAML/JSON: {exc}") from exc


def _flatten(obj: Any, path: Path) -> Iterator[dict[str, Any]]:
    """Yield the objects of a single object or a List (`kind: List` or `…List` with items)."""
    if not isinstance(obj, dict):
        raise SnapshotError(f"{path}: expected a Kubernetes object or List, got {type(obj).__name__}")
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in obj:
        item_kind = None if kind == "List" else kind[: -len("List")]
        for item in obj.get("items") or []:
            if not isinstance(item, dict):
                raise SnapshotError(f"{path}: a List item is not an object")
            # `kubectl cluster-info dump` writes typed lists whose items lack kind/apiVersion.
            if item_kind and "kind" not in item:
                item = {**item, "kind": item_kind, "apiVersion": obj.get("apiVersion", "v1")}
            yield item
        return
    yield obj


def _entry(obj: dict[str, Any], path: Path, nbytes: int) -> tuple[tuple[str, str], Entry]:
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not (isinstance(kind, str) and isinstance(api_version, str) and isinstance(name, str)):
        raise SnapshotError(
            f"{path}: every object needs apiVersion, kind and metadata.name "
            f"(found kind={kind!r}, apiVersion={api_version!r}, name={name!r})"
        )
    group = api_version.rpartition("/")[0]
    fields = {}
    for dotted, (top, leaf) in _INDEX_PATHS:
        section = obj.get(top)
        value = section.get(leaf) if isinstance(section, dict) else None
        if value is not None:
            fields[dotted] = str(value)
    entry = Entry(
        namespace=str(metadata.get("namespace") or ""),
        name=name,
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        fields=fields,
        obj=obj,
        nbytes=nbytes,
    )
    return (group, kind), entry


def _meta(root: Path, newest_mtime: float) -> SnapshotMeta:
    path = root / META_FILE
    data: dict[str, Any] = {}
    if path.exists():
        docs = list(_documents(path))
        data = docs[0] if docs and isinstance(docs[0], dict) else {}
    captured = data.get("capturedAt")
    if captured:
        try:
            captured_at = datetime.fromisoformat(str(captured).replace("Z", "+00:00"))
        except ValueError as exc:
            raise SnapshotError(f"{path}: capturedAt {captured!r} is not RFC 3339") from exc
        if captured_at.tzinfo is None:
            captured_at = captured_at.replace(tzinfo=UTC)
        source = "capturedAt"
    else:
        captured_at = datetime.fromtimestamp(newest_mtime or 0, tz=UTC)
        source = "newest file time"
    faults = []
    for raw in data.get("faults") or []:
        try:
            faults.append(
                Fault(
                    verb=str(raw["verb"]),
                    resource=str(raw["resource"]),
                    error=str(raw.get("error", "none")),
                    message=str(raw.get("message", "")),
                    namespace=raw.get("namespace") or None,
                    delay_s=float(raw.get("delaySeconds", 0)),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"{path}: malformed fault entry {raw!r}: {exc}") from exc
    return SnapshotMeta(
        captured_at=captured_at.astimezone(UTC),
        captured_at_source=source,
        cluster=str(data.get("cluster", "")),
        kfops_version=str(data.get("kfopsVersion", "")),
        description=str(data.get("description", "")),
        faults=tuple(faults),
    )


def _logs(root: Path) -> dict[tuple[str, str, str, bool], Path]:
    """Index container logs: logs/<ns>/<pod>/<container>[.previous].log, and dump-style logs.txt."""
    found: dict[tuple[str, str, str, bool], Path] = {}
    logs_dir = root / "logs"
    if logs_dir.is_dir():
        for path in logs_dir.glob("*/*/*.log"):
            namespace, pod = path.parent.parent.name, path.parent.name
            name = path.name[: -len(".log")]
            previous = name.endswith(".previous")
            container = name[: -len(".previous")] if previous else name
            found[(namespace, pod, container, previous)] = path
    # `kubectl cluster-info dump`: <ns>/<pod>/logs.txt (any container) or <ns>/<pod>/<c>/logs.txt
    for path in root.glob("*/*/logs.txt"):
        found.setdefault((path.parent.parent.name, path.parent.name, "*", False), path)
    for path in root.glob("*/*/*/logs.txt"):
        ns, pod, container = (
            path.parent.parent.parent.name,
            path.parent.parent.name,
            path.parent.name,
        )
        found.setdefault((ns, pod, container, False), path)
    return found
