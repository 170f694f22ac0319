"""Which Workflow a diagnosis is about: "NAMESPACE/NAME", or a KFP run id found by its label.

Every probe of the ladder resolves the target itself; the readers are memoised with
single-flight, so the Workflow is still read once per diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.protocols import Fetched
from kfops.clients.resources import WORKFLOWS
from kfops.diagnostics.context import ProbeContext, TargetNotFound
from kfops.diagnostics.pipelines.workflows import RUN_ID_LABEL, Workflow, is_run_id, workflow_facts


@dataclass(frozen=True)
class Resolved:
    """The target's Workflow (None: a run id no Workflow carries) and the read that found it."""

    workflow: Workflow | None
    fetched: Fetched
    run_id: str  # from the target, else the Workflow's pipeline/runid label ("" when neither)

    @property
    def namespace(self) -> str:
        return self.workflow.namespace if self.workflow else ""


def split_target(target: str) -> tuple[str, str]:
    namespace, _, name = target.partition("/")
    return namespace, name


def resolve(ctx: ProbeContext) -> Resolved:
    """Read the target's Workflow; raises ReaderError as the reader does (a probe turns it into ERROR)."""
    target = ctx.target
    if is_run_id(target):
        fetched = ctx.kube.list(WORKFLOWS, label_selector=f"{RUN_ID_LABEL}={target.lower()}")
        found = sorted(
            (workflow_facts(w) for w in fetched.value),
            key=lambda w: w.created.isoformat() if w.created else "",
        )
        # a retried run keeps its Workflow name; should there be several, the newest is the run now
        return Resolved(found[-1] if found else None, fetched, target.lower())
    namespace, name = split_target(target)
    fetched = ctx.kube.get(WORKFLOWS, name, namespace)
    workflow = workflow_facts(fetched.value)
    return Resolved(workflow, fetched, workflow.run_id)


def check_workflow_target(ctx: ProbeContext, target: str) -> None:
    """A target that names nothing is a usage error, said in one sentence with where to look.

    A run id without a Workflow is still diagnosable when the KFP API knows the run (the API
    server may never have created its Workflow); only when nobody knows it is it an error.
    """
    if not is_run_id(target):
        namespace, name = split_target(target)
        if not namespace or not name:
            raise TargetNotFound(
                f"'{target}' is neither a KFP run id (a UUID) nor a Workflow as NAMESPACE/NAME"
            )
        try:
            ctx.kube.get(WORKFLOWS, name, namespace)
        except NotFound as exc:
            raise TargetNotFound(
                f"no Argo Workflow {target}: `kubectl get workflows -n {namespace}` lists the runs there"
            ) from exc
        except ReaderError:
            return  # forbidden/unreachable: the rungs say so as ERROR findings
        return
    try:
        if resolve(ctx).workflow is not None:
            return
    except ReaderError:
        return
    if ctx.kfp is None:
        raise TargetNotFound(
            f"no Argo Workflow carries {RUN_ID_LABEL}={target} in any namespace, and no KFP API is "
            "configured to ask about the run (set kfp_url / KFOPS_KFP_URL)"
        )
    try:
        ctx.kfp.get_run(target)
    except NotFound as exc:
        raise TargetNotFound(
            f"KFP knows no run {target} and no Argo Workflow carries its label: check the run id "
            "(the UI shows it under Run details)"
        ) from exc
    except ReaderError as exc:
        raise TargetNotFound(
            f"no Argo Workflow carries {RUN_ID_LABEL}={target} in any namespace, and the KFP API could "
            f"not say whether the run exists: {exc.headline}"
        ) from exc
