"""Argo Workflows as KFP runs them: phase, nodes, retries, and when anything last moved.

A KFP run is one Workflow (label ``pipeline/runid=<run UUID>``), in the user's profile
namespace in multi-user mode. Its ``status.nodes`` map is the controller's own account of every
step: a ``Pod`` node per container attempt, a ``Retry`` node whose children are the attempts of
a step with a retryStrategy, ``DAG`` nodes for the pipeline and its sub-DAGs.

Argo keeps that map somewhere else in two cases (checked against argoproj/argo-workflows:
``pkg/apis/workflow/v1alpha1/workflow_types.go`` for the two fields, ``workflow/packer/packer.go``
and ``util/file/fileutil.go`` for the encoding, ``workflow/hydrator/hydrator.go`` for the order):

- ``status.compressedNodes``: when the Workflow's JSON outgrows ``MAX_WORKFLOW_SIZE`` (1 MiB by
  default) the controller JSON-encodes the nodes map, gzips it, base64-encodes it (standard
  alphabet, padded) into this string and drops ``status.nodes``; it is only ever read when
  ``status.nodes`` is empty. kfops decodes it the same way, so such a run diagnoses like any other.
- ``status.offloadNodeStatusVersion``: with ``persistence.nodeStatusOffLoad: true`` (or
  ``ALWAYS_OFFLOAD_NODE_STATUS``) a Workflow still too large after compression has its nodes saved
  in Argo's database under this version, and ``nodes`` and ``compressedNodes`` are left empty. The
  database wins over anything in the object. kfops reads only the API object, so it cannot see
  the steps: ``Workflow.node_status`` says so, and the ladder answers NO_DATA instead of guessing.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from kfops.diagnostics.kube.timefmt import parse_time

RUN_ID_LABEL = "pipeline/runid"
PERSISTED_LABEL = "pipeline/persistedFinalState"
RUN_NAME_ANNOTATION = "pipelines.kubeflow.org/run_name"
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
NODE_ID_ANNOTATION = "workflows.argoproj.io/node-id"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

ATTEMPT = re.compile(r"\(\d+\)$")  # "….executor(1)": the second attempt of a retried step
FINISHED_WORKFLOW = frozenset({"Succeeded", "Failed", "Error"})
FINISHED_NODE = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})
FAILED_NODE = frozenset({"Failed", "Error"})

#: Where a Workflow's node status came from: ``inline`` (status.nodes, or nothing yet),
#: ``compressed`` (status.compressedNodes, decoded), ``offloaded`` (in Argo's persistence
#: database: not in the API object), ``undecodable`` (compressedNodes that is not base64 + gzip +
#: a JSON nodes map, or too large).
NodeStatus = Literal["inline", "compressed", "offloaded", "undecodable"]

#: The most status.compressedNodes may expand to. Argo compresses only to get the Workflow under
#: MAX_WORKFLOW_SIZE (1 MiB by default; etcd refuses objects over 1.5 MiB anyway), and a nodes
#: map's JSON gzips about 10-30:1, so a real one decompresses to a few tens of MiB at most. DEFLATE
#: can expand about 1000:1, so a corrupt or hostile 1.5 MiB string could claim over a GiB of
#: kfops' memory (the bot's pod has a memory limit): past this cap the nodes are "undecodable".
MAX_DECOMPRESSED_NODES = 64 * 1024 * 1024


def is_run_id(target: str) -> bool:
    return bool(UUID.match(target))


@dataclass(frozen=True)
class WorkflowNode:
    id: str
    name: str
    display_name: str
    type: str  # Pod, Retry, DAG, Steps, Container, Suspend …
    template: str
    phase: str
    message: str
    started: datetime | None
    finished: datetime | None
    children: tuple[str, ...]
    exit_code: str  # outputs.exitCode, "" when not reported

    @property
    def step(self) -> str:
        """The pipeline task a node belongs to, as a human names it.

        KFP v2 node names are dotted paths ("wf.root.train.executor", "wf.root.train-driver"):
        the task is the segment before "executor", or the driver's segment without "-driver".
        """
        parts = ATTEMPT.sub("", self.name).split(".")
        if len(parts) > 1 and parts[-1] in ("executor", "main"):
            return parts[-2]
        last = parts[-1]
        if last.endswith("-driver"):
            return last.removesuffix("-driver")
        return self.display_name or last

    @property
    def finished_phase(self) -> bool:
        return self.phase in FINISHED_NODE

    def describe(self) -> str:
        return (
            f"step {self.step} ({self.type} {self.display_name or self.id}, {self.template or 'no template'})"
        )


@dataclass(frozen=True)
class Workflow:
    namespace: str
    name: str
    uid: str
    phase: str
    message: str
    started: datetime | None
    finished: datetime | None
    created: datetime | None
    progress: str
    labels: dict[str, str]
    annotations: dict[str, str]
    nodes: dict[str, WorkflowNode]
    task_results: dict[str, bool]
    retry_limits: dict[str, int | None]  # template → retryStrategy.limit (None: no limit given)
    memory_limits: dict[str, str] = field(default_factory=dict)  # template → main container limit
    node_status: NodeStatus = "inline"
    #: offloaded: status.offloadNodeStatusVersion; undecodable: why compressedNodes was refused
    node_status_detail: str = ""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def nodes_known(self) -> bool:
        """The API object holds the node status (inline or compressed): ``nodes`` is the truth."""
        return self.node_status in ("inline", "compressed")

    def node_status_gap(self) -> str:
        """Why the steps cannot be seen and where to look instead; "" when they can."""
        look = f"open the run in the Argo UI or `argo get {self.ref}`"
        if self.node_status == "offloaded":
            return (
                "node status is offloaded to Argo's persistence database (offloadNodeStatusVersion "
                f"{self.node_status_detail}); kfops reads only the API object — {look}"
            )
        if self.node_status == "undecodable":
            return (
                f"status.compressedNodes could not be decoded ({self.node_status_detail}), so kfops "
                f"cannot see the steps — {look}, or `kubectl get workflow -n {self.namespace} "
                f"{self.name} -o yaml`"
            )
        return ""

    @property
    def run_id(self) -> str:
        return self.labels.get(RUN_ID_LABEL, "")

    @property
    def run_name(self) -> str:
        return self.annotations.get(RUN_NAME_ANNOTATION, "")

    @property
    def finished_phase(self) -> bool:
        return self.phase in FINISHED_WORKFLOW

    @property
    def persisted(self) -> bool:
        """The persistence agent stored the final state in KFP's database."""
        return self.labels.get(PERSISTED_LABEL, "") == "true"

    def pod_nodes(self) -> tuple[WorkflowNode, ...]:
        return tuple(n for n in self.nodes.values() if n.type == "Pod")

    def failed_pod_nodes(self) -> tuple[WorkflowNode, ...]:
        """The Pod nodes that failed (Failed or Error), newest first: the steps a failed run names."""
        failed = [n for n in self.pod_nodes() if n.phase in FAILED_NODE]
        return tuple(
            sorted(
                failed,
                key=lambda n: n.finished or n.started or datetime.min.replace(tzinfo=UTC),
                reverse=True,
            )
        )

    def active_pod_nodes(self) -> tuple[WorkflowNode, ...]:
        return tuple(n for n in self.pod_nodes() if n.phase in ("Pending", "Running"))

    def last_progress(self) -> datetime | None:
        """The newest start or finish of any node: when the Workflow last moved."""
        times = [t for n in self.nodes.values() for t in (n.started, n.finished) if t is not None]
        return max(times, default=self.started or self.created)

    def stuck(self, now: datetime, after_min: float) -> bool:
        """Unfinished, nothing moved for `after_min`, and no step pod running: nothing is working
        on it (the KfopsPipelineRunsStalled alert's definition). A long step that runs is not stuck.

        Without its node status (offloaded, undecodable) nothing says whether a step runs or
        when one last moved, so such a Workflow is never called stuck: the callers say why.
        """
        if not self.nodes_known:
            return False
        if self.finished_phase or any(n.phase == "Running" for n in self.pod_nodes()):
            return False
        return self.minutes_without_progress(now) >= after_min

    def minutes_without_progress(self, now: datetime) -> float:
        last = self.last_progress()
        return (now - last).total_seconds() / 60 if last else 0.0

    def attempts(self, retry: WorkflowNode) -> tuple[WorkflowNode, ...]:
        return tuple(self.nodes[c] for c in retry.children if c in self.nodes)

    def retry_nodes(self) -> tuple[WorkflowNode, ...]:
        return tuple(n for n in self.nodes.values() if n.type == "Retry")

    def parent_retry(self, node: WorkflowNode) -> WorkflowNode | None:
        return next((r for r in self.retry_nodes() if node.id in r.children), None)


