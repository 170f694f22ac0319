"""The safety budget every surface shares, kept in one ConfigMap (`kfops-control`) in kfops' namespace.

- a pause switch (`kfops pause` / `kfops resume`) that blocks every execution;
- per-action rate limits over a sliding window;
- a circuit breaker that opens after too many executions in its window and stays open until a
  human runs `kfops breaker reset`.
Updates use the ConfigMap's resourceVersion, so two replicas cannot lose each other's writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kfops.clients.errors import Conflict, NotFound
from kfops.clients.protocols import KubeWriter
from kfops.clients.resources import CONFIGMAPS
from kfops.settings import Settings

NAME = "kfops-control"
HISTORY = 200  # executions remembered; far more than any window needs


class Blocked(Exception):
    """The safety budget refuses an execution; the message says which part and how to lift it."""


@dataclass(frozen=True)
class ControlState:
    paused: bool = False
    paused_by: str = ""
    reason: str = ""
    breaker_open: bool = False
    breaker_reason: str = ""
    executions: tuple[dict[str, str], ...] = ()
    resource_version: str | None = None

    def in_window(self, now: datetime, minutes: float, action: str | None = None) -> int:
        since = now - timedelta(minutes=minutes)
        return sum(
            1
            for e in self.executions
            if datetime.fromisoformat(e["at"]) >= since and (action is None or e["action"] == action)
        )


class Control:
    def __init__(self, writer: KubeWriter, settings: Settings) -> None:
        self.writer = writer
        self.settings = settings

    def read(self) -> ControlState:
        try:
            fetched = self.writer.get(CONFIGMAPS, NAME, self.settings.namespace)
        except NotFound:
            return ControlState()
        data = fetched.value.get("data") or {}
        return ControlState(
            paused=data.get("paused") == "true",
            paused_by=data.get("pausedBy", ""),
            reason=data.get("reason", ""),
            breaker_open=data.get("breaker") == "open",
            breaker_reason=data.get("breakerReason", ""),
            executions=tuple(json.loads(data.get("executions") or "[]")),
            resource_version=(fetched.value.get("metadata") or {}).get("resourceVersion"),
        )

    def check(self, action: str, now: datetime) -> None:
        """Raise Blocked if the pause switch, the breaker or the action's rate limit forbids running."""
        state = self.read()
        if state.paused:
            raise Blocked(
                f"kfops is paused by {state.paused_by or 'someone'} ({state.reason or 'no reason given'}): "
                "nothing executes until `kfops resume`"
            )
        if state.breaker_open:
            raise Blocked(
                f"the circuit breaker is open ({state.breaker_reason}): nothing executes until a human "
                "runs `kfops breaker reset`"
            )
        used = state.in_window(now, self.settings.rate_window_min, action)
        if used >= self.settings.rate_limit_per_action:
            raise Blocked(
                f"rate limit: {action} ran {used} times in the last {self.settings.rate_window_min:g} min "
                f"(limit {self.settings.rate_limit_per_action}); wait, or raise KFOPS_RATE_LIMIT_PER_ACTION"
            )

    def record(self, action: str, target: str, plan: str, now: datetime) -> bool:
        """Remember an execution; opens the breaker when the window is full. True if it opened."""

        def change(state: ControlState, data: dict[str, str]) -> None:
            executions = [
                *state.executions,
                {"action": action, "target": target, "plan": plan, "at": now.isoformat()},
            ]
            data["executions"] = json.dumps(executions[-HISTORY:])
            count = ControlState(executions=tuple(executions)).in_window(
                now, self.settings.breaker_window_min
            )
            if count >= self.settings.breaker_trip_after and not state.breaker_open:
                data["breaker"] = "open"
                data["breakerReason"] = (
                    f"{count} executions in {self.settings.breaker_window_min:g} min, "
                    f"opened {now:%Y-%m-%dT%H:%M:%SZ}"
                )

        return self._update(change).get("breaker") == "open"

    def set_paused(self, paused: bool, who: str, reason: str = "") -> None:
        def change(state: ControlState, data: dict[str, str]) -> None:
            data.update({"paused": "true" if paused else "false", "pausedBy": who, "reason": reason})

        self._update(change)

    def reset_breaker(self, who: str) -> None:
        def change(state: ControlState, data: dict[str, str]) -> None:
            data.update({"breaker": "closed", "breakerReason": f"reset by {who}", "executions": "[]"})

        self._update(change)

    def _update(self, change: Any) -> dict[str, str]:
        for _ in range(5):  # optimistic concurrency: re-read and retry on a conflicting write
            state = self.read()
            data = {
                "paused": "true" if state.paused else "false",
                "pausedBy": state.paused_by,
                "reason": state.reason,
                "breaker": "open" if state.breaker_open else "closed",
                "breakerReason": state.breaker_reason,
                "executions": json.dumps(list(state.executions)),
            }
            change(state, data)
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": NAME,
                    "namespace": self.settings.namespace,
                    "labels": {"app.kubernetes.io/name": "kfops"},
                },
                "data": data,
            }
            try:
                if state.resource_version is None:
                    self.writer.create(CONFIGMAPS, self.settings.namespace, body, dry_run=False)
                else:
                    body["metadata"]["resourceVersion"] = state.resource_version
                    self.writer.replace(CONFIGMAPS, NAME, self.settings.namespace, body, dry_run=False)
                return data
            except Conflict:
                continue
        raise Blocked("could not update kfops-control: it kept changing under us; try again")
