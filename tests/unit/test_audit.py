"""The audit log's hash chain: intact chains verify; any edit, removal or reorder is caught."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kfops.playbooks.audit import AuditLog


def _log(tmp_path: Path) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("requested", plan="abc", requester="alice")
    log.append("approved", plan="abc", approver="bob")
    log.append("executed", plan="abc", outcome="1 change(s) applied")
    return log


def test_an_intact_chain_verifies(tmp_path: Path) -> None:
    result = _log(tmp_path).verify()
    assert (result.ok, result.records, result.message) == (True, 3, "3 records, chain intact")


def test_an_altered_record_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = log.path.read_text().splitlines()
    record = json.loads(lines[1])
    record["approver"] = "mallory"
    lines[1] = json.dumps(record, sort_keys=True)
    log.path.write_text("\n".join(lines) + "\n")
    result = log.verify()
    assert not result.ok and result.message == "line 2 was altered after it was written"


def test_a_removed_record_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    result = log.verify()
    assert not result.ok and "line 2 does not follow line 1" in result.message


def test_a_garbled_line_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    with log.path.open("a") as handle:
        handle.write("{not json\n")
    assert log.verify().message == "line 4 is not JSON: the log was edited"


def test_cli_audit_verify_exit_codes(tmp_path: Path) -> None:
    log = _log(tmp_path)
    command = [sys.executable, "-m", "kfops", "audit", "verify", "--path", str(log.path)]
    ok = subprocess.run(command, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    log.path.write_text(log.path.read_text().replace("alice", "eve"))
    broken = subprocess.run(command, capture_output=True, text=True, check=False)
    assert broken.returncode == 1 and "line 1 was altered" in broken.stdout
