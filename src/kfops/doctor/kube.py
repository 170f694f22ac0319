"""Kubernetes: is the API server there, who is kfops, and may it read and write what it needs?

Permissions are asked with SelfSubjectAccessReview through the gate's own KubeWriter.can_i: a
`create` on authorization.k8s.io that the API server answers and forgets, so the doctor writes no
state. Every identity may ask it about itself (the default system:basic-user ClusterRole).
"""

from __future__ import annotations

from dataclasses import dataclass

from kfops.clients.errors import ConfigurationError, ReaderError
from kfops.clients.live.kube import LiveKubeReader
from kfops.clients.live.writer import LiveKubeWriter
from kfops.clients.protocols import AccessCheck
from kfops.clients.resources import CONFIGMAPS, DEPLOYMENTS, EVENTS, LEASES, SECRETS, ResourceRef
from kfops.doctor.rows import Level, Row
from kfops.playbooks.base import Playbook
from kfops.playbooks.deployments import RESTARTABLE, RestartDeployment
from kfops.playbooks.gate import EVERY_ACTION, policy_mode
from kfops.playbooks.registry import PLAYBOOKS
from kfops.runbooks.registry import ladders
from kfops.runbooks.requirements import Read, rbac_rule, reads
from kfops.settings import Settings

READER_ROLE = "deploy/rbac/clusterrole-reader.yaml"
REMEDIATE_ROLE = "deploy/rbac/clusterrole-remediate.yaml"
STATE_ROLE = "deploy/rbac/role-state.yaml"
SECRET_ROLE = "a Role in the Secret's namespace, bound to kfops' ServiceAccount"  # noqa: S105 — a text
USERS = ResourceRef("", "v1", "users", "User", namespaced=False)
GROUPS = ResourceRef("", "v1", "groups", "Group", namespaced=False)
MODES = ("approve", "manual", "disabled")


@dataclass
class Cluster:
    """What the Kubernetes checks found: the reader the other sources may need, and the writer
    whose can_i asks the API server (None when it could not be reached)."""

    reader: LiveKubeReader | None
    writer: LiveKubeWriter | None
    rows: list[Row]


def connect(settings: Settings, kubeconfig: str | None, context: str | None) -> Cluster:
    """Connect the way `kfops serve` does (settings.kubeconfig / settings.context unless given)."""
    kubeconfig = kubeconfig or settings.kubeconfig or None
    context = context or settings.context or None
    group = "kubernetes"
    try:
        reader = LiveKubeReader.connect(kubeconfig, context)
        writer = LiveKubeWriter.connect(kubeconfig, context)
    except ConfigurationError as exc:
        fix = "give --kubeconfig/--context, set KUBECONFIG, or run in a pod with a ServiceAccount token"
        return Cluster(None, None, [Row(group, "configuration", Level.FAIL, str(exc), fix)])
    try:
        version = reader.server_version()
    except ReaderError as exc:
        fix = "check the server address in the kubeconfig, the network path (NetworkPolicy egress) and TLS"
        return Cluster(None, None, [Row(group, "API server", Level.FAIL, exc.headline, fix)])
    rows = [
        Row(
            group, "API server", Level.OK, f"{reader.describe()}: Kubernetes {version.get('gitVersion', '?')}"
        )
    ]
    try:
        who = writer.identity()
        groups = f" (groups: {', '.join(who.groups)})" if who.groups else ""
        rows.append(Row(group, "identity", Level.OK, f"kfops acts as {who.username}{groups}"))
    except ReaderError as exc:
        rows.append(
            Row(
                group,
                "identity",
                Level.WARN,
                f"SelfSubjectReview not answered ({exc.headline}); permissions are still checked",
            )
        )
    return Cluster(reader, writer, rows)


class _Access:
    """SelfSubjectAccessReview, each distinct question asked once."""

    def __init__(self, writer: LiveKubeWriter) -> None:
        self._writer = writer
        self._asked: dict[tuple[str, ResourceRef, str, str, str], AccessCheck | ReaderError] = {}

    def ask(
        self, verb: str, ref: ResourceRef, namespace: str, name: str, sub: str
    ) -> AccessCheck | ReaderError:
        key = (verb, ref, namespace, name, sub)
        if key not in self._asked:
            try:
                self._asked[key] = self._writer.can_i(verb, ref, namespace, name, sub)
            except ReaderError as exc:
                self._asked[key] = exc
        return self._asked[key]


def _where(namespace: str, name: str) -> str:
    return (f" {name}" if name else "") + (f" in namespace {namespace}" if namespace else " (all namespaces)")


@dataclass(frozen=True)
class Ask:
    verb: str
    ref: ResourceRef
    sub: str
    namespace: str
    name: str
    why: str
    fix_for: str = ""  # the manifest to add the rule to, when not the group's


def _permission_rows(access: _Access, group: str, wanted: list[Ask], fix_for: str) -> list[Row]:
    """One row per refused permission (with the rule to add), or one OK row for the group."""
    rows: list[Row] = []
    for ask in wanted:
        verb, ref, sub, namespace, name, why = ask.verb, ask.ref, ask.sub, ask.namespace, ask.name, ask.why
        answer = access.ask(verb, ref, namespace, name, sub)
        resource = ref.qualified + (f"/{sub}" if sub else "")
        check = f"{verb} {resource}{_where(namespace, name)}"
        if isinstance(answer, ReaderError):
            rows.append(Row(group, check, Level.FAIL, f"cannot ask the API server: {answer.headline}", ""))
        elif not answer.allowed:
            rule = rbac_rule(verb, ref, sub, name)
            rows.append(
                Row(
                    group,
                    check,
                    Level.FAIL,
                    f"refused: needed for {why}",
                    f"add {rule} to {ask.fix_for or fix_for}",
                )
            )
    if not rows:
        rows.append(Row(group, "permissions", Level.OK, f"all {len(wanted)} granted"))
    return rows


