"""What a surface asks the bot for, and where the answer must go."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reply:
    """Where a diagnosis' result is posted. Any subset may be set."""

    slack_channel: str | None = None
    slack_thread_ts: str | None = None
    slack_response_url: str | None = None
    slack_user: str | None = None  # who asked (mentioned in the answer)
    pagerduty_incident: str | None = None
    alertmanager_group: str | None = None


@dataclass(frozen=True)
class DiagnosisRequest:
    ladder: str
    target: str | None  # None: the ladder's sweep
    source: str  # slack | pagerduty | alertmanager
    requested_by: str  # Slack user id, "pagerduty:<incident id>", "alertmanager:<receiver>"
    reply: Reply = field(default_factory=Reply)
    labels: tuple[tuple[str, str], ...] = ()  # alert labels, for routing to owners

    @property
    def key(self) -> str:
        """Identical (ladder, target) requests coalesce under this key."""
        return hashlib.sha256(f"{self.ladder}\x1f{self.target or '*'}".encode()).hexdigest()[:16]
