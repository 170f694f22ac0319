"""The versioned JSON document of a diagnosis (schema kfops.dev/diagnosis/v1, docs/json-schema.md).

Every renderer draws from this document, after redaction, so no surface can leak what another
masks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kfops.model import Diagnosis, Evidence, Finding
from kfops.render.redact import redact

SCHEMA = "kfops.dev/diagnosis/v1"
LIST_SCHEMA = "kfops.dev/diagnosis-list/v1"
MAX_TEXT = 4000
MAX_ITEMS = 50


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _bounded(data: Any) -> tuple[Any, bool]:
    """Data cut to a size a chat message or ticket can hold; the flag says whether it was cut."""
    if isinstance(data, str) and len(data) > MAX_TEXT:
        return data[-MAX_TEXT:], True
    if isinstance(data, list) and len(data) > MAX_ITEMS:
        return data[:MAX_ITEMS], True
    return data, False


def _evidence(e: Evidence) -> dict[str, Any]:
    data, cut = _bounded(e.data)
    return {
        "source": e.source.value,
        "query": e.query,
        "summary": e.summary,
        "observedAt": _time(e.observed_at),
        "window": e.window,
        "data": data,
        "truncated": e.truncated or cut,
    }


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rung": f.rung,
        "question": f.question,
        "status": f.status.value,
        "summary": f.summary,
        "branch": f.branch,
        "subject": f.subject,
        "fingerprint": f.fingerprint,
        "evidence": [_evidence(e) for e in f.evidence],
    }


def document(d: Diagnosis) -> dict[str, Any]:
    doc = {
        "schema": SCHEMA,
        "runId": d.run_id,
        "runbook": d.ladder,
        "title": d.ladder_title,
        "target": d.target,
        "source": d.source,
        "status": d.conclusion.verdict.value,
        "conclusion": {
            "summary": d.conclusion.summary,
            "cause": d.conclusion.cause,
            "confidence": d.conclusion.confidence,
        },
        "selfHealth": [f"{f.rung}: {f.summary}" for f in d.errors],
        "findings": [_finding(f) for f in d.findings],
        "proposals": [p.to_dict() for p in d.proposals],
        "startedAt": _time(d.started_at),
        "finishedAt": _time(d.finished_at),
        "durationSeconds": round(d.duration_s, 3),
        "deadlineExceeded": d.deadline_exceeded,
        "stats": {
            "requests": d.stats.requests,
            "memoHits": d.stats.memo_hits,
            "errors": d.stats.errors,
            "bytes": d.stats.bytes,
            "slowestRequestSeconds": d.stats.slowest_request_s,
        },
        "doc": f"docs/runbooks/{d.ladder}.md",
    }
    redacted: dict[str, Any] = redact(doc)
    return redacted


def documents(diagnoses: list[Diagnosis]) -> dict[str, Any]:
    """One document for one diagnosis; a list document when a sweep found several targets."""
    if len(diagnoses) == 1:
        return document(diagnoses[0])
    worst = max(diagnoses, key=lambda d: d.conclusion.verdict.rank)
    return {
        "schema": LIST_SCHEMA,
        "status": worst.conclusion.verdict.value,
        "items": [document(d) for d in diagnoses],
    }
