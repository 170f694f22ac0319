"""Why the Argo workflow-controller crash-loops: its previous run's last words, classified.

Argo's controller reads ``workflow-controller-configmap`` once at start and exits when it cannot
(or when it cannot list what it watches), so a crash-looping controller's *previous* log ends with
the reason. The classes are the ones an SRE acts on differently — and for each, whether a rolling
restart could help (it cannot when the next start meets the same ConfigMap, RBAC or memory limit).

Read, and matched here, from argoproj/argo-workflows (v3.5 / v3.6 ``workflow/controller/
controller.go``, ``config/controller.go``; the v3.7 ``cmd/workflow-controller/main.go`` and
``workflow/controller/config.go``) and the libraries whose errors the controller logs verbatim:

==================== ===========================================================================
config-invalid       ``Failed to register watch for controller config map: <err>`` is logged at
                     fatal level by ``WorkflowController.UpdateConfig`` when ``config/controller.go``
                     ``parseConfigMap`` fails. Its errors: Argo's own ``if you have an item in your
                     config map named 'config', you must only have one item``, or
                     ``yaml.UnmarshalStrict`` from sigs.k8s.io/yaml (``yaml.go``):
                     ``error converting YAML to JSON: …`` (bad YAML, a duplicate key) and
                     ``error unmarshaling JSON: while decoding JSON: json: unknown field "x"`` (a key
                     this Argo does not know, e.g. ``containerRuntimeExecutor`` removed in v3.4) or
                     ``… json: cannot unmarshal string into Go struct field …`` (a wrong type).
                     Matched on the library's words, wherever the logger puts them: v3.7 logs
                     through ``util/logging`` (slog) and returns the error to ``main``.
rbac-forbidden       the API server's refusal, as client-go passes it on
                     (``workflows.argoproj.io is forbidden: User "system:serviceaccount:kubeflow:
                     argo" cannot list resource "workflows" in API group "argoproj.io" at the
                     cluster scope``) — the same pattern the profile ladder reads
                     (diagnostics/kube/log_lines.py), quotes escaped or not.
api-unreachable      client-go failing to reach the API server: ``dial tcp 10.96.0.1:443: i/o
                     timeout`` / ``connect: connection refused``, leader election's ``error
                     retrieving resource lock``, ``Failed to update lock``, ``failed to renew
                     lease`` (argo-workflows issues #9324, #7613, #12173).
oom                  not from the log: the container's last termination reason ``OOMKilled``.
==================== ===========================================================================

Left out, because no Argo source or issue gave a line to verify: a missing CRD at start (only a
v3.3 ``the server could not find the requested resource (get workflows.argoproj.io)`` was found),
persistence/database failures (``Failed to init db``: its errors are the driver's), and v3.7's exact
slog layout of the fatal line (the classes match the error text, not the layout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kfops.diagnostics.kube.log_lines import Denial, denial_in, error_lines, trim

#: sigs.k8s.io/yaml (Unmarshal/UnmarshalStrict) and Argo's config/controller.go parseConfigMap
CONFIG_INVALID = re.compile(
    r"error unmarshaling JSON|error converting YAML to JSON|"
    r"if you have an item in your config map named 'config', you must only have one item"
)
UNKNOWN_FIELD = re.compile(r'json: unknown field \\?"([^"\\]+)\\?"')
#: Go's net errors and client-go's leader election (k8s.io/client-go/tools/leaderelection)
API_UNREACHABLE = re.compile(
    r"dial tcp [^ ]+: (?:i/o timeout|connect: connection refused|connect: no route to host)|"
    r"error retrieving resource lock|Failed to update lock|failed to renew lease|"
    r"net/http: TLS handshake timeout"
)
OOM_REASON = "OOMKilled"

#: class → (what it means, whether a restart of the Deployment could help)
CLASSES: dict[str, tuple[str, bool]] = {
    "oom": ("it is OOMKilled: the controller needs more memory than its limit", False),
    "config-invalid": (
        "workflow-controller-configmap does not parse (Argo reads it strictly: an unknown or misspelt "
        "key, a wrong type, bad YAML)",
        False,
    ),
    "rbac-forbidden": ("the API server refuses one of its reads (RBAC)", False),
    "api-unreachable": ("it cannot reach the Kubernetes API server", False),
    "unknown": ("its previous log names no known cause", True),
    "unread": ("its previous log could not be read", True),
}
ORDER = ("config-invalid", "rbac-forbidden", "api-unreachable")  # the log classes, first wins


@dataclass(frozen=True)
class ControllerCrash:
    """Why the controller's container last exited, and what was read to say so."""

    cls: str  # a key of CLASSES
    pod: str
    container: str
    line: str = ""  # the log line that matched (trimmed), or the last error-looking lines
    field: str = ""  # config-invalid: the unknown key the ConfigMap carries
    denial: Denial | None = None  # rbac-forbidden: what the API server refused
    memory_limit: str = ""  # oom: the container's limit ("" when it has none)
    memory_request: str = ""
    restarts: int = 0
    error: str = ""  # unread: why the log could not be read

    @property
    def meaning(self) -> str:
        return CLASSES[self.cls][0]

    @property
    def restart_helps(self) -> bool:
        return CLASSES[self.cls][1]

    @property
    def explained(self) -> bool:
        """A known cause (not "unknown" or "unread")."""
        return self.cls not in ("unknown", "unread")

    def describe(self) -> str:
        """Why, quoting what was read, and whether a restart helps — for a summary."""
        where = f"{self.pod}/{self.container}"
        if self.cls == "oom":
            limit = f"limit {self.memory_limit}" if self.memory_limit else "no memory limit: the node ran out"
            return (
                f"because {where} is OOMKilled ({limit}, {self.restarts} restarts) — a restart would be "
                "killed the same way: raise its memory"
            )
        if self.cls == "unread":
            return f"its previous log could not be read ({self.error}) — a restart may help"
        if self.cls == "unknown":
            ends = f" (it ends: '{self.line}')" if self.line else ""
            return f"its previous log names no known cause{ends} — a restart may help"
        return f"because {self.meaning}: {where} said '{self.line}' — a restart would crash the same way"


def classify_controller_log(text: str) -> tuple[str, str, str, Denial | None]:
    """(class, quoted line, unknown field, denial) of a controller log: the first class of ORDER
    with a matching line, its first such line; ("unknown", the last error lines, "", None) else."""
    lines = [line for line in text.splitlines() if line.strip()]
    for cls in ORDER:
        for line in lines:
            if cls == "config-invalid" and (found := CONFIG_INVALID.search(line)):
                field = UNKNOWN_FIELD.search(line)
                return cls, trim(line, found.start()), field.group(1) if field else "", None
            if cls == "rbac-forbidden" and (denied := denial_in(line)):
                return cls, trim(line, denied[1]), "", denied[0]
            if cls == "api-unreachable" and (found := API_UNREACHABLE.search(line)):
                return cls, trim(line, found.start()), "", None
    return "unknown", " | ".join(error_lines(text, 2)), "", None
