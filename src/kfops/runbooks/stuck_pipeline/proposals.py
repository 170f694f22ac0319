"""What the stuck-pipeline ladder proposes for each cause.

The fix of most stuck runs is outside kfops' reach by design — a pipeline's memory limit, a
missing Secret, a quota, a StorageClass — so those are written out as exact manual steps for
the pipeline author or the platform team. Executable proposals are narrow and go through the
gate: restart one of the backend Deployments the ladder names, delete one stuck step pod, or
terminate / retry the run through the KFP API (only when the API answered for this run).
"""

from __future__ import annotations

from decimal import Decimal

from kfops.diagnostics.kube.quantity import memory_for_humans, parse_quantity
from kfops.diagnostics.pipelines.backend import CONTROLLER_CONFIGMAP, PERSISTENCE_AGENT, Component
from kfops.diagnostics.pipelines.controller_logs import ControllerCrash
from kfops.diagnostics.pipelines.kfp_run import RunView
from kfops.diagnostics.pipelines.quotas import refusals
from kfops.diagnostics.pipelines.steps import StepPod, missing_object, oom_kills, stuck_containers
from kfops.diagnostics.pipelines.volumes import unbound_claims
from kfops.diagnostics.pipelines.workflows import Workflow
from kfops.model import Facts, Mode, Proposal, ProposalInput, Risk
from kfops.runbooks.causes import Proposer, proposals_by_cause
from kfops.runbooks.stuck_pipeline.probes import (
    KFP_RUN,
    WORKFLOW,
    backend_of,
    controller_of,
    object_store_of,
    quotas_of,
    run_of,
    steps_of,
    storage_of,
    task_results_of,
)

#: the rungs whose findings justify each cause's proposals
RATIONALE = {
    "workflow-controller-down": ("workflow-controller", "stuck-workflows"),
    "task-results-rbac": ("task-results", "workflow"),
    "metadata-db-unreachable": ("kfp-backend", "stuck-workflows"),
    "kfp-backend-down": ("kfp-backend", "stuck-workflows"),
    "persistence-out-of-sync": ("kfp-run", "workflow"),
    "quota-exceeded": ("namespace-quota",),
    "pvc-unbound": ("step-volumes", "step-scheduling"),
    "gpu-shortage": ("step-scheduling",),
    "unschedulable": ("step-scheduling",),
    "image-pull": ("step-containers",),
    "missing-config": ("step-containers",),
    "oom-killed": ("step-oom", "current-step"),
    "step-crashloop": ("step-containers",),
    "object-store-down": ("object-store",),
    "workflow-missing": ("workflow", "kfp-run"),
    "run-failed": ("workflow", "kfp-run"),
    "step-stalled": ("current-step", "workflow"),
    "run-stalled": ("workflow", "stuck-workflows"),
}
#: the states kfp.terminate-run acts on (the playbook refuses others by name)
TERMINABLE = frozenset({"PENDING", "RUNNING", "PAUSED"})
OOM_FACTOR = 2  # a step killed at its limit gets twice the memory: one retry, not a ladder of them
#: an OOM-killed controller's limit × 1.5, as the profile and KServe ladders raise a server's memory
CONTROLLER_OOM_FACTOR = Decimal("1.5")


def _run(f: Facts) -> RunView | None:
    value = f.get(KFP_RUN)
    return value if isinstance(value, RunView) and value.known else None


def _read_workflow(f: Facts) -> Workflow | None:
    """The target's Workflow; None when there is none or its read failed."""
    value = f.get(WORKFLOW)
    return value if isinstance(value, Workflow) else None


def _workflow_ref(f: Facts) -> tuple[str, str]:
    workflow = _read_workflow(f)
    return (workflow.namespace, workflow.name) if workflow else ("", "")


def _kfp_action(action: str, f: Facts, why: tuple[str, ...], title: str) -> Proposal:
    run = _run(f)
    assert run is not None
    namespace, name = _workflow_ref(f)
    return Proposal(
        action=action,
        target=f"run/{run.run_id}",
        title=title,
        risk=Risk.MEDIUM,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(f"the run is still {run.state} when executed",),
        params={"runId": run.run_id, "namespace": namespace, "workflow": name},
    )


