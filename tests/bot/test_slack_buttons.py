"""Signed button values: only what kfops signed, unaltered and unexpired, is trusted."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json

import pytest

from kfops.bot.buttons import (
    ApprovalClaim,
    ExpiredButton,
    MalformedButton,
    TamperedButton,
    button_secret,
    sign,
    verify,
)
from kfops.settings import Settings

SECRET = b"button-secret"
NOW = 1_763_600_000.0
CLAIM = ApprovalClaim("kf-20261120-031200-a1b2c3", "210e37a498e6", "node.out-of-service-taint", "U01", "C01")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_signed_value_round_trips_and_is_compact() -> None:
    value = CLAIM.sign(SECRET, NOW, 900)
    assert len(value) < 400
    back = ApprovalClaim.verify(value, SECRET, NOW + 899)
    assert back == dataclasses.replace(CLAIM, issued_at=int(NOW), expires_at=int(NOW + 900))


def test_an_edited_payload_is_tampered() -> None:
    version, body, mac = CLAIM.sign(SECRET, NOW, 900).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["a"] = "node.drain"
    edited = f"{version}.{_b64(json.dumps(claims).encode())}.{mac}"
    with pytest.raises(TamperedButton, match="altered"):
        verify(edited, SECRET, NOW)


def test_an_edited_signature_or_another_key_is_tampered() -> None:
    value = CLAIM.sign(SECRET, NOW, 900)
    head, _, mac = value.rpartition(".")
    with pytest.raises(TamperedButton):
        verify(f"{head}.{_b64(bytes(32))}", SECRET, NOW)
    with pytest.raises(TamperedButton):
        verify(value, b"another-secret", NOW)
    assert mac  # the original is fine
    verify(value, SECRET, NOW)


def test_an_old_value_is_expired() -> None:
    value = CLAIM.sign(SECRET, NOW, 900)
    with pytest.raises(ExpiredButton, match="expired 1 min ago"):
        verify(value, SECRET, NOW + 960)


@pytest.mark.parametrize(
    "value",
    ["", "x", "k1.abc", "k2.abc.def", "k1.a.b.c", "k1.!!!.###", "k1." + "a" * 2000 + ".b"],
)
def test_malformed_values(value: str) -> None:
    with pytest.raises(MalformedButton):
        verify(value, SECRET, NOW)


def test_a_correctly_signed_value_without_the_approval_fields_is_malformed() -> None:
    with pytest.raises(MalformedButton, match="not an approval"):
        ApprovalClaim.verify(sign({"r": "kf-1"}, SECRET, NOW), SECRET, NOW)


def test_a_value_issued_in_the_future_is_refused() -> None:
    with pytest.raises(MalformedButton, match="future"):
        verify(sign({"r": "x"}, SECRET, NOW + 3600), SECRET, NOW)


def test_a_value_too_long_for_slack_is_never_produced() -> None:
    with pytest.raises(ValueError, match="exceeds Slack's 2000"):
        sign({"r": "x" * 1600}, SECRET, NOW)


def test_the_secret_is_the_button_secret_else_derived_from_the_signing_secret() -> None:
    assert button_secret(Settings(button_secret="b", slack_signing_secret="s")) == b"b"
    derived = button_secret(Settings(slack_signing_secret="s"))
    assert derived == hmac.new(b"s", b"kfops-buttons", hashlib.sha256).digest()
    assert derived != b"s"
    with pytest.raises(ValueError, match="KFOPS_BUTTON_SECRET or SLACK_SIGNING_SECRET"):
        button_secret(Settings())
