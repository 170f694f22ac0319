"""KfpReader over the Kubeflow Pipelines API server's REST API (v2beta1), and the HTTP channel
the writer (`clients/live/kfp_writer.py`, which diagnosis code may not import) shares.

Both go through one small HTTP channel (`KfpHttp`, on `requests`, like the Prometheus reader)
that adds the credentials, bounds every call by ``settings.kfp_timeout_s`` and turns every
failure into the error tree of `kfops.clients.errors` with ``resource="kfp"``:

::

    connection refused, DNS, TLS        → Unreachable
    no answer in time (connect or read) → ReadTimeout
    5xx, 429                            → ServerError (KFP's own error message kept)
    401, or a redirect to a login page  → Unauthorized
    403 → Forbidden · 404 → NotFound · 409 → Conflict · other 4xx → BadRequest
    a 2xx answer that is not a JSON object (the UI, not the API?) → BadRequest

Nothing is retried here. A read that fails is one ERROR/WARN finding, and the API's timeout
is short on purpose: a hung API server must not eat the diagnosis deadline. A write (terminate,
retry) is never repeated: one whose answer was lost may have happened.

Credentials: a bearer token (settings.kfp_token), or a file holding one (settings.kfp_token_file,
re-read on every call because projected ServiceAccount tokens rotate), and the user header
multi-user KFP trusts (settings.kfp_userid_header: settings.kfp_userid). The token never appears
in `describe()`, `repr()`, evidence or error messages.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests

from kfops.clients.errors import (
    BadRequest,
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    ReaderError,
    ReadTimeout,
    ServerError,
    Unauthorized,
    Unreachable,
)
from kfops.clients.protocols import Fetched
from kfops.settings import Settings

E = TypeVar("E", bound=ReaderError)

API = "/apis/v2beta1"
#: a run's answer includes its compiled pipeline spec; far above any real run, far below harm
MAX_ANSWER_BYTES = 32 * 1024 * 1024
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_STATUS_ERRORS: dict[int, type[ReaderError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: BadRequest,
}


def check_run_id(run_id: str) -> str:
    """The run id, when it is a UUID as KFP makes them; else ValueError.

    Checked before any call, so a typo or a crafted id ("../pipelines") never becomes a request.
    """
    if not isinstance(run_id, str) or not _UUID.match(run_id):
        raise ValueError(
            f"{run_id!r} is not a KFP run id: expected a UUID like 0b5e2a1c-7f3d-4c1e-9a2b-3c4d5e6f7a8b"
        )
    return run_id


def run_path(run_id: str, action: str = "") -> str:
    """``/apis/v2beta1/runs/{run_id}`` or ``…/runs/{run_id}:{action}``."""
    return f"{API}/runs/{check_run_id(run_id)}" + (f":{action}" if action else "")


def display_url(url: str) -> str:
    """The base URL as shown to humans: no user:password, query or fragment, no trailing slash."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class KfpAuth:
    """What identifies kfops to the KFP API. The token is never shown (repr=False)."""

    token: str = field(default="", repr=False)
    token_file: str = ""
    userid_header: str = "kubeflow-userid"
    userid: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> KfpAuth:
        return cls(
            token=settings.kfp_token,
            token_file=settings.kfp_token_file,
            userid_header=settings.kfp_userid_header,
            userid=settings.kfp_userid,
        )

    def describe(self) -> str:
        parts = []
        if self.token:
            parts.append("a bearer token")
        elif self.token_file:
            parts.append(f"the token in {self.token_file}")
        if self.userid and self.userid_header:
            parts.append(f"{self.userid_header}: {self.userid}")
        return " and ".join(parts) or "no credentials"

    def headers(self, query: str, verb: str) -> dict[str, str]:
        """The auth headers for one call; the token file is read now, because it rotates."""
        headers: dict[str, str] = {}
        token = self.token.strip()
        if not token and self.token_file:
            try:
                token = Path(self.token_file).expanduser().read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or exc
                raise Unauthorized(
                    query,
                    f"cannot read the KFP token file {self.token_file}: {reason}",
                    verb=verb,
                    resource="kfp",
                ) from exc
            if not token:
                raise Unauthorized(
                    query, f"the KFP token file {self.token_file} is empty", verb=verb, resource="kfp"
                )
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.userid and self.userid_header:
            headers[self.userid_header] = self.userid
        return headers

    def secrets(self) -> tuple[str, ...]:
        """Texts that must never leave kfops (the static token; a file's token is masked by shape)."""
        return (self.token.strip(),) if self.token.strip() else ()


