"""`kfops doctor` without a cluster: an unreachable API server, usage errors, and the Slack /
PagerDuty settings checks (secrets never shown)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kfops.cli.main import app
from kfops.doctor import Level, Row
from kfops.doctor.chatops import pagerduty, slack, surfaces
from kfops.settings import Settings

BOT_TOKEN = "xoxb-1111111111-2222222222-abcdefghijklmnopqrstuvwx"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APP_TOKEN = "xapp-1-A0123456789-1234567890123-deadbeefdeadbeef"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unreachable_kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "gone",
                        "cluster": {
                            "server": f"https://127.0.0.1:{_closed_port()}",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
                "current-context": "gone",
            }
        )
    )
    return path


def test_an_unreachable_api_server_is_one_fail_and_exit_1(tmp_path: Path) -> None:
    kubeconfig = _unreachable_kubeconfig(tmp_path)
    result = CliRunner().invoke(app, ["doctor", "--kubeconfig", str(kubeconfig), "-o", "json"], env={})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    checks = json.loads(result.stdout)["checks"]
    failed = [c for c in checks if c["status"] == "FAIL"]
    assert [(c["group"], c["check"]) for c in failed] == [("kubernetes", "API server")]
    assert "127.0.0.1" in failed[0]["detail"] and failed[0]["fix"]
    assert any(c["group"] == "permissions" and c["status"] == "SKIPPED" for c in checks)


def test_the_text_table_never_shows_a_secret(tmp_path: Path) -> None:
    kubeconfig = _unreachable_kubeconfig(tmp_path)
    env = {
        "SLACK_BOT_TOKEN": "xoxp-user-token-not-a-bot-1234567890",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "KFOPS_PAGERDUTY_WEBHOOK_SECRET": "pd-webhook-secret-value",
        "KFOPS_PAGERDUTY_API_TOKEN": "pd-api-token-value",
        "COLUMNS": "250",
    }
    result = CliRunner().invoke(app, ["doctor", "--kubeconfig", str(kubeconfig)], env=env)
    assert result.exit_code == 1
    for secret in (env["SLACK_BOT_TOKEN"], SIGNING_SECRET, "pd-webhook-secret-value", "pd-api-token-value"):
        assert secret not in result.output
    assert "xoxb-" in result.output  # the bot-token row says what shape is expected
    assert "Traceback" not in result.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["doctor", "--config", str(tmp_path / "nope.yaml")], env={})
    assert missing.exit_code == 2 and "cannot read settings file" in missing.output
    assert runner.invoke(app, ["doctor", "-o", "yaml"], env={}).exit_code == 2


def _by_check(rows: list[Row]) -> dict[str, Row]:
    return {r.check: r for r in rows}


def test_slack_complete_is_ok() -> None:
    settings = Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret="0123456789abcdef0123456789abcdef",
        slack_channel="C0123ABCD",
        slack_approvers="U01ABC,W02DEF",
        slack_approver_groups="S0ONCALL",
    )
    rows = slack(settings, playbooks_enabled=True)
    assert all(r.status is Level.OK for r in rows), rows
    assert not surfaces(settings)


def test_slack_incomplete_or_malformed_fails() -> None:
    rows = _by_check(
        slack(
            Settings(
                slack_bot_token="xoxp-a-user-token-0000000000",
                slack_app_token="xoxb-wrong-kind-of-token-00000",
                slack_approvers="alice",
                slack_identity_map="alice=bob",
                pagerduty_webhook_secret="x",
            ),
            playbooks_enabled=True,
        )
    )
    assert rows["bot token"].status is Level.FAIL and "xoxb-" in rows["bot token"].detail
    assert rows["app token"].status is Level.FAIL and "xapp-" in rows["app token"].detail
    assert rows["channel"].status is Level.FAIL  # PagerDuty is configured: alerts need a channel
    assert rows["approvers"].status is Level.FAIL and "alice" in rows["approvers"].detail
    assert rows["identity map"].status is Level.FAIL
    for row in rows.values():
        assert "xoxp-a-user-token" not in row.detail + row.fix
        assert "xoxb-wrong-kind" not in row.detail + row.fix


def test_slack_without_approvers_fails_only_when_a_playbook_is_enabled() -> None:
    base = {"slack_bot_token": BOT_TOKEN, "slack_app_token": APP_TOKEN, "slack_channel": "C0123ABCD"}
    enabled = _by_check(slack(Settings(**base), playbooks_enabled=True))  # type: ignore[arg-type]
    assert enabled["approvers"].status is Level.FAIL and "action_modes" in enabled["approvers"].fix
    manual = _by_check(slack(Settings(**base), playbooks_enabled=False))  # type: ignore[arg-type]
    assert manual["approvers"].status is Level.OK
    assert "signing secret" not in manual  # Socket Mode: the app token replaces it
    missing = _by_check(slack(Settings(slack_bot_token=BOT_TOKEN), playbooks_enabled=False))
    assert missing["signing secret"].status is Level.FAIL


def test_pagerduty_pairing() -> None:
    assert pagerduty(Settings())[0].status is Level.SKIPPED
    rows = _by_check(pagerduty(Settings(pagerduty_webhook_secret="s", pagerduty_from_email="not-an-email")))
    assert rows["webhook secret"].status is Level.OK and rows["webhook secret"].detail == "set"
    assert rows["API token"].status is Level.FAIL
    assert rows["from email"].status is Level.FAIL
    ok = pagerduty(
        Settings(
            pagerduty_webhook_secret="s", pagerduty_api_token="t", pagerduty_from_email="oncall@example.com"
        )
    )
    assert all(r.status is Level.OK for r in ok)
