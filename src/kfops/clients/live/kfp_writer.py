"""The KFP API's two run actions (terminate, retry): the playbooks' writer, in its own module so
the read-only import contract can forbid it to diagnosis code (pyproject.toml)."""

from __future__ import annotations

from kfops.clients.live.kfp import KfpHttp, http_from_settings, run_path
from kfops.clients.protocols import Fetched
from kfops.settings import Settings


class LiveKfpWriter:
    """Terminate or retry one run. Each POST is sent once: a lost answer may hide a done action."""

    def __init__(self, http: KfpHttp) -> None:
        self._http = http

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> LiveKfpWriter:
        return cls(http_from_settings(settings, url))

    @property
    def url(self) -> str:
        return self._http.url

    def __repr__(self) -> str:
        return f"LiveKfpWriter({self._http.url!r})"

    def describe(self) -> str:
        return f"KFP API {self._http.url} (as {self._http.auth.describe()})"

    def terminate_run(self, run_id: str) -> Fetched:
        return self._http.call("POST", run_path(run_id, "terminate"), verb="terminate")

    def retry_run(self, run_id: str) -> Fetched:
        return self._http.call("POST", run_path(run_id, "retry"), verb="retry")