class KfpHttp:
    """One channel to one KFP API server: auth, timeouts, error classification. No retries."""

    def __init__(
        self,
        url: str,
        auth: KfpAuth | None = None,
        *,
        ca_file: str = "",
        timeout_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"the KFP API URL {display_url(url)!r} is not an http(s) URL: set KFOPS_KFP_URL "
                "to e.g. http://ml-pipeline.kubeflow.svc:8888"
            )
        if ca_file and not Path(ca_file).expanduser().is_file():
            raise ConfigurationError(f"the KFP CA file {ca_file} does not exist: fix settings.kfp_ca_file")
        self._base = url.strip().rstrip("/")
        self.url = display_url(url)
        self.auth = auth or KfpAuth()
        self.timeout_s = timeout_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._session = requests.Session()
        # no proxy, ~/.netrc or CA bundle from the environment: the token goes to kfp_url and
        # nowhere else, and netrc credentials cannot replace it
        self._session.trust_env = False
        if ca_file:
            self._session.verify = str(Path(ca_file).expanduser())

    def __repr__(self) -> str:
        return f"KfpHttp({self.url!r}, auth={self.auth.describe()!r})"

    def close(self) -> None:
        self._session.close()

    def call(self, method: str, path: str, *, verb: str) -> Fetched:
        """The JSON object a 2xx answer holds; any other outcome raises a ReaderError."""
        query = f"{method} {self.url}{path}"
        headers = {"Accept": "application/json", **self.auth.headers(query, verb)}
        observed_at = self._clock()
        deadline = time.monotonic() + 2 * self.timeout_s  # connect + read, as requests counts them
        try:
            with self._session.request(
                method,
                self._base + path,
                headers=headers,
                timeout=(self.timeout_s, self.timeout_s),
                allow_redirects=False,
                stream=True,
            ) as response:
                body = _read(response, deadline, query)
                status, location = response.status_code, response.headers.get("Location", "")
                retry_after = response.headers.get("Retry-After", "")
                content_type = response.headers.get("Content-Type", "")
        except requests.Timeout as exc:
            raise self._error(
                ReadTimeout, query, f"{self.url} did not answer within {self.timeout_s:g} s", verb
            ) from exc
        except requests.RequestException as exc:
            reason = _reason(exc)
            raise self._error(Unreachable, query, f"the connection failed: {reason}", verb) from exc
        if 200 <= status < 300:
            return Fetched(self._json(body, content_type, query, verb), query, observed_at, len(body))
        raise self._http_error(query, verb, status, body, location, retry_after)

    def _json(self, body: bytes, content_type: str, query: str, verb: str) -> dict[str, Any]:
        try:
            value = json.loads(body or b"{}")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            kind = content_type.split(";")[0] or "no content type"
            raise self._error(
                BadRequest,
                query,
                f"{self.url} answered with something that is not a JSON object ({kind}): is kfp_url "
                "the API server (e.g. http://ml-pipeline.kubeflow.svc:8888) rather than the UI?",
                verb,
            )
        return value

    def _http_error(
        self, query: str, verb: str, status: int, body: bytes, location: str, retry_after: str
    ) -> ReaderError:
        error: ReaderError
        if 300 <= status < 400:
            error = self._error(
                Unauthorized,
                query,
                f"the KFP API redirected to {display_url(location) or 'another page'} (HTTP {status}): "
                "an auth proxy wants a login; use the in-cluster URL or credentials it accepts",
                verb,
            )
        else:
            message = _kfp_message(body) or f"HTTP {status}"
            error_type = _STATUS_ERRORS.get(status)
            if error_type is None and 400 <= status < 500 and status != 429:
                error_type = BadRequest  # every other 4xx is permanent too
            if error_type is None:
                server_error = self._error(ServerError, query, f"HTTP {status}: {message}", verb)
                if retry_after.isdigit():
                    server_error.retry_after_s = float(retry_after)
                error = server_error
            else:
                error = self._error(error_type, query, message, verb)
        error.status = status
        return error

    def _error(self, kind: type[E], query: str, message: str, verb: str) -> E:
        for secret in self.auth.secrets():
            message = message.replace(secret, "[REDACTED]")
        return kind(query, message, verb=verb, resource="kfp")


def _read(response: requests.Response, deadline: float, query: str) -> bytes:
    """The whole body, within the deadline and the size bound (a server dripping bytes is hung)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise requests.ConnectionError(f"the answer exceeds {MAX_ANSWER_BYTES} bytes")
        if time.monotonic() > deadline:
            raise requests.ReadTimeout(f"{query}: the answer did not finish in time")
    return b"".join(chunks)


def _reason(exc: requests.RequestException) -> str:
    """The innermost cause, short: 'Connection refused', a DNS or TLS failure."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match.group(1).strip()
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS failed: {text}"
    return text


def _kfp_message(body: bytes) -> str:
    """KFP's own words from its error JSON (grpc-gateway: error/code/message/details)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        decoded = json.loads(body)
    except ValueError:
        return text[:500]
    if not isinstance(decoded, dict):
        return text[:500]
    for key in ("message", "error", "error_message"):
        if decoded.get(key):
            return str(decoded[key])
    for detail in decoded.get("details") or ():
        if isinstance(detail, dict) and detail.get("error_message"):
            return str(detail["error_message"])
    return text[:500]


class LiveKfpReader:
    """``GET /apis/v2beta1/runs/{run_id}`` against a live KFP API server."""

    def __init__(self, http: KfpHttp) -> None:
        self._http = http

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> LiveKfpReader:
        return cls(http_from_settings(settings, url))

    @property
    def url(self) -> str:
        """The API's base URL as recorded in a capture (no credentials)."""
        return self._http.url

    def __repr__(self) -> str:
        return f"LiveKfpReader({self._http.url!r})"

    def describe(self) -> str:
        return f"KFP API {self._http.url} (as {self._http.auth.describe()})"

    def get_run(self, run_id: str) -> Fetched:
        return self._http.call("GET", run_path(run_id), verb="get")


def http_from_settings(settings: Settings, url: str | None) -> KfpHttp:
    return KfpHttp(
        url or settings.kfp_url,
        KfpAuth.from_settings(settings),
        ca_file=settings.kfp_ca_file,
        timeout_s=settings.kfp_timeout_s,
    )