def _node(node_id: str, raw: dict[str, Any]) -> WorkflowNode:
    outputs = raw.get("outputs") or {}
    return WorkflowNode(
        id=str(raw.get("id") or node_id),
        name=str(raw.get("name", "")),
        display_name=str(raw.get("displayName", "")),
        type=str(raw.get("type", "")),
        template=str(raw.get("templateName", "")),
        phase=str(raw.get("phase", "")),
        message=str(raw.get("message", "")),
        started=parse_time(raw.get("startedAt")),
        finished=parse_time(raw.get("finishedAt")),
        children=tuple(str(c) for c in raw.get("children") or ()),
        exit_code=str(outputs.get("exitCode", "")),
    )


def _templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    stored = ((obj.get("status") or {}).get("storedTemplates") or {}).values()
    return [*(spec.get("templates") or []), *stored]


def _retry_limit(template: dict[str, Any]) -> int | None:
    limit = (template.get("retryStrategy") or {}).get("limit")
    try:
        return int(limit) if limit is not None else None
    except (TypeError, ValueError):
        return None  # an expression ("{{inputs.parameters.retries}}"): unknown here


def _memory_limit(template: dict[str, Any]) -> str:
    """The main container's memory limit: the template's container, or KFP's podSpecPatch."""
    limit = (((template.get("container") or {}).get("resources") or {}).get("limits") or {}).get("memory")
    if limit:
        return str(limit)
    patch = template.get("podSpecPatch")
    if isinstance(patch, str) and patch.strip().startswith("{"):
        try:
            containers = json.loads(patch).get("containers") or []
        except ValueError:
            return ""
        for container in containers:
            if container.get("name") == "main":
                return str(((container.get("resources") or {}).get("limits") or {}).get("memory") or "")
    return ""