def ladder_permissions(
    writer: LiveKubeWriter, settings: Settings, access: _Access | None = None
) -> list[Row]:
    """Every read each ladder makes with these settings (runbooks.requirements)."""
    access = access or _Access(writer)
    rows: list[Row] = []
    for ladder in ladders():
        needed: tuple[Read, ...] = reads(ladder.id, settings)
        wanted = [
            Ask(
                r.verb,
                r.ref,
                r.subresource,
                r.namespace_in(settings),
                r.name,
                r.why,
                SECRET_ROLE if r.ref == SECRETS else "",
            )
            for r in needed
        ]
        rows += _permission_rows(access, f"ladder {ladder.id}", wanted, READER_ROLE)
    return rows


def _targets(playbook: Playbook, verb: str, ref: ResourceRef, settings: Settings) -> list[tuple[str, str]]:
    """(namespace, name) to ask about: the Deployment playbooks may patch only named Deployments
    (resourceNames in the shipped role), so they are asked by name; every other write cluster-wide."""
    if ref == DEPLOYMENTS:
        if isinstance(playbook, RestartDeployment):
            return [(settings.kfp_namespace, name) for name in RESTARTABLE]
        return [(settings.profile_controller_namespace, settings.profile_controller_deployment)]
    return [("", "")]


def enabled_playbooks(settings: Settings) -> tuple[list[Playbook], list[Row]]:
    """The playbooks settings.action_modes leaves enabled, and rows for the rest and for typos."""
    rows: list[Row] = []
    for item in filter(None, (part.strip() for part in settings.action_modes.split(","))):
        action, _, mode = item.partition("=")
        if action.strip() not in PLAYBOOKS and action.strip() != EVERY_ACTION:
            rows.append(
                Row(
                    "playbooks",
                    f"action_modes {action.strip()}",
                    Level.FAIL,
                    "no such action: the override does nothing",
                    f"use * (every action) or one of: {', '.join(sorted(PLAYBOOKS))}",
                )
            )
        elif mode.strip() not in MODES:
            rows.append(
                Row(
                    "playbooks",
                    f"action_modes {action.strip()}",
                    Level.FAIL,
                    f"unknown mode {mode.strip()!r}",
                    f"use {action.strip()}=approve|manual|disabled",
                )
            )
    enabled = [p for p in PLAYBOOKS.values() if policy_mode(settings, p) not in ("manual", "disabled")]
    idle = sorted(a for a, p in PLAYBOOKS.items() if p not in enabled)
    if idle:
        rows.append(
            Row(
                "playbooks",
                "manual or disabled",
                Level.OK,
                f"need no write permission (a human carries them out, or nobody): {', '.join(idle)}",
            )
        )
    return enabled, rows


def playbook_permissions(
    writer: LiveKubeWriter, settings: Settings, access: _Access | None = None
) -> list[Row]:
    """Each enabled playbook's writes, plus the gate's own state when any is enabled."""
    access = access or _Access(writer)
    enabled, rows = enabled_playbooks(settings)
    for playbook in enabled:
        wanted = [
            Ask(verb, ref, sub, namespace, name, playbook.action)
            for verb, ref, sub in playbook.writes
            for namespace, name in _targets(playbook, verb, ref, settings)
        ]
        if not wanted:
            outside = "the Galera admin user" if playbook.action.startswith("galera.") else "the KFP API"
            rows.append(
                Row(
                    f"playbook {playbook.action}",
                    "permissions",
                    Level.OK,
                    f"writes nothing in Kubernetes: {outside} governs it",
                )
            )
            continue
        rows += _permission_rows(access, f"playbook {playbook.action}", wanted, REMEDIATE_ROLE)
    if not enabled:
        return rows
    state = [
        *(
            Ask(v, CONFIGMAPS, "", settings.namespace, "", "approval records")
            for v in ("get", "create", "update")
        ),
        *(
            Ask(v, LEASES, "", settings.namespace, "", "execution locks")
            for v in ("get", "create", "update", "patch")
        ),
    ]
    rows += _permission_rows(access, "gate state", state, f"{STATE_ROLE} (namespace {settings.namespace})")
    if any(p.target_in_kubernetes for p in enabled):
        rows += _permission_rows(
            access,
            "gate audit events",
            [Ask("create", EVENTS, "", "", "", "an Event on each target")],
            REMEDIATE_ROLE,
        )
    rows += _impersonation(access, settings)
    return rows


def _impersonation(access: _Access, settings: Settings) -> list[Row]:
    """slack_identity_map: executions impersonate the approver, so kfops must be allowed to."""
    wanted: list[Ask] = []
    for item in filter(None, (part.strip() for part in settings.slack_identity_map.split(","))):
        _, _, who = item.partition("=")
        user, _, group = who.partition("|")
        if user.strip():
            wanted.append(Ask("impersonate", USERS, "", "", user.strip(), "executing as the approving human"))
        if group.strip():
            wanted.append(
                Ask("impersonate", GROUPS, "", "", group.strip(), "executing as the approving human")
            )
    if not wanted:
        return []
    return _permission_rows(access, "impersonation", wanted, "a ClusterRole bound to kfops' ServiceAccount")


def permissions(cluster: Cluster, settings: Settings) -> list[Row]:
    if cluster.writer is None:
        return [
            Row(
                "permissions",
                "ladders and playbooks",
                Level.SKIPPED,
                "not checked: the Kubernetes API was not reached",
            )
        ]
    access = _Access(cluster.writer)
    return ladder_permissions(cluster.writer, settings, access) + playbook_permissions(
        cluster.writer, settings, access
    )
