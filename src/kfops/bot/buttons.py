"""Signed approval-button values: what a click may ask for, and proof kfops wrote it.

A button's `value` comes back verbatim in the click, but it crossed Slack and the user's client,
so kfops trusts nothing in it unless it carries kfops' own signature:

    k1.<base64url(compact JSON)>.<base64url(HMAC-SHA256(secret, "k1.<base64url(JSON)>"))>

The JSON holds the run id, the proposal id, its action, who asked for the diagnosis, the channel
the button was posted to, when it was issued and when it expires. An edited value fails the
HMAC (compared in constant time), an old one is expired; either way nothing runs. Slack's own
request signature (checked by Bolt) proves the click came from Slack; this proves the button did
not come from someone else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from kfops.settings import Settings

VERSION = "k1"
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
MAX_VALUE = 2000  # Slack's limit on a button value
#: seconds a value may claim to be issued in the future (clock skew between replicas)
FUTURE_SKEW_S = 60


class ButtonError(ValueError):
    """The button value cannot be trusted; nothing may run. The message is safe to show."""


class MalformedButton(ButtonError):
    pass


class TamperedButton(ButtonError):
    pass


class ExpiredButton(ButtonError):
    pass


def button_secret(settings: Settings) -> bytes:
    """settings.button_secret, else a key derived from the Slack signing secret.

    Derived rather than reused, so a leaked button key does not let anyone sign Slack requests.
    """
    if settings.button_secret:
        return settings.button_secret.encode()
    if not settings.slack_signing_secret:
        raise ValueError("approval buttons need KFOPS_BUTTON_SECRET or SLACK_SIGNING_SECRET")
    return hmac.new(settings.slack_signing_secret.encode(), b"kfops-buttons", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedButton("the button value is not kfops' encoding") from exc


def _mac(secret: bytes, signed_part: str) -> bytes:
    return hmac.new(secret, signed_part.encode("ascii"), hashlib.sha256).digest()


def sign(payload: dict[str, Any], secret: bytes, now: float, ttl_s: float = 900.0) -> str:
    """A button value carrying `payload`, issued at `now` (Unix seconds), valid for `ttl_s`."""
    claims = {**payload, "iat": int(now), "exp": int(now + ttl_s)}
    body = json.dumps(claims, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    signed_part = f"{VERSION}.{_b64(body.encode())}"
    value = f"{signed_part}.{_b64(_mac(secret, signed_part))}"
    if len(value) > MAX_VALUE:
        raise ValueError(f"a signed button value of {len(value)} characters exceeds Slack's {MAX_VALUE}")
    return value


def verify(value: str, secret: bytes, now: float) -> dict[str, Any]:
    """The payload of a value kfops signed, still valid at `now`; else a ButtonError subclass."""
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE:
        raise MalformedButton("the button value is missing or too long")
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != VERSION or not all(_B64URL.fullmatch(p) for p in parts[1:]):
        raise MalformedButton("the button value is not kfops' format")
    signed_part = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_mac(secret, signed_part), _unb64(parts[2])):
        raise TamperedButton("the button value was altered or not signed by kfops")
    try:
        claims = json.loads(_unb64(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedButton("the signed button value does not hold JSON") from exc
    if not isinstance(claims, dict):
        raise MalformedButton("the signed button value does not hold an object")
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int) or not isinstance(expires, int):
        raise MalformedButton("the signed button value has no issue and expiry times")
    if issued > now + FUTURE_SKEW_S:
        raise MalformedButton("the button claims to be issued in the future")
    if now >= expires:
        raise ExpiredButton(
            f"this button expired {int(now - expires) // 60} min ago: diagnose again for fresh proposals"
        )
    return claims


@dataclass(frozen=True)
class ApprovalClaim:
    """What an approve button asks for (short keys keep the value far below Slack's limit)."""

    run_id: str
    proposal_id: str
    action: str
    requester: str  # who asked for the diagnosis: a Slack user id or "alertmanager:…"
    channel: str  # where the button was posted: a value replayed elsewhere is refused
    issued_at: int = 0
    expires_at: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "r": self.run_id,
            "p": self.proposal_id,
            "a": self.action,
            "q": self.requester,
            "c": self.channel,
        }

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> ApprovalClaim:
        fields = ("r", "p", "a", "q", "c")
        if not all(isinstance(claims.get(k), str) and claims[k] for k in fields):
            raise MalformedButton("the signed button value is not an approval")
        return cls(
            claims["r"], claims["p"], claims["a"], claims["q"], claims["c"], claims["iat"], claims["exp"]
        )

    def sign(self, secret: bytes, now: float, ttl_s: float) -> str:
        return sign(self.payload(), secret, now, ttl_s)

    @classmethod
    def verify(cls, value: str, secret: bytes, now: float) -> ApprovalClaim:
        return cls.from_claims(verify(value, secret, now))
