"""Slack and PagerDuty: the settings `kfops serve` needs are complete and well-formed.

Secrets are never shown: a row says only whether one is set and whether its shape is right
(a Slack bot token starts xoxb-, an app-level token xapp-). Offline: nothing is sent to Slack or
PagerDuty (a token check would be a call to a SaaS the doctor's network may not reach).
"""

from __future__ import annotations

import re

from kfops.doctor.rows import Level, Row
from kfops.settings import Settings

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")
SLACK_CHANNEL = re.compile(r"^([CGD][A-Z0-9]{2,}|#?[a-z0-9][a-z0-9._-]{0,79})$")
SIGNING_SECRET = re.compile(r"^[0-9a-f]{32}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _is_set(value: str) -> str:
    return "set" if value else "not set"


def slack(settings: Settings, playbooks_enabled: bool) -> list[Row]:
    s, group = settings, "slack"
    configured = any(
        (s.slack_bot_token, s.slack_signing_secret, s.slack_app_token, s.slack_channel, s.slack_approvers)
    )
    if not configured:
        return [
            Row(
                group,
                "configured",
                Level.SKIPPED,
                "no Slack settings: `kfops serve` runs without Slack",
                "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)",
            )
        ]
    rows: list[Row] = []
    if not s.slack_bot_token:
        rows.append(Row(group, "bot token", Level.FAIL, "not set", "set SLACK_BOT_TOKEN (xoxb-…)"))
    elif not s.slack_bot_token.startswith("xoxb-"):
        rows.append(
            Row(
                group,
                "bot token",
                Level.FAIL,
                "set, but not a bot token (it must start xoxb-)",
                "use the app's Bot User OAuth Token (OAuth & Permissions), not a user or app-level token",
            )
        )
    else:
        rows.append(Row(group, "bot token", Level.OK, "set (xoxb-)"))
    if s.slack_app_token and not s.slack_app_token.startswith("xapp-"):
        rows.append(
            Row(
                group,
                "app token",
                Level.FAIL,
                "set, but not an app-level token (it must start xapp-)",
                "generate an app-level token with connections:write (Basic Information) for Socket Mode",
            )
        )
    elif s.slack_app_token:
        rows.append(Row(group, "app token", Level.OK, "set (xapp-): Socket Mode possible"))
    if not s.slack_signing_secret and not s.slack_app_token:
        rows.append(
            Row(
                group,
                "signing secret",
                Level.FAIL,
                "not set, and no app token: Slack requests cannot be verified",
                "set SLACK_SIGNING_SECRET (Basic Information → App Credentials), or SLACK_APP_TOKEN "
                "and run `kfops serve --socket-mode`",
            )
        )
    elif s.slack_signing_secret and not SIGNING_SECRET.match(s.slack_signing_secret):
        rows.append(
            Row(
                group,
                "signing secret",
                Level.WARN,
                "set, but not 32 hexadecimal characters like Slack's signing secrets",
                "copy the Signing Secret (not the Client Secret or a token) from App Credentials",
            )
        )
    elif s.slack_signing_secret:
        rows.append(Row(group, "signing secret", Level.OK, "set"))
    alerts = bool(s.pagerduty_webhook_secret or s.alertmanager_token)
    if not s.slack_channel:
        rows.append(
            Row(
                group,
                "channel",
                Level.FAIL if alerts else Level.WARN,
                "not set: alert-triggered diagnoses have nowhere to go"
                + (" (PagerDuty/Alertmanager are configured)" if alerts else ""),
                "set KFOPS_SLACK_CHANNEL to a channel id (C…) the bot is in",
            )
        )
    elif not SLACK_CHANNEL.match(s.slack_channel):
        rows.append(
            Row(
                group,
                "channel",
                Level.FAIL,
                f"{s.slack_channel!r} is not a channel id (C…, G…) or name",
                "use the channel id (channel details → bottom)",
            )
        )
    else:
        rows.append(Row(group, "channel", Level.OK, s.slack_channel))
    rows += _approvers(s, playbooks_enabled)
    rows += _identity_map(s)
    return rows


def _approvers(s: Settings, playbooks_enabled: bool) -> list[Row]:
    group = "slack"
    users, groups = _split(s.slack_approvers), _split(s.slack_approver_groups)
    bad = [u for u in users if not SLACK_USER.match(u)] + [g for g in groups if not SLACK_GROUP.match(g)]
    if bad:
        return [
            Row(
                group,
                "approvers",
                Level.FAIL,
                f"not Slack ids: {', '.join(bad)}",
                "slack_approvers takes user ids (U…/W…), slack_approver_groups user-group ids (S…)",
            )
        ]
    if not users and not groups:
        if playbooks_enabled:
            return [
                Row(
                    group,
                    "approvers",
                    Level.FAIL,
                    "playbooks are enabled but nobody may approve from Slack",
                    "set KFOPS_SLACK_APPROVERS (user ids) or KFOPS_SLACK_APPROVER_GROUPS (group ids), "
                    "or make every action manual in settings.action_modes",
                )
            ]
        return [Row(group, "approvers", Level.OK, "none needed: every playbook is manual or disabled")]
    return [Row(group, "approvers", Level.OK, f"{len(users)} user(s), {len(groups)} group(s)")]


def _identity_map(s: Settings) -> list[Row]:
    bad = []
    for item in _split(s.slack_identity_map):
        slack_id, _, who = item.partition("=")
        user, _, group = who.partition("|")
        if not SLACK_USER.match(slack_id.strip()) or not user.strip() or "|" in group:
            bad.append(item)
    if bad:
        return [
            Row(
                "slack",
                "identity map",
                Level.FAIL,
                f"malformed entries: {', '.join(bad)}",
                "write U01=alice,U02=bob|gpu-oncall (Slack user id = Kubernetes user, at most one group)",
            )
        ]
    return []


def pagerduty(settings: Settings) -> list[Row]:
    s, group = settings, "pagerduty"
    if not (s.pagerduty_webhook_secret or s.pagerduty_api_token or s.pagerduty_from_email):
        return [
            Row(
                group,
                "configured",
                Level.SKIPPED,
                "no PagerDuty settings: `kfops serve` runs without PagerDuty",
                "set KFOPS_PAGERDUTY_WEBHOOK_SECRET, KFOPS_PAGERDUTY_API_TOKEN and "
                "KFOPS_PAGERDUTY_FROM_EMAIL",
            )
        ]
    rows = []
    if not s.pagerduty_webhook_secret:
        rows.append(
            Row(
                group,
                "webhook secret",
                Level.FAIL,
                "not set: PagerDuty webhooks cannot be verified, so none is accepted",
                "set KFOPS_PAGERDUTY_WEBHOOK_SECRET (the v3 webhook subscription's signing secret)",
            )
        )
    else:
        rows.append(Row(group, "webhook secret", Level.OK, "set"))
    if not s.pagerduty_api_token:
        rows.append(
            Row(
                group,
                "API token",
                Level.FAIL,
                "not set: diagnoses cannot be posted as incident notes",
                "set KFOPS_PAGERDUTY_API_TOKEN (a REST API key)",
            )
        )
    else:
        rows.append(Row(group, "API token", Level.OK, _is_set(s.pagerduty_api_token)))
    if not s.pagerduty_from_email:
        rows.append(
            Row(
                group,
                "from email",
                Level.FAIL,
                "not set: the REST API refuses notes without a From user",
                "set KFOPS_PAGERDUTY_FROM_EMAIL to a PagerDuty user's email",
            )
        )
    elif not EMAIL.match(s.pagerduty_from_email):
        rows.append(
            Row(
                group,
                "from email",
                Level.FAIL,
                f"{s.pagerduty_from_email!r} is not an email address",
                "set KFOPS_PAGERDUTY_FROM_EMAIL to a PagerDuty user's email",
            )
        )
    else:
        rows.append(Row(group, "from email", Level.OK, s.pagerduty_from_email))
    return rows


def surfaces(settings: Settings) -> list[Row]:
    s = settings
    slack_ok = bool(s.slack_bot_token and (s.slack_signing_secret or s.slack_app_token))
    if slack_ok or s.pagerduty_webhook_secret or s.alertmanager_token:
        return []
    return [
        Row(
            "serve",
            "surfaces",
            Level.WARN,
            "no surface configured: `kfops serve` would answer only /healthz and /metrics",
            "configure Slack, PagerDuty or KFOPS_ALERTMANAGER_TOKEN (docs/chatops.md)",
        )
    ]
