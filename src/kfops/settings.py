"""One typed configuration object: defaults, then a YAML file, then KFOPS_* environment variables.

Every setting says its unit and why it has its default (the kopf rule).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import yaml


class SettingsError(ValueError):
    pass


#: "namespace/name": a DNS-1123 label, then a DNS-1123 subdomain
_NAMESPACED = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?")


@dataclass(frozen=True)
class Settings:
    #: seconds a whole diagnosis may take before it returns what it has, marked incomplete.
    #: 30 s: longer than any healthy API answers, shorter than a human's patience at 3 a.m.
    deadline_s: float = 30.0
    #: seconds one probe may take (all its retries included) before it becomes an ERROR finding.
    probe_timeout_s: float = 12.0
    #: probes running at once; the API server's priority-and-fairness copes easily with this.
    max_parallel_probes: int = 8
    #: minutes a node must be NotReady/Unknown before the out-of-service taint is offered; the
    #: taint force-deletes pods, so a node that may still come back must not get it.
    out_of_service_after_min: float = 5.0
    #: minutes a proposal stays valid; after that the cluster may have changed under it.
    proposal_ttl_min: float = 15.0
    #: most GPU nodes whose pods are read to check spare capacity (keeps the request count of a
    #: diagnosis independent of cluster size).
    spare_capacity_max_nodes: int = 32
    #: hours of node events the ladder looks at.
    events_window_h: float = 6.0

    # --- Prometheus (optional: without a URL the Prometheus rungs say they were skipped) ---
    prometheus_url: str = ""
    prometheus_token: str = field(default="", repr=False)  # bearer token
    prometheus_username: str = ""  # basic auth
    prometheus_password: str = field(default="", repr=False)
    prometheus_ca_file: str = ""  # CA bundle for an https URL with a private CA
    #: minutes of history the Prometheus rungs look at (Xid, readiness flapping, utilisation)
    prometheus_window_min: float = 60.0

    # --- MariaDB Galera (the galera-migration-failure ladder; optional) ---
    #: node addresses "host:port,host:port"; or discover them from galera_mariadb
    galera_nodes: str = ""
    #: a mariadb-operator MariaDB "namespace/name", or "statefulset/namespace/name"
    galera_mariadb: str = ""
    galera_port: int = 3306
    #: the read-only user (grant SELECT, PROCESS); KFOPS_GALERA_USER / KFOPS_GALERA_PASSWORD
    galera_user: str = ""
    galera_password: str = field(default="", repr=False)
    #: or a Secret "namespace/name" with keys username and password (kfops needs `get` on it)
    galera_secret: str = ""
    #: nodes the cluster should have; 0: the MariaDB's replicas, else the number of nodes given
    galera_expected_size: int = 0
    #: schemas to examine, comma-separated; empty: every non-system schema (at most 200)
    galera_schemas: str = ""
    #: seconds to connect to a node and to wait for one answer; a dead node must not eat the deadline
    galera_connect_timeout_s: float = 3.0
    galera_read_timeout_s: float = 5.0
    #: seconds after which a DDL statement (ALTER, CREATE INDEX …) counts as long-running: on
    #: Galera a TOI DDL blocks every commit in the cluster while it runs
    galera_long_ddl_s: float = 60.0
    #: wsrep_last_committed may differ by this many write-sets between Synced nodes (apply lag)
    galera_commit_spread: int = 1000
    #: where the applications that migrate their schema run (KFP, MLMD, Katib, Model Registry)
    galera_app_namespace: str = "kubeflow"
    #: namespace of the mariadb-operator Backups; empty: the MariaDB's, else galera_app_namespace
    galera_backup_namespace: str = ""
    #: without mariadb-operator: the CronJob "namespace/name" that runs your own backup tool; its
    #: Jobs are the backup listing (kfops needs `get` on CronJobs and `list` on Jobs there)
    galera_backup_cronjob: str = ""
    #: MLMD schema version the deployed metadata server expects when its image tag is unknown
    #: (MLMD 1.14.0 = 10, domain.md §5.5)
    mlmd_schema_version: int = 10
    #: the one writer: ends a blocking session (galera.kill-query); needs CONNECTION ADMIN
    galera_admin_user: str = ""
    galera_admin_password: str = field(default="", repr=False)

    # --- Kubeflow Pipelines (the stuck-pipeline ladder) ---
    #: where KFP's backend runs: ml-pipeline, the persistence agent, metadata-grpc, the
    #: workflow-controller and the object store (minio-service / seaweedfs)
    kfp_namespace: str = "kubeflow"
    #: the KFP API server's base URL, e.g. http://ml-pipeline.kubeflow.svc:8888 in the cluster;
    #: empty: the ladder diagnoses from the Argo Workflow alone and says the API was not asked
    kfp_url: str = ""
    #: a bearer token for the API (KFOPS_KFP_TOKEN), or a file holding one (a projected
    #: ServiceAccount token, re-read on every call because it rotates)
    kfp_token: str = field(default="", repr=False)
    kfp_token_file: str = ""
    #: multi-user KFP behind no auth proxy trusts this header for the caller's identity
    #: (KUBEFLOW_USERID_HEADER of the API server); empty user: the header is not sent
    kfp_userid_header: str = "kubeflow-userid"
    kfp_userid: str = ""
    kfp_ca_file: str = ""
    #: seconds to wait for the KFP API: a hung API server must not eat the diagnosis deadline
    kfp_timeout_s: float = 5.0
    #: minutes a Workflow may go with no step starting or finishing, and no step pod running,
    #: before it counts as stuck: 30, the window of the KfopsPipelineRunsStalled alert, so the
    #: sweep finds what paged (a long training step is running, so it never counts)
    pipeline_stuck_after_min: float = 30.0
    #: minutes one step pod may run with nothing else moving before kfops suspects it is hung;
    #: a time alone cannot tell a hung step from long training, so the cause is low-confidence
    pipeline_step_hung_after_min: float = 240.0
    #: minutes a step pod may stay Pending before it counts as stuck rather than starting up
    pipeline_pending_after_min: float = 5.0

    # --- KServe (the kserve-flapping ladder) ---
    #: an InferenceService whose Ready condition changed more than this many times in
    #: kserve_flap_window_min is flapping (needs the kube-state-metrics custom-resource config in
    #: deploy/prometheus/ksm-inferenceservice.yaml; without it only "not Ready now" is seen)
    kserve_flap_changes: int = 3
    kserve_flap_window_min: float = 60.0
    #: the mode an InferenceService without status or annotation runs in: Kubeflow's manifests set
    #: defaultDeploymentMode "Serverless" (Knative); KServe's own default is "Standard"
    kserve_default_deployment_mode: str = "Knative"
    #: where Knative Serving runs (its config-autoscaler ConfigMap holds the cluster defaults)
    knative_namespace: str = "knative-serving"
    #: the five inference SLOs, the same seeds as the KfopsKServe* alerts: latency quantiles in
    #: seconds, the 5xx ratio, and scale-from-zero starts per hour
    kserve_slo_p50_s: float = 0.050
    kserve_slo_p95_s: float = 0.200
    kserve_slo_p99_s: float = 0.500
    kserve_slo_error_ratio: float = 0.001
    kserve_slo_cold_starts_per_h: float = 10.0
    #: a concurrency target this many times above or below the one Little's law recommends is off
    kserve_target_off_factor: float = 2.0
    #: minutes a predictor replica may run without becoming Ready, while others are Ready,
    #: before it counts as wedged (a model load takes minutes, so not less)
    kserve_wedged_after_min: float = 15.0

    # --- the Kubeflow Profile controller (the profile-controller-crashloop ladder) ---
    #: where it runs and its names, as in the upstream manifests (Kubeflow v1.10.0): Deployment
    #: profiles-deployment in kubeflow with the containers manager (the controller) and kfam
    #: (the access-management API the dashboard calls)
    profile_controller_namespace: str = "kubeflow"
    profile_controller_deployment: str = "profiles-deployment"
    profile_controller_manager_container: str = "manager"
    profile_controller_kfam_container: str = "kfam"
    #: hours back a Profile change counts as recent: a crash loop that began after an upgrade or
    #: a new Profile is usually hours old when someone looks, rarely days
    profile_change_window_h: float = 24.0

    # --- the remediation gate (playbooks) ---
    #: namespace of kfops' own state: approval records, locks (Leases), the pause/breaker switch.
    namespace: str = "kfops"
    #: minutes an approval stays valid; the cluster may have changed after that.
    approval_ttl_min: float = 15.0
    #: per-action overrides of the playbooks' default mode, "action=approve|manual|disabled,…"
    #: (e.g. "node.drain=manual" where drains must be done by hand); "*=manual" sets every
    #: action not named on its own (a diagnose-only install).
    action_modes: str = ""
    #: append-only, hash-chained audit log of every gated execution (JSON lines).
    audit_path: str = "~/.local/state/kfops/audit.jsonl"
    #: where `diagnose` remembers its proposals for `remediate` to find by id.
    state_dir: str = "~/.local/state/kfops"
    #: executions of one action allowed per window (a flapping alert must not cordon half a fleet).
    rate_limit_per_action: int = 3
    rate_window_min: float = 10.0
    #: the circuit breaker opens after this many executions of any action in its window, and
    #: stays open until a human runs `kfops breaker reset`.
    breaker_trip_after: int = 6
    breaker_window_min: float = 30.0
    #: never take a GPU node out of scheduling when fewer than this many schedulable GPU nodes,
    #: or this fraction of all GPU nodes, would remain.
    min_schedulable_gpu_nodes: int = 1
    min_schedulable_gpu_fraction: float = 0.5
    #: seconds a drain keeps retrying evictions a PodDisruptionBudget blocks (429) before it stops
    #: and reports what is left; re-running it resumes.
    drain_timeout_s: float = 120.0
    #: seconds an execution lock (a Lease per target) is held before another run may take it over.
    lock_duration_s: int = 300

    # --- `kfops serve` (Slack, PagerDuty, Alertmanager) ---
    #: secrets: read from their conventional environment variables (ENV_NAMES), never logged or shown
    slack_bot_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)  # Socket Mode (xapp-…)
    pagerduty_webhook_secret: str = field(default="", repr=False)
    pagerduty_api_token: str = field(default="", repr=False)
    alertmanager_token: str = field(default="", repr=False)
    #: signs approval-button values (HMAC); empty: derived from the Slack signing secret
    button_secret: str = field(default="", repr=False)
    #: API base URLs (tests point them at loopback recording servers)
    slack_api_url: str = "https://slack.com/api/"
    pagerduty_api_url: str = "https://api.pagerduty.com"
    #: the PagerDuty user email notes are written as (the REST API's required From header)
    pagerduty_from_email: str = ""
    #: the channel where alert-triggered diagnoses and their approval buttons are posted
    slack_channel: str = ""
    #: who may approve from Slack: user ids and user-group ids, comma-separated
    slack_approvers: str = ""
    slack_approver_groups: str = ""
    #: Slack user id → Kubernetes user executions impersonate ("U01=alice,U02=bob"); without an
    #: entry the execution runs as kfops' own service account and the audit record says so
    slack_identity_map: str = ""
    #: Profile owner (email) → Slack user id, for mentioning the owners of what broke
    slack_owner_map: str = ""
    #: who to mention besides the owners (e.g. "<!subteam^S0ONCALL>")
    slack_oncall_mention: str = ""
    #: the queue in front of the engine: bound, workers, and the window identical requests share
    queue_size: int = 100
    workers: int = 2
    coalesce_window_s: float = 120.0
    #: where the bot reads: a kubeconfig/context, or (demos, tests) a snapshot directory
    kubeconfig: str = ""
    context: str = ""
    snapshot_dir: str = ""
    #: optional YAML file of alert → runbook routing rules (docs/chatops.md)
    routes_file: str = ""

    #: settings read from conventional environment variables rather than KFOPS_<NAME>
    ENV_NAMES: ClassVar[dict[str, str]] = {
        "slack_bot_token": "SLACK_BOT_TOKEN",
        "slack_signing_secret": "SLACK_SIGNING_SECRET",
        "slack_app_token": "SLACK_APP_TOKEN",
    }

    #: settings that name one Kubernetes object as "namespace/name"
    NAMESPACED_NAMES: ClassVar[tuple[str, ...]] = ("galera_secret", "galera_backup_cronjob")

    @classmethod
    def load(cls, path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        settings = cls()
        file = path or (Path(environ["KFOPS_CONFIG"]) if environ.get("KFOPS_CONFIG") else None)
        if file:
            try:
                data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise SettingsError(f"cannot read settings file {file}: {exc}") from exc
            if not isinstance(data, dict):
                raise SettingsError(f"settings file {file} must hold a mapping")
            settings = settings._with(data, str(file))
        names = {f.name: cls.ENV_NAMES.get(f.name, f"KFOPS_{f.name.upper()}") for f in fields(cls)}
        env = {name: environ[var] for name, var in names.items() if var in environ}
        return settings._with(env, "environment")

    def _with(self, values: dict[str, Any], origin: str) -> Settings:
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, raw in values.items():
            name = key.replace("-", "_")
            if name not in known:
                raise SettingsError(f"unknown setting {key!r} in {origin}")
            current = getattr(self, name)
            try:
                changes[name] = type(current)(raw)
            except (TypeError, ValueError) as exc:
                raise SettingsError(
                    f"setting {key!r} in {origin}: {raw!r} is not a {type(current).__name__}"
                ) from exc
            if name in self.NAMESPACED_NAMES and changes[name] and not _NAMESPACED.fullmatch(changes[name]):
                raise SettingsError(f"setting {key!r} in {origin}: {raw!r} must be NAMESPACE/NAME")
        return replace(self, **changes)
