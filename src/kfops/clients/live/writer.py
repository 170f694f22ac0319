"""KubeWriter over a real API server: the gate's only way to change a cluster.

Diagnostics and runbooks may not import this module (import-linter contract). Writes are sent
once (never retried blindly), optionally impersonating the approving human so that the API
server's RBAC and audit log see them, not kfops' service account.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from kfops.clients.errors import ConfigurationError
from kfops.clients.live.transport import Transport, load_configuration
from kfops.clients.protocols import AccessCheck, Fetched, Identity
from kfops.clients.resources import ResourceRef
from kfops.clients.timeouts import Timeouts

SELF_SUBJECT_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SELF_SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


class LiveKubeWriter:
    def __init__(
        self,
        configuration: Any,
        origin: str,
        timeouts: Timeouts | None = None,
        impersonate_user: str | None = None,
        impersonate_groups: tuple[str, ...] = (),
    ) -> None:
        headers: dict[str, str] = {}
        if impersonate_user:
            headers["Impersonate-User"] = impersonate_user
            # The protocol repeats Impersonate-Group once per group; the client's header dict
            # holds one value per name, and a comma-joined value would name one bogus group.
            if len(impersonate_groups) > 1:
                raise ConfigurationError(
                    f"impersonating {impersonate_user} with {len(impersonate_groups)} groups is not "
                    "supported; "
                    "map the user to one group (slack_identity_map: U01=alice|oncall)"
                )
            if impersonate_groups:
                headers["Impersonate-Group"] = impersonate_groups[0]
        self._transport = Transport(configuration, origin, timeouts, headers)
        self.impersonating = impersonate_user

    @classmethod
    def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        timeouts: Timeouts | None = None,
        impersonate_user: str | None = None,
        impersonate_groups: tuple[str, ...] = (),
    ) -> LiveKubeWriter:
        configuration, origin = load_configuration(kubeconfig, context)
        return cls(configuration, origin, timeouts, impersonate_user, impersonate_groups)

    def describe(self) -> str:
        who = f" as {self.impersonating}" if self.impersonating else ""
        return f"cluster {self._transport.host} ({self._transport.origin}){who}"

    def identity(self) -> Identity:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        answer = self._send("POST", SELF_SUBJECT_REVIEWS, body, verb="create", resource="selfsubjectreviews")
        info = (answer.value.get("status") or {}).get("userInfo") or {}
        return Identity(str(info.get("username", "")), tuple(info.get("groups") or ()))

    def get(self, ref: ResourceRef, name: str, namespace: str | None = None) -> Fetched:
        path = ref.path(namespace, name)
        raw = self._transport.request("GET", path, query=f"GET {path}", verb="get", resource=ref.qualified)
        return Fetched(json.loads(raw), f"GET {path}", datetime.now(UTC), nbytes=len(raw))

    def can_i(
        self, verb: str, ref: ResourceRef, namespace: str = "", name: str = "", subresource: str = ""
    ) -> AccessCheck:
        attributes = {"verb": verb, "group": ref.group, "resource": ref.plural, "version": ref.version}
        if namespace:
            attributes["namespace"] = namespace
        if name:
            attributes["name"] = name
        if subresource:
            attributes["subresource"] = subresource
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        answer = self._send(
            "POST", SELF_SUBJECT_ACCESS_REVIEWS, body, verb="create", resource="selfsubjectaccessreviews"
        )
        status = answer.value.get("status") or {}
        resource = ref.qualified + (f"/{subresource}" if subresource else "")
        return AccessCheck(
            verb=verb,
            resource=resource,
            namespace=namespace,
            name=name,
            allowed=bool(status.get("allowed")),
            reason=str(status.get("reason") or status.get("evaluationError") or ""),
        )

    def create(
        self, ref: ResourceRef, namespace: str | None, body: dict[str, Any], *, dry_run: bool
    ) -> Fetched:
        return self._send(
            "POST", ref.path(namespace), body, verb="create", resource=ref.qualified, dry_run=dry_run
        )

    def replace(
        self, ref: ResourceRef, name: str, namespace: str | None, body: dict[str, Any], *, dry_run: bool
    ) -> Fetched:
        path = ref.path(namespace, name)
        return self._send("PUT", path, body, verb="update", resource=ref.qualified, dry_run=dry_run)

    def patch(
        self,
        ref: ResourceRef,
        name: str,
        namespace: str | None,
        patch: dict[str, Any],
        *,
        dry_run: bool,
        strategic: bool = False,
    ) -> Fetched:
        kind = "strategic-merge-patch" if strategic else "merge-patch"
        return self._send(
            "PATCH",
            ref.path(namespace, name),
            patch,
            verb="patch",
            resource=ref.qualified,
            dry_run=dry_run,
            content_type=f"application/{kind}+json",
        )

    def delete(
        self,
        ref: ResourceRef,
        name: str,
        namespace: str | None,
        *,
        dry_run: bool,
        uid: str | None = None,
        grace_period_s: int | None = None,
        propagation: str | None = None,
    ) -> Fetched:
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            options["preconditions"] = {"uid": uid}  # delete exactly the object that was planned
        if grace_period_s is not None:
            options["gracePeriodSeconds"] = grace_period_s
        if propagation:
            options["propagationPolicy"] = propagation  # batch/v1 Jobs default to orphaning their pods
        if dry_run:
            # The API server reads a DELETE's options from its body when there is one and then
            # ignores the query string: without this, ?dryRun=All would really delete.
            options["dryRun"] = ["All"]
        return self._send(
            "DELETE",
            ref.path(namespace, name),
            options,
            verb="delete",
            resource=ref.qualified,
            dry_run=dry_run,
        )

    def evict(self, namespace: str, pod: str, *, dry_run: bool) -> Fetched:
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": namespace},
        }
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction"
        return self._send("POST", path, body, verb="create", resource="pods/eviction", dry_run=dry_run)

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        *,
        verb: str,
        resource: str,
        dry_run: bool = False,
        content_type: str = "application/json",
    ) -> Fetched:
        params = [("dryRun", "All")] if dry_run else []
        query = f"{method} {path}" + ("?dryRun=All" if dry_run else "")
        raw = self._transport.request(
            method,
            path,
            params,
            query=query,
            verb=verb,
            resource=resource,
            body=body,
            content_type=content_type,
        )
        value = json.loads(raw) if raw else {}
        return Fetched(value, query, datetime.now(UTC), nbytes=len(raw))