class UndecodableNodes(ValueError):
    """status.compressedNodes is not what Argo writes; the message says which layer failed."""


def decode_compressed_nodes(text: str, limit: int = MAX_DECOMPRESSED_NODES) -> dict[str, Any]:
    """Argo's compressedNodes: base64 (standard, padded) of gzip of the JSON nodes map.

    Reads at most `limit` + 1 decompressed bytes, so a gzip bomb costs `limit` of memory, never
    more; raises UndecodableNodes naming the layer that failed.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UndecodableNodes(f"not base64: {exc}") from exc
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb") as stream:
            content = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise UndecodableNodes(f"not gzip: {exc}") from exc
    if len(content) > limit:
        raise UndecodableNodes(f"decompresses to more than {limit // (1024 * 1024)} MiB")
    try:
        nodes = json.loads(content)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UndecodableNodes(f"not JSON: {exc}") from exc
    if not isinstance(nodes, dict) or not all(isinstance(v, dict) for v in nodes.values()):
        raise UndecodableNodes("not a JSON map of node ID to node status")
    return nodes


def _node_status(status: dict[str, Any]) -> tuple[dict[str, Any], NodeStatus, str]:
    """The raw nodes map, where it came from, and the offload version or the decoding error.

    In Argo's own order (hydrator.go): an offload version means the database holds the nodes,
    whatever the object carries; compressedNodes counts only when status.nodes is empty.
    """
    version = str(status.get("offloadNodeStatusVersion") or "")
    if version:
        return {}, "offloaded", version
    nodes = status.get("nodes") or {}
    compressed = status.get("compressedNodes")
    if nodes or not compressed:
        return nodes, "inline", ""
    if not isinstance(compressed, str):
        return {}, "undecodable", "not a string"
    try:
        return decode_compressed_nodes(compressed), "compressed", ""
    except UndecodableNodes as exc:
        return {}, "undecodable", str(exc)


def workflow_facts(obj: dict[str, Any]) -> Workflow:
    metadata, status = obj.get("metadata") or {}, obj.get("status") or {}
    templates = _templates(obj)
    raw_nodes, node_status, detail = _node_status(status)
    return Workflow(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        phase=str(status.get("phase", "")),
        message=str(status.get("message", "")),
        started=parse_time(status.get("startedAt")),
        finished=parse_time(status.get("finishedAt")),
        created=parse_time(metadata.get("creationTimestamp")),
        progress=str(status.get("progress", "")),
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
        nodes={str(k): _node(str(k), v or {}) for k, v in raw_nodes.items()},
        task_results={str(k): bool(v) for k, v in (status.get("taskResultsCompletionStatus") or {}).items()},
        retry_limits={str(t.get("name", "")): _retry_limit(t) for t in templates if t.get("retryStrategy")},
        memory_limits={str(t.get("name", "")): m for t in templates if (m := _memory_limit(t))},
        node_status=node_status,
        node_status_detail=detail,
    )
