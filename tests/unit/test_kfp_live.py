"""The live KFP reader and writer against a real loopback HTTP server standing in for the API.

Every failure mode a diagnosis meets at 3 a.m. — a hung API server, a database outage (503),
refused credentials, a run that does not exist, nothing listening — must become the right
ReaderError quickly, carry KFP's own words, and never show the token.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfops.clients.errors import (
    BadRequest,
    ConfigurationError,
    Forbidden,
    NotFound,
    ReaderError,
    ReadTimeout,
    ServerError,
    Unauthorized,
    Unreachable,
)
from kfops.clients.live.kfp import KfpAuth, KfpHttp, LiveKfpReader, check_run_id
from kfops.clients.live.kfp_writer import LiveKfpWriter
from kfops.settings import Settings
from tests.support.kfp_standin import KfpStandIn, kfp_run
from tests.support.recording_server import Answer, RecordingServer

RUN = "0b5e2a1c-7f3d-4c1e-9a2b-3c4d5e6f7a8b"
FAILED_RUN = "9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f"
MISSING = "11111111-2222-4333-8444-555555555555"
TOKEN = "kfp-s3cr3t-bearer-0123456789"


@pytest.fixture
def kfp() -> Iterator[KfpStandIn]:
    runs = {RUN: kfp_run(RUN, "RUNNING"), FAILED_RUN: kfp_run(FAILED_RUN, "FAILED", error="step failed")}
    with KfpStandIn(runs, token=TOKEN) as standin:
        yield standin


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    """For answers the KFP stand-in never gives (a UI page, a login redirect, an echo)."""
    recording = RecordingServer()
    yield recording
    recording.stop()


def reader(url: str, token: str = TOKEN, timeout_s: float = 2.0, **auth: str) -> LiveKfpReader:
    return LiveKfpReader(KfpHttp(url, KfpAuth(token=token, **auth), timeout_s=timeout_s))


def writer(url: str, token: str = TOKEN) -> LiveKfpWriter:
    return LiveKfpWriter(KfpHttp(url, KfpAuth(token=token), timeout_s=2.0))


def assert_no_token(error: ReaderError) -> None:
    for text in (error.headline, error.message, error.query, str(error), repr(error)):
        assert TOKEN not in text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- reads -------------------------------------------------------------------------------


def test_get_run_returns_the_apis_json_with_the_exact_request(kfp: KfpStandIn) -> None:
    fetched = reader(kfp.url).get_run(RUN)
    assert fetched.value["run_id"] == RUN
    assert fetched.value["state"] == "RUNNING"
    assert fetched.value["run_details"]["task_details"] == []
    assert fetched.query == f"GET {kfp.url}/apis/v2beta1/runs/{RUN}"
    assert fetched.nbytes > 100
    (call,) = kfp.calls("GET", f"/apis/v2beta1/runs/{RUN}")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.headers["accept"] == "application/json"
    assert "kubeflow-userid" not in call.headers  # no user configured: the header is not sent


def test_the_user_header_is_sent_when_a_user_is_set(kfp: KfpStandIn) -> None:
    reader(kfp.url, userid="alice@example.com", userid_header="x-goog-authenticated-user-email").get_run(RUN)
    (call,) = kfp.calls("GET")
    assert call.headers["x-goog-authenticated-user-email"] == "alice@example.com"


def test_a_missing_run_is_not_found_with_kfps_message(kfp: KfpStandIn) -> None:
    with pytest.raises(NotFound) as caught:
        reader(kfp.url).get_run(MISSING)
    assert caught.value.status == 404
    assert caught.value.resource == "kfp"
    assert f"ResourceNotFoundError: Run {MISSING} not found" in caught.value.message
    assert caught.value.query == f"GET {kfp.url}/apis/v2beta1/runs/{MISSING}"


def test_a_hung_api_server_is_a_read_timeout_within_the_timeout(kfp: KfpStandIn) -> None:
    kfp.mode = "hang"
    started = time.monotonic()
    with pytest.raises(ReadTimeout) as caught:
        reader(kfp.url, timeout_s=0.5).get_run(RUN)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 2.0
    assert "did not answer within 0.5 s" in caught.value.message
    assert len(kfp.calls("GET")) == 1  # sent once, not retried
    assert_no_token(caught.value)


def test_stopping_the_stand_in_does_not_wait_for_a_hanging_request() -> None:
    standin = KfpStandIn({RUN: kfp_run(RUN)}, mode="hang").start()
    with pytest.raises(ReadTimeout):
        reader(standin.url, timeout_s=0.3).get_run(RUN)
    started = time.monotonic()
    standin.stop()
    assert time.monotonic() - started < 2.0


def test_a_5xx_is_a_server_error_keeping_kfps_message(kfp: KfpStandIn) -> None:
    kfp.mode = "5xx"
    with pytest.raises(ServerError) as caught:
        reader(kfp.url).get_run(RUN)
    assert caught.value.status == 503
    assert "HTTP 503: Failed to connect to the database" in caught.value.message
    assert_no_token(caught.value)


def test_refused_credentials_say_which_settings_to_check(kfp: KfpStandIn) -> None:
    with pytest.raises(Unauthorized) as caught:
        reader(kfp.url, token="not-the-token").get_run(RUN)
    assert caught.value.status == 401
    assert "there is no user identity header" in caught.value.message
    assert caught.value.headline.startswith("the KFP API refused the credentials (GET ")
    assert caught.value.headline.endswith("check KFOPS_KFP_TOKEN / kfp_token_file / kfp_userid")


def test_401_mode_refuses_even_the_right_token(kfp: KfpStandIn) -> None:
    kfp.mode = "401"
    with pytest.raises(Unauthorized) as caught:
        reader(kfp.url).get_run(RUN)
    assert_no_token(caught.value)


def test_nothing_listening_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        reader(url).get_run(RUN)
    assert time.monotonic() - started < 2.0
    assert "Connection refused" in caught.value.message
    assert caught.value.headline.startswith(f"cannot reach the KFP API (GET {url}/apis/v2beta1/runs/{RUN})")
    assert "KFOPS_KFP_URL" in caught.value.headline


def test_a_page_that_is_not_json_points_at_the_url(server: RecordingServer) -> None:
    server.answer(f"/apis/v2beta1/runs/{RUN}", Answer(200, body=["not", "a", "run"]))
    with pytest.raises(BadRequest) as caught:
        reader(server.url).get_run(RUN)
    assert "is kfp_url the API server" in caught.value.message


def test_a_redirect_to_a_login_page_is_unauthorized_and_not_followed(server: RecordingServer) -> None:
    login = f"{server.url}/dex/auth?client_id=kubeflow-oidc-authservice"
    server.answer(f"/apis/v2beta1/runs/{RUN}", Answer(302, body={}, headers={"Location": login}))
    with pytest.raises(Unauthorized) as caught:
        reader(server.url).get_run(RUN)
    assert caught.value.status == 302
    assert "an auth proxy wants a login" in caught.value.message
    assert server.calls("/dex/auth") == []


def test_the_token_file_is_read_on_every_call(tmp_path: Path, kfp: KfpStandIn) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    live = LiveKfpReader(KfpHttp(kfp.url, KfpAuth(token_file=str(token_file)), timeout_s=2.0))
    assert live.get_run(RUN).value["run_id"] == RUN
    token_file.write_text("rotated-token")  # the kubelet rotated the projected token
    with pytest.raises(Unauthorized):
        live.get_run(RUN)
    kfp.token = "rotated-token"
    assert live.get_run(RUN).value["run_id"] == RUN
    assert [c.headers["authorization"] for c in kfp.calls("GET")] == [
        f"Bearer {TOKEN}",
        "Bearer rotated-token",
        "Bearer rotated-token",
    ]


def test_an_unreadable_token_file_is_unauthorized_naming_the_file(tmp_path: Path, kfp: KfpStandIn) -> None:
    missing = tmp_path / "no-such-token"
    live = LiveKfpReader(KfpHttp(kfp.url, KfpAuth(token_file=str(missing)), timeout_s=2.0))
    with pytest.raises(Unauthorized) as caught:
        live.get_run(RUN)
    assert f"cannot read the KFP token file {missing}" in caught.value.message
    assert kfp.calls() == []  # nothing was sent without the credentials


@pytest.mark.parametrize(
    "bad", ["", "abc", "../pipelines", f"{RUN}/../x", RUN.replace("-", ""), f"{RUN}:terminate"]
)
def test_a_run_id_that_is_not_a_uuid_is_refused_before_any_call(bad: str, kfp: KfpStandIn) -> None:
    with pytest.raises(ValueError, match="is not a KFP run id: expected a UUID"):
        reader(kfp.url).get_run(bad)
    with pytest.raises(ValueError, match="is not a KFP run id"):
        writer(kfp.url).terminate_run(bad)
    assert kfp.calls() == []
    assert check_run_id(RUN.upper()) == RUN.upper()


def test_the_token_never_appears_in_describe_or_repr(kfp: KfpStandIn) -> None:
    live = reader(kfp.url, userid="alice@example.com")
    auth = KfpAuth(token=TOKEN)
    texts = [live.describe(), repr(live), repr(live._http), repr(auth), writer(kfp.url).describe()]
    assert all(TOKEN not in t for t in texts)
    assert live.describe() == f"KFP API {kfp.url} (as a bearer token and kubeflow-userid: alice@example.com)"


def test_an_error_echoing_the_token_is_masked(server: RecordingServer) -> None:
    echo = {"code": 3, "message": f"bad header Authorization: Bearer {TOKEN}"}
    server.answer(f"/apis/v2beta1/runs/{RUN}", Answer(400, body=echo))
    with pytest.raises(BadRequest) as caught:
        reader(server.url).get_run(RUN)
    assert "[REDACTED]" in caught.value.message
    assert_no_token(caught.value)


def test_a_url_without_credentials_in_it_is_what_is_shown() -> None:
    http = KfpHttp("https://admin:pw@kfp.example.com:8443/pipeline/", timeout_s=1.0)
    assert http.url == "https://kfp.example.com:8443/pipeline"


@pytest.mark.parametrize("url", ["ml-pipeline:8888", "ftp://x", "http://"])
def test_a_url_that_is_not_http_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="is not an http\\(s\\) URL: set KFOPS_KFP_URL"):
        KfpHttp(url)


def test_from_settings_uses_the_kfp_settings(tmp_path: Path, kfp: KfpStandIn) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    settings = Settings(kfp_url=kfp.url, kfp_token_file=str(token_file), kfp_userid="bob@example.com")
    assert LiveKfpReader.from_settings(settings).get_run(RUN).value["state"] == "RUNNING"
    (call,) = kfp.calls("GET")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.headers["kubeflow-userid"] == "bob@example.com"


# --- writes ------------------------------------------------------------------------------


def test_terminate_moves_a_running_run_to_canceling(kfp: KfpStandIn) -> None:
    fetched = writer(kfp.url).terminate_run(RUN)
    assert fetched.value == {}
    assert fetched.query == f"POST {kfp.url}/apis/v2beta1/runs/{RUN}:terminate"
    assert kfp.state(RUN) == "CANCELING"
    (call,) = kfp.calls("POST")
    assert call.path == f"/apis/v2beta1/runs/{RUN}:terminate"
    assert call.headers["authorization"] == f"Bearer {TOKEN}"


def test_terminating_a_finished_run_is_refused_with_kfps_message(kfp: KfpStandIn) -> None:
    with pytest.raises(BadRequest) as caught:
        writer(kfp.url).terminate_run(FAILED_RUN)
    assert caught.value.status == 400
    assert caught.value.verb == "terminate"
    assert "cannot be terminated in state FAILED" in caught.value.message
    assert kfp.state(FAILED_RUN) == "FAILED"


def test_retry_restarts_a_failed_run(kfp: KfpStandIn) -> None:
    fetched = writer(kfp.url).retry_run(FAILED_RUN)
    assert fetched.query.endswith(f"/runs/{FAILED_RUN}:retry")
    assert kfp.state(FAILED_RUN) == "RUNNING"
    assert "error" not in reader(kfp.url).get_run(FAILED_RUN).value
    with pytest.raises(BadRequest, match="cannot be retried in state RUNNING"):
        writer(kfp.url).retry_run(RUN)


def test_a_write_is_never_repeated(kfp: KfpStandIn) -> None:
    kfp.mode = "5xx"
    with pytest.raises(ServerError):
        writer(kfp.url).terminate_run(RUN)
    kfp.mode = "hang"
    with pytest.raises(ReadTimeout):
        LiveKfpWriter(KfpHttp(kfp.url, KfpAuth(token=TOKEN), timeout_s=0.3)).retry_run(FAILED_RUN)
    assert [c.path.rpartition(":")[2] for c in kfp.calls("POST")] == ["terminate", "retry"]


def test_a_403_names_the_identity_to_grant(server: RecordingServer) -> None:
    denied = {"code": 7, "message": "User 'bob@example.com' is not authorized with reason: access denied"}
    server.answer(f"/apis/v2beta1/runs/{RUN}", Answer(403, body=denied))
    with pytest.raises(Forbidden) as caught:
        reader(server.url, userid="bob@example.com").get_run(RUN)
    assert caught.value.message == denied["message"]
    assert "give kfops' identity (kfp_userid or the token's ServiceAccount) access" in caught.value.headline


def test_a_missing_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError, match=r"the KFP CA file .* does not exist: fix settings\.kfp_ca_file"
    ):
        KfpHttp("https://kfp.example.com", ca_file=str(tmp_path / "ca.pem"))
