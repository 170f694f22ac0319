"""Argo ≥ 3.5: each step reports its outputs as a WorkflowTaskResult the `wait` container creates.

Without RBAC for ``workflowtaskresults`` the pods finish but the controller keeps waiting for
their results, so the Workflow stays Running for ever with ``taskResultsCompletionStatus``
false (argoproj/argo-workflows #12733, #13496). The `wait` container's log names the refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kfops.clients.errors import ReaderError
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.pipelines.steps import Steps, read_steps
from kfops.model import Evidence, Observed

FORBIDDEN = re.compile(r"workflowtaskresults[\w.]* (?:\"[^\"]*\" )?is forbidden[^\n]*", re.I)
SERVICE_ACCOUNT = re.compile(r'User "system:serviceaccount:([\w.-]+):([\w.-]+)"')
LOGS_READ = 3  # wait-container logs read at most: one refusal is proof, three rule out a fluke


@dataclass(frozen=True)
class TaskResults:
    applicable: bool  # the Workflow is Running and every step pod has finished
    unsynced: tuple[str, ...]  # node ids whose results the controller still waits for
    refusal: str  # the wait container's "is forbidden" line, "" when none was found
    service_account: tuple[str, str]  # (namespace, name) the refusal names, ("", "") otherwise


def _unquote(raw: str) -> str:
    """A logfmt value as written: without the closing quote of error="…", quotes unescaped."""
    if raw.endswith('"') and not raw.endswith('\\"'):
        raw = raw[:-1]
    return raw.replace('\\"', '"')


def read_task_results(ctx: ProbeContext) -> Observed:
    observed = read_steps(ctx)
    steps: Steps = observed.value
    workflow = steps.workflow
    if workflow is not None and not workflow.nodes_known:
        # node status offloaded or undecodable: the step pods are the only account of the steps
        # (taskResultsCompletionStatus stays in the object), so "every step finished" is theirs
        finished = [p.pod.terminal for p in steps.pods]
    else:
        finished = [n.finished_phase for n in (workflow.pod_nodes() if workflow else ())]
    applicable = bool(workflow is not None and workflow.phase == "Running" and finished and all(finished))
    if workflow is None or not applicable:
        return Observed(TaskResults(False, (), "", ("", "")))
    unsynced = tuple(sorted(k for k, done in workflow.task_results.items() if not done))
    evidence: list[Evidence] = []
    refusal, account = "", ("", "")
    done = [p for p in steps.pods if p.pod.terminal and "wait" in p.images][:LOGS_READ]
    for pod in done:
        try:
            log = ctx.kube.pod_log(pod.pod.namespace, pod.pod.name, "wait", tail_lines=50)
        except ReaderError as exc:
            evidence.append(failure_evidence(exc, ctx.now))
            continue
        match = FORBIDDEN.search(str(log.value))
        # the executor logs in logfmt (error="…"): unescape its quotes and drop the closing one
        line = _unquote(match.group(0))[:300] if match else ""
        evidence.append(kube_evidence(log, f"wait container of {pod.pod.name}: {line or 'no RBAC refusal'}"))
        if line:
            refusal = line
            sa = SERVICE_ACCOUNT.search(refusal)
            account = (sa.group(1), sa.group(2)) if sa else (workflow.namespace, "")
            break
    return Observed(TaskResults(True, unsynced, refusal, account), tuple(evidence))