def terminate(f: Facts, why: tuple[str, ...], reason: str) -> tuple[Proposal, ...]:
    """kfp.terminate-run, when the API answered for this run and it is still active."""
    run = _run(f)
    workflow = _read_workflow(f)
    if run is None or run.state not in TERMINABLE or (workflow and workflow.finished_phase):
        return ()
    title = f"Terminate run {run.display_name or run.run_id} through the KFP API: {reason}"
    return (_kfp_action("kfp.terminate-run", f, why, title),)


def retry(f: Facts, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    """kfp.retry-run, when KFP says the run FAILED (the only state KFP retries).

    Never for a Workflow whose node status is offloaded: KFP refuses to retry it ("Cannot retry
    workflow with offloaded node status", kubeflow/pipelines backend/src/common/util/workflow.go).
    """
    run = _run(f)
    workflow = _read_workflow(f)
    if run is None or run.state != "FAILED" or (workflow and workflow.node_status == "offloaded"):
        return ()
    title = f"Retry run {run.display_name or run.run_id} through the KFP API (failed steps only)"
    return (_kfp_action("kfp.retry-run", f, why, title),)


def restart(component: Component, why: tuple[str, ...]) -> Proposal:
    return Proposal(
        action="deployment.restart",
        target=f"deployment/{component.namespace}/{component.name}",
        title=f"Restart {component.role} ({component.name}): a rolling restart, verified by availability",
        risk=Risk.MEDIUM,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(f"Deployment {component.ref} still has uid {component.uid}",),
        rollback="none needed: a restart changes no configuration; the old pods are replaced one by one",
        params={"namespace": component.namespace, "deployment": component.name, "uid": component.uid},
    )


def delete_pod(pod: StepPod, workflow: str, why: tuple[str, ...], reason: str) -> Proposal:
    return Proposal(
        action="pod.delete",
        target=f"pod/{pod.pod.namespace}/{pod.pod.name}",
        title=f"Delete step pod {pod.pod.name} so Argo retries the step: {reason}",
        risk=Risk.MEDIUM,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(
            "the pod still has the same uid",
            "the step has a retryStrategy, or a failed step is acceptable (Argo marks it 'pod deleted')",
        ),
        rollback="none: Argo creates the next attempt; without retries the step fails (retry the run)",
        params={
            "namespace": pod.pod.namespace,
            "pod": pod.pod.name,
            "uid": pod.uid,
            "workflow": workflow,
        },
    )


def _manual(action: str, target: str, title: str, why: tuple[str, ...], *steps: str) -> Proposal:
    return Proposal(
        action=action, target=target, title=title, risk=Risk.LOW, mode=Mode.MANUAL, rationale=why, steps=steps
    )


# ---------------------------------------------------------------- per cause
def _config_fix(ns: str, pod: str, crash: ControllerCrash, why: tuple[str, ...]) -> Proposal:
    key = (
        f"Remove or rename the key '{crash.field}': this Argo version does not know it (removed by an "
        "upgrade, or misspelt) — the keys of your version are in Argo's "
        "docs/workflow-controller-configmap.yaml."
        if crash.field
        else "Fix what the error names: a value of the wrong type, broken indentation, a duplicate key, "
        "or a 'config' key next to others (use one or the other)."
    )
    return _manual(
        "argo.fix-controller-config",
        f"configmap/{ns}/{CONTROLLER_CONFIGMAP}",
        f"Fix ConfigMap {ns}/{CONTROLLER_CONFIGMAP} so the workflow-controller can parse it — by hand",
        why,
        f"The controller said: {crash.line}",
        key,
        f"kubectl -n {ns} edit configmap {CONTROLLER_CONFIGMAP}  # or fix it in your GitOps repository, "
        "or the next sync puts the bad value back",
        "A restart does not help until the ConfigMap parses: every start reads it and exits. Once fixed, "
        f"the kubelet starts the controller on its own (back-off up to 5 min), or at once: kubectl -n {ns} "
        f"delete pod {pod}",
        f"Check: kubectl -n {ns} logs deploy/workflow-controller --tail=20  # no fatal line; Workflows "
        "advance",
    )


def _rbac_fix(ns: str, crash: ControllerCrash, why: tuple[str, ...]) -> Proposal:
    denial = crash.denial
    assert denial is not None
    account_ns, account = denial.service_account or (ns, "argo")
    resource, _, subresource = denial.resource.partition("/")
    rule = denial.rule()
    scope = (
        f"in namespace {denial.namespace} (a Role)" if denial.namespace else "cluster-wide (a ClusterRole)"
    )
    group = f".{denial.group}" if denial.group else ""
    return _manual(
        "rbac.grant-controller",
        f"serviceaccount/{account_ns}/{account}",
        f"Grant {account_ns}/{account} '{denial.verb}' on \"{denial.resource}\" ({denial.group or 'core'} "
        "group) — by hand",
        why,
        f"The API server said: {crash.line}",
        f"The missing rule, {scope}: {rule}",
        "Usually the controller was upgraded without its RBAC: re-apply the pipelines manifests' Argo "
        "roles of the same release (argo-cluster-role / argo-role), or add the rule to the role bound to "
        f"the ServiceAccount: kubectl get clusterrolebinding,rolebinding -A -o wide | grep {account}",
        f"Check: kubectl auth can-i {denial.verb} {resource}{group}"
        + (f" --subresource={subresource}" if subresource else "")
        + f" --as system:serviceaccount:{account_ns}:{account}"
        + (f" -n {denial.namespace}" if denial.namespace else ""),
        "A restart does not help until the rule exists; the kubelet restarts the controller on its own.",
    )


def _apiserver_fix(ns: str, crash: ControllerCrash, why: tuple[str, ...]) -> Proposal:
    return _manual(
        "kube.check-apiserver-path",
        f"deployment/{ns}/workflow-controller",
        "Find why the workflow-controller cannot reach the Kubernetes API server — by hand",
        why,
        f"The controller said: {crash.line}",
        "kubectl get --raw '/readyz?verbose'  # is the API server (and etcd) healthy?",
        f"kubectl -n {ns} get networkpolicy  # a policy without egress to the API server (443/6443) "
        "cuts the controller off",
        "A restart changes nothing: the kubelet restarts the controller on its own once the API server "
        "answers.",
    )


def _memory_fix(ns: str, crash: ControllerCrash, why: tuple[str, ...]) -> Proposal:
    ref = f"{ns}/workflow-controller"
    limit = parse_quantity(crash.memory_limit) if crash.memory_limit else None
    if limit is not None:
        new = memory_for_humans(limit * CONTROLLER_OOM_FACTOR)
        request = parse_quantity(crash.memory_request) if crash.memory_request else None
        set_request = (
            f" --requests=memory={new}" if request is None or request > limit * CONTROLLER_OOM_FACTOR else ""
        )
        title = (
            f"Give workflow-controller of {ref} a {new} memory limit (now {crash.memory_limit}): "
            f"{crash.restarts} restarts, last OOMKilled — by hand"
        )
        change = (
            f"kubectl -n {ns} set resources deployment/workflow-controller -c {crash.container} "
            f"--limits=memory={new}{set_request}  # {crash.memory_limit} × 1.5"
        )
    else:
        title = (
            f"Reserve memory for workflow-controller of {ref}: it has no limit and was OOMKilled when the "
            "node ran out — by hand"
        )
        change = (
            f"kubectl -n {ns} top pod {crash.pod} --containers  # what it uses; then: kubectl -n {ns} set "
            f"resources deployment/workflow-controller -c {crash.container} --requests=memory=<1.5 × that> "
            "--limits=memory=<the same>"
        )
    return _manual(
        "argo.raise-controller-memory",
        f"deployment/{ref}",
        title,
        why,
        change,
        "Change it in your GitOps repository too, or the next sync puts the old limit back.",
        "The controller's memory grows with the Workflows it keeps: let finished runs go "
        "(ttlStrategy, podGC; KFP: TTL_SECONDS_AFTER_WORKFLOW_FINISH) so it does not grow back.",
        "A restart would be OOMKilled the same way.",
    )


def _controller(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    controller = controller_of(inp.facts)
    deployment = controller.deployment
    crash = controller.crash
    ns = deployment.namespace or inp.settings.kfp_namespace
    if deployment.found and deployment.crashlooping and crash is not None and crash.explained:
        if crash.cls == "config-invalid":
            return (_config_fix(ns, crash.pod, crash, why),)
        if crash.cls == "rbac-forbidden" and crash.denial is not None:
            return (_rbac_fix(ns, crash, why),)
        if crash.cls == "api-unreachable":
            return (_apiserver_fix(ns, crash, why),)
        if crash.cls == "oom":
            return (_memory_fix(ns, crash, why),)
    if deployment.found and (deployment.down or deployment.crashlooping) and controller.configmap_found:
        return (restart(deployment, why),)
    ns = inp.settings.kfp_namespace
    return (
        _manual(
            "argo.restore-controller",
            f"deployment/{ns}/workflow-controller",
            "Reinstall the Argo workflow-controller and its ConfigMap from the KFP manifests — by hand",
            why,
            "Re-apply the pipelines manifests your install uses (e.g. kustomize build "
            "applications/pipeline/upstream/env/cert-manager/platform-agnostic-multi-user | "
            "kubectl apply -f -), "
            "or restore the objects from your GitOps repository (Argo CD: sync the pipelines application).",
            f"Check: kubectl -n {ns} get deploy workflow-controller && kubectl -n {ns} get configmap "
            "workflow-controller-configmap",
            "Then watch the stuck Workflow advance: kubectl -n <namespace> get workflow <name> -w",
        ),
    )


def _task_results(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    results = task_results_of(inp.facts)
    namespace, account = results.service_account
    namespace = namespace or _workflow_ref(inp.facts)[0]
    account = account or "default-editor"
    role = (
        "kubectl apply -f - <<'EOF'\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
        f"metadata:\n  name: argo-executor-taskresults\n  namespace: {namespace}\n"
        "rules:\n- apiGroups: [argoproj.io]\n  resources: [workflowtaskresults]\n  verbs: [create, patch]\n"
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
        f"metadata:\n  name: argo-executor-taskresults\n  namespace: {namespace}\n"
        "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: argo-executor-taskresults\n"
        f"subjects:\n- kind: ServiceAccount\n  name: {account}\n  namespace: {namespace}\nEOF"
    )
    return (
        _manual(
            "rbac.grant-task-results",
            f"serviceaccount/{namespace}/{account}",
            f"Let ServiceAccount {namespace}/{account} report task results (Argo ≥ 3.5) — by hand",
            why,
            role,
            "For every Profile namespace, add the same rule to the role your profile template binds "
            "(kubeflow-pipelines-profile-controller or the Profile's default-editor ClusterRole), so new "
            "namespaces get it too.",
            "Runs already stuck stay Running: terminate them and start them again once the rule is in place.",
        ),
    )


def _database(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    ns = inp.settings.kfp_namespace
    return (
        _manual(
            "kfp.check-database",
            f"deployment/{ns}/metadata-grpc-deployment",
            "Diagnose the database behind KFP before restarting anything — by hand",
            why,
            "Run `kfops diagnose galera-migration-failure` (MariaDB Galera) or check the mysql "
            f"Deployment in {ns}: kubectl -n {ns} get deploy mysql; "
            f"kubectl -n {ns} logs deploy/mysql --tail=50",
            f"Check the credentials KFP uses: kubectl -n {ns} get secret mysql-secret "
            "(keys username, password) against the database's users.",
            "Restarting the KFP servers does not help while the database is unreachable; they reconnect "
            "on their own once it answers.",
        ),
    )


def _backend(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    return tuple(restart(c, why) for c in backend_of(inp.facts) if c.found and (c.down or c.crashlooping))


def _persistence(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    agent = next((c for c in backend_of(inp.facts) if c.name == PERSISTENCE_AGENT and c.found), None)
    return (restart(agent, why),) if agent else ()


def _quota(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    refusal = refusals(steps_of(inp.facts))[0]
    namespace = _workflow_ref(inp.facts)[0]
    quota = next((q for q in quotas_of(inp.facts) if q.name == refusal.quota), None)
    hard = ", ".join(f"{k}={v}" for k, v in sorted(quota.hard.items())) if quota else "unknown"
    return (
        _manual(
            "quota.raise",
            f"resourcequota/{namespace}/{refusal.quota}",
            f"Raise ResourceQuota {namespace}/{refusal.quota}, or free what it counts — by hand",
            why,
            f"Now: hard {hard}; the refused step requested {refusal.requested} with {refusal.used} used "
            f"of {refusal.limited}.",
            "Free capacity: kubectl -n "
            f"{namespace} get pods --field-selector=status.phase=Running (finished notebooks, old runs).",
            f"Or raise the limit (the Profile's resourceQuotaSpec owns it in Kubeflow): kubectl edit profile "
            f"{namespace}  # spec.resourceQuotaSpec.hard",
            "Argo retries the pod creation on its own once the quota admits it.",
        ),
        *terminate(inp.facts, why, "free its quota while the limit is changed"),
    )


def _volumes(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    unbound = unbound_claims(steps_of(inp.facts), storage_of(inp.facts))[0]
    claim = unbound.claim
    return (
        _manual(
            "storage.fix-claim",
            f"persistentvolumeclaim/{claim.ref}",
            f"Make PersistentVolumeClaim {claim.ref} bindable — by hand",
            why,
            f"Why it is not bound: {unbound.why}.",
            f"Fix: {unbound.fix}.",
            f"Check: kubectl -n {claim.namespace} describe pvc {claim.name}; kubectl get storageclass",
            "A claim's storageClassName is immutable: after fixing the class, delete the claim so the "
            "pipeline's next run creates it again.",
        ),
        *terminate(inp.facts, why, "its volume cannot bind"),
    )


def _gpus(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    namespace, name = _workflow_ref(inp.facts)
    return (
        _manual(
            "gpu.add-capacity",
            f"workflow/{namespace}/{name}",
            "Free or add GPU capacity for the waiting step — by hand",
            why,
            "See which GPU nodes are down or unhealthy: `kfops diagnose gpu-node-down`.",
            "See who holds the GPUs: kubectl get pods -A -o wide | grep -v Completed "
            "(pods requesting nvidia.com/gpu).",
            "Add GPU nodes (cluster autoscaler / node pool) or lower the step's set_accelerator_limit().",
        ),
        *terminate(inp.facts, why, "stop waiting for GPUs"),
    )


def _scheduling(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    namespace, name = _workflow_ref(inp.facts)
    return (
        _manual(
            "scheduling.fix-constraints",
            f"workflow/{namespace}/{name}",
            "Make a node fit the waiting step (resources, taints, node selector) — by hand",
            why,
            "The scheduler's message (in the finding) lists what each node lacks.",
            "Lower the step's requests (set_cpu_request / set_memory_request), add a toleration or node "
            "selector that matches your nodes (kfp.kubernetes.add_toleration / add_node_selector), or "
            "add capacity.",
        ),
        *terminate(inp.facts, why, "it cannot be scheduled as written"),
    )


def _image(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    stuck = next(s for s in stuck_containers(steps_of(inp.facts)) if s.kind == "image-pull")
    image = stuck.pod.images.get(stuck.container.name, "")
    ns = stuck.pod.pod.namespace
    return (
        _manual(
            "pipeline.fix-image",
            f"pod/{stuck.pod.pod.ref}",
            f"Fix the step image {image} or the registry credentials — by hand",
            why,
            f"The registry said: {stuck.container.message or stuck.container.reason}",
            "If the tag is wrong: fix base_image / the component's image and submit a new run.",
            "If the registry needs credentials: create a docker-registry Secret in "
            f"{ns} and add it to the pipeline (kfp.kubernetes.set_image_pull_secrets) or to the "
            "ServiceAccount default-editor's imagePullSecrets.",
        ),
        *terminate(inp.facts, why, "its image cannot be pulled"),
    )


def _config(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    stuck = next(s for s in stuck_containers(steps_of(inp.facts)) if s.kind == "config-error")
    missing = missing_object(stuck.container.message)
    ns = stuck.pod.pod.namespace
    what = f"{missing[0]} {ns}/{missing[1]}" if missing else "the Secret or ConfigMap the message names"
    create = (
        f"kubectl -n {ns} create secret generic {missing[1]} --from-literal=<key>=<value>"
        if missing and missing[0] == "Secret"
        else f"kubectl -n {ns} create configmap {missing[1] if missing else '<name>'} "
        "--from-literal=<key>=<value>"
    )
    return (
        _manual(
            "config.create-missing",
            f"pod/{stuck.pod.pod.ref}",
            f"Create {what} the step needs — by hand",
            why,
            f"The kubelet said: {stuck.container.message}",
            create,
            "The kubelet retries on its own: the step starts as soon as the object (and key) exists.",
        ),
        *terminate(inp.facts, why, "a Secret/ConfigMap it needs is missing"),
    )


def _oom(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    kills = oom_kills(steps_of(inp.facts))
    step = kills[0].step
    limit = next((k.limit for k in kills if k.limit), "")
    current = parse_quantity(limit) if limit else None
    proposed = memory_for_humans(current * OOM_FACTOR) if current else "<twice the current limit>"
    return (
        _manual(
            "pipeline.raise-memory",
            f"workflow/{'/'.join(_workflow_ref(inp.facts))}",
            f"Raise step {step}'s memory from {limit or 'an unknown limit'} to {proposed} — by its author",
            why,
            f"In the pipeline definition: {step}_task.set_memory_limit('{proposed}')"
            f".set_memory_request('{proposed}')",
            "Compile and submit a new run: a retry re-runs the same spec with the same limit.",
            "If the memory use itself is the bug (a whole dataset loaded at once), fix the component.",
        ),
        *terminate(inp.facts, why, "it keeps being OOMKilled and retried"),
    )


def _crashloop(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    stuck = next(s for s in stuck_containers(steps_of(inp.facts)) if s.kind == "crashloop")
    ref = stuck.pod.pod
    return (
        _manual(
            "pipeline.fix-step",
            f"pod/{ref.ref}",
            f"Read why step pod {ref.name} crashes, then fix the component — by hand",
            why,
            f"kubectl -n {ref.namespace} logs {ref.name} -c {stuck.container.name} --previous --tail=100",
        ),
        delete_pod(
            stuck.pod, _workflow_ref(inp.facts)[1], why, "end the crash loop; Argo retries or fails the step"
        ),
    )


def _object_store(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    store = object_store_of(inp.facts)
    if store.deployment is not None:
        return (restart(store.deployment, why),)
    ns = inp.settings.kfp_namespace
    return (
        _manual(
            "storage.restore-object-store",
            f"service/{ns}/minio-service",
            "Bring the object store behind minio-service back — by hand",
            why,
            f"kubectl -n {ns} get svc minio-service -o wide; kubectl -n {ns} get pods -l app=seaweedfs",
        ),
    )


def _missing(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    run = run_of(inp.facts)
    ns = inp.settings.kfp_namespace
    return (
        _manual(
            "kfp.resubmit-run",
            f"run/{run.run_id}",
            "Find why the API server did not create the Workflow, then submit the run again — by hand",
            why,
            f"kubectl -n {ns} logs deploy/ml-pipeline --tail=200 | grep {run.run_id}",
            "Common causes: the pipeline's namespace has no kfp-launcher / artifact-repositories ConfigMap "
            "(kubeflow-pipelines-profile-controller not synced), or the API server cannot reach Kubernetes.",
        ),
    )


def _stalled(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    steps = steps_of(inp.facts)
    workflow: Workflow | None = steps.workflow
    if workflow is None:
        return ()
    running = (steps.pod_of(n.id) for n in workflow.active_pod_nodes() if n.phase == "Running")
    pod = next((p for p in running if p is not None), None)
    return (delete_pod(pod, workflow.name, why, "it runs without the Workflow moving"),) if pod else ()


def _failed(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    return retry(inp.facts, why)


def _unexplained(inp: ProposalInput, why: tuple[str, ...]) -> tuple[Proposal, ...]:
    return terminate(inp.facts, why, "it has not moved and no cause was found")


PROPOSERS: dict[str, Proposer] = {
    "workflow-controller-down": _controller,
    "task-results-rbac": _task_results,
    "metadata-db-unreachable": _database,
    "kfp-backend-down": _backend,
    "persistence-out-of-sync": _persistence,
    "quota-exceeded": _quota,
    "pvc-unbound": _volumes,
    "gpu-shortage": _gpus,
    "unschedulable": _scheduling,
    "image-pull": _image,
    "missing-config": _config,
    "oom-killed": _oom,
    "step-crashloop": _crashloop,
    "object-store-down": _object_store,
    "workflow-missing": _missing,
    "run-failed": _failed,
    "step-stalled": _stalled,
    "run-stalled": _unexplained,
}


propose = proposals_by_cause(PROPOSERS, RATIONALE)
