"""Job playbooks: re-run a failed Job (job.rerun), e.g. a schema migration that failed on a
transient cause (a metadata-lock wait, a node that left the cluster mid-migration).

A Job's pod template is immutable and a failed Job never retries again, so a re-run is what
``kubectl replace --force`` does, made safe: delete exactly the Job that was diagnosed (uid
precondition) with ``propagationPolicy: Background`` so its failed pods go too (batch/v1 Jobs
orphan their pods by default), then create a Job with the same name and spec, minus what the
API server and the Job controller generated (uid, selector, controller-uid labels), so it gets
a fresh uid and selector and can never adopt the old pods.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from kfops.clients.errors import ConfigurationError, NotFound, ReaderError
from kfops.clients.galera.queries import FLYWAY, GOLANG_MIGRATE
from kfops.clients.protocols import GaleraReader, KubeWriter
from kfops.clients.resources import JOBS, PODS
from kfops.clients.sources import open_galera
from kfops.model import Proposal, Risk
from kfops.playbooks.base import Context, Outcome, Playbook, Verification, run_step
from kfops.playbooks.plan import Plan, PlanRefused, Step

#: labels the API server puts on a Job and its pod template (and selects on): a new run gets new ones
GENERATED_LABELS = frozenset(
    {"controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name"}
)
#: metadata kept from the old Job; everything else (uid, resourceVersion, creationTimestamp,
#: generation, managedFields, finalizers, deletion marks) belongs to the old object
KEPT_METADATA = ("name", "namespace", "labels", "annotations", "ownerReferences")
#: seconds execute waits for the old Job to disappear before creating the new one
GONE_S = 30.0
POLL_S = 0.2


def _condition(raw: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (raw.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def fresh_job(raw: dict[str, Any]) -> dict[str, Any]:
    """The old Job as a new object: same name and spec, nothing the API server or controller generated."""
    meta = raw.get("metadata") or {}
    metadata = {k: copy.deepcopy(meta[k]) for k in KEPT_METADATA if meta.get(k)}
    labels = {k: v for k, v in (metadata.pop("labels", None) or {}).items() if k not in GENERATED_LABELS}
    if labels:
        metadata["labels"] = labels
    spec = copy.deepcopy(raw.get("spec") or {})
    if not spec.get("manualSelector"):  # a selector the user wrote is theirs to keep
        spec.pop("selector", None)
        template_meta = (spec.get("template") or {}).get("metadata") or {}
        kept = {k: v for k, v in (template_meta.get("labels") or {}).items() if k not in GENERATED_LABELS}
        if kept:
            template_meta["labels"] = kept
        else:
            template_meta.pop("labels", None)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def _target(proposal: Proposal) -> tuple[str, str, str]:
    namespace, name, uid = (str(proposal.params.get(k) or "") for k in ("namespace", "job", "uid"))
    if not (namespace and name and uid):
        raise PlanRefused(f"{proposal.action} needs the Job's namespace, name and uid in its parameters")
    return namespace, name, uid


def _bookkeeping(reader: GaleraReader, node: str, schema: str) -> str:
    """What the migration tools' tables in ``schema`` say on ``node``, or PlanRefused when a tool
    left it half-way: golang-migrate's ``dirty = 1`` or Flyway's newest row with ``success = 0``.
    Either tool refuses to run on such a schema, so re-running the Job would only fail again."""
    said = []
    try:
        rows = reader.query_in(node, schema, GOLANG_MIGRATE).value
    except NotFound:
        rows = None
    if rows is not None:
        dirty = [r for r in rows if str(r.get("dirty")).lower() in ("1", "true")]
        if dirty:
            raise PlanRefused(
                f"schema {schema} is dirty at version {dirty[0].get('version')} on {node} "
                "(a migration stopped half-way): restore or force the version first "
                "(`migrate force <last good version>`), then re-run the Job"
            )
        said.append("version " + (", ".join(str(r.get("version")) for r in rows) or "none"))
    try:
        history = reader.query_in(node, schema, FLYWAY).value
    except NotFound:
        history = None
    if history:
        newest = history[0]  # ORDER BY installed_rank DESC
        if str(newest.get("success")).lower() in ("0", "false"):
            raise PlanRefused(
                f"schema {schema} has a failed Flyway migration on {node} (version "
                f"{newest.get('version')}, {newest.get('description')!s}): undo its half-applied changes "
                "or restore, run `flyway repair`, then re-run the Job"
            )
        said.append(f"Flyway at {newest.get('version')}")
    return ", ".join(said) or "no migration table yet"


def _schema_is_clean(ctx: Context, proposal: Proposal) -> str:
    """A note saying the migration schema is clean, or PlanRefused when it is not or cannot be read.

    Every reachable node is read, because during an incident they may disagree.
    """
    nodes, schema = proposal.params.get("galeraNodes"), str(proposal.params.get("schema") or "")
    if not nodes or not schema or not isinstance(nodes, list):
        return ""
    try:
        reader = open_galera(ctx.settings, ctx.reader, tuple(str(n) for n in nodes))
    except ConfigurationError as exc:
        raise PlanRefused(f"cannot check the migration tables in {schema}: {exc}") from exc
    if reader is None:
        return ""
    read: dict[str, str] = {}
    failed: list[str] = []
    try:
        for node in reader.nodes():
            try:
                read[node] = _bookkeeping(reader, node, schema)
            except ReaderError as exc:
                failed.append(f"{node}: {exc.message}")
    finally:
        close = getattr(reader, "close", None)
        if callable(close):
            close()
    if not read:
        raise PlanRefused(
            f"cannot read the migration tables in {schema} on any node ({'; '.join(failed)}): "
            "a re-run on a half-migrated schema fails again, so check it by hand first"
        )
    return f"schema {schema} is not dirty: " + "; ".join(f"{n} {v}" for n, v in read.items())


class RerunJob(Playbook):
    action = "job.rerun"
    risk = Risk.MEDIUM
    writes = (("delete", JOBS, ""), ("create", JOBS, ""))

    def plan(self, ctx: Context, proposal: Proposal) -> Plan:
        namespace, name, uid = _target(proposal)
        ref = f"{namespace}/{name}"
        try:
            raw = ctx.reader.get(JOBS, name, namespace).value
        except NotFound as exc:
            raise PlanRefused(f"Job {ref} no longer exists (re-run or removed already?)") from exc
        meta, status = raw.get("metadata") or {}, raw.get("status") or {}
        if meta.get("uid") != uid:
            raise PlanRefused(
                f"Job {ref} is not the one diagnosed (uid {meta.get('uid')}, not {uid}): "
                "it was re-created since; diagnose again"
            )
        if meta.get("deletionTimestamp"):
            raise PlanRefused(f"Job {ref} is being deleted already")
        failed = _condition(raw, "Failed")
        if failed is None:
            state = "succeeded" if _condition(raw, "Complete") else "not failed (yet)"
            raise PlanRefused(f"Job {ref} has {state}: only a failed Job is re-run")
        if int(status.get("active") or 0) > 0:
            raise PlanRefused(f"Job {ref} still has {status['active']} active pod(s): wait until they end")
        owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        if owner is not None:
            raise PlanRefused(
                f"Job {ref} is controlled by {owner.get('kind')} {owner.get('name')}: re-run it through "
                "its controller, which would otherwise race kfops over the new Job"
            )
        notes = [
            f"failed: {failed.get('reason') or 'no reason'}: {failed.get('message') or 'no message'}",
            "propagationPolicy Background: the garbage collector deletes the old run's pods",
        ]
        clean = _schema_is_clean(ctx, proposal)
        if clean:
            notes.append(clean)
        steps = (
            Step(
                verb="delete",
                ref=JOBS,
                name=name,
                namespace=namespace,
                body={},
                description=f"delete failed Job {ref} (uid {uid}) and its pods",
                uid=uid,
                propagation="Background",
            ),
            Step(
                verb="create",
                ref=JOBS,
                name=name,
                namespace=namespace,
                body=fresh_job(raw),
                description=f"create Job {ref} again from the same spec",
            ),
        )
        return Plan(
            proposal,
            steps,
            (f"- job {ref} (uid {uid}, failed) and its pods", f"+ job {ref}: a new run of the same spec"),
            tuple(notes),
        )

    def dry_run(self, ctx: Context, writer: KubeWriter, plan: Plan) -> list[str]:
        """The delete with ``dryRun=All``; the create too, but under ``generateName``: the name is
        taken until the delete really runs, so a dry-run create by name could only say AlreadyExists."""
        delete, create = plan.steps
        probe = copy.deepcopy(create.body)
        probe["metadata"].pop("name", None)
        probe["metadata"]["generateName"] = f"{create.name}-"
        step = delete
        try:
            run_step(writer, delete, dry_run=True)
            step = create
            writer.create(JOBS, create.namespace, probe, dry_run=True)
        except ReaderError as exc:
            raise PlanRefused(
                f"the API server refused the dry-run of {step.command()}: {exc.message}"
            ) from exc
        return [
            f"dry-run OK: {delete.command()} (uid precondition, propagationPolicy Background)",
            f"dry-run OK: {create.command()} (validated under generateName {create.name}-: "
            "the name itself is free only once the delete has run)",
        ]

    def execute(self, ctx: Context, writer: KubeWriter, plan: Plan) -> Outcome:
        """Delete, wait until the name is free, create; a failure says what was done and how to finish."""
        delete, create = plan.steps
        ref = f"{delete.namespace}/{delete.name}"
        try:
            run_step(writer, delete, dry_run=False)
        except ReaderError as exc:
            return Outcome(False, f"stopped at {delete.command()}: {exc.message}; nothing was changed")
        done = [delete.command()]
        deadline = time.monotonic() + GONE_S
        while True:
            try:
                current = ctx.reader.get(JOBS, delete.name, delete.namespace).value
            except NotFound:
                break
            except ReaderError as exc:
                return Outcome(
                    False,
                    f"deleted the old Job, but cannot tell whether it is gone ({exc.message}); once it is, "
                    f"create it from the body of plan {plan.id}'s create step",
                    tuple(done),
                )
            if (current.get("metadata") or {}).get("uid") != delete.uid:
                return Outcome(
                    False,
                    f"deleted the old Job, but another Job {ref} appeared meanwhile; kfops created none",
                    tuple(done),
                )
            if time.monotonic() >= deadline:
                return Outcome(
                    False,
                    f"deleted the old Job, but it still exists after {GONE_S:g} s (finalizers?); once it is "
                    f"gone, create it from the body of plan {plan.id}'s create step",
                    tuple(done),
                )
            time.sleep(POLL_S)
        try:
            run_step(writer, create, dry_run=False)
        except ReaderError as exc:
            return Outcome(
                False,
                f"deleted the old Job but could not create the new one: {exc.message}; create it from the "
                f"body of plan {plan.id}'s create step",
                tuple(done),
            )
        done.append(create.command())
        return Outcome(True, f"Job {ref} re-created: a new run of the same spec", tuple(done))

    def verify(self, ctx: Context, plan: Plan) -> Verification:
        delete = plan.steps[0]
        ref = f"{delete.namespace}/{delete.name}"
        try:
            return self._rerun(ctx, delete, ref)
        except NotFound:
            return Verification(False, f"no Job {ref} exists: the re-run was not created")
        except ReaderError as exc:
            return Verification(False, f"cannot verify Job {ref}: {exc.headline}")

    def _rerun(self, ctx: Context, delete: Step, ref: str) -> Verification:
        raw = ctx.reader.get(JOBS, delete.name, delete.namespace).value
        uid = (raw.get("metadata") or {}).get("uid")
        if uid == delete.uid:
            return Verification(False, f"Job {ref} is still the old run (uid {uid})")
        old = ctx.reader.list(
            PODS, delete.namespace, label_selector=f"batch.kubernetes.io/controller-uid={delete.uid}"
        ).value
        left = (
            f"; {len(old)} pod(s) of the old run remain until the garbage collector deletes them"
            if old
            else ""
        )
        return Verification(True, f"Job {ref} runs again as a new Job (uid {uid}){left}")
