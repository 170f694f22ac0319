"""Why a read failed, classified so callers know whether to retry and what to tell a human.

::

    ReaderError                 a read failed; carries the request and the upstream message
    ├── PermanentReadError      retrying will not help; reported at once
    │   ├── Forbidden           403: names the verb and resource RBAC refused
    │   ├── Unauthorized        401: the credentials were refused
    │   ├── NotFound            404
    │   ├── Conflict            409: the object changed or exists (optimistic concurrency)
    │   └── BadRequest          400/422: the request itself is wrong
    └── TransientReadError      may succeed later; retried with backoff inside the probe timeout
        ├── Unreachable         connection refused/reset, DNS failure
        ├── ReadTimeout         no answer within the timeout
        └── ServerError         5xx, or 429 (too many requests)
    SnapshotError               the snapshot directory is unreadable or malformed (a usage error)
"""

from __future__ import annotations


class ReaderError(Exception):
    """A read failed. ``query`` is the request, ``message`` the upstream's own words."""

    status: int | None = None  # the HTTP status, when there was one

    def __init__(self, query: str, message: str, *, verb: str = "get", resource: str = "") -> None:
        super().__init__(message)
        self.query = query
        self.message = message
        self.verb = verb
        self.resource = resource

    @property
    def headline(self) -> str:
        """One sentence for a tired human: what failed."""
        return f"{self.query} failed: {self.message}"


class PermanentReadError(ReaderError):
    pass


class TransientReadError(ReaderError):
    retry_after_s: float | None = None


class Forbidden(PermanentReadError):
    status = 403

    @property
    def headline(self) -> str:
        if self.resource == "galera":
            return (
                f"the database user lacks a privilege ({self.query}): {self.message} "
                "— grant it SELECT and PROCESS (docs/runbooks/galera-migration-failure.md)"
            )
        if self.resource == "kfp":
            return (
                f"the KFP API forbids '{self.verb}' ({self.query}): {self.message} — give kfops' identity "
                "(kfp_userid or the token's ServiceAccount) access to the run's profile namespace"
            )
        return (
            f"RBAC forbids '{self.verb}' on '{self.resource}' ({self.query}): {self.message} "
            f"— grant it with the read-only ClusterRole in deploy/rbac/"
        )


class Unauthorized(PermanentReadError):
    status = 401

    @property
    def headline(self) -> str:
        if self.resource == "galera":
            return (
                f"credentials refused ({self.query}): {self.message} "
                "— check KFOPS_GALERA_USER / KFOPS_GALERA_PASSWORD (or settings.galera_secret)"
            )
        if self.resource == "kfp":
            return (
                f"the KFP API refused the credentials ({self.query}): {self.message} "
                "— check KFOPS_KFP_TOKEN / kfp_token_file / kfp_userid"
            )
        return f"credentials refused ({self.query}): {self.message} — check the kubeconfig user"


class NotFound(PermanentReadError):
    status = 404


class Conflict(PermanentReadError):
    status = 409


class BadRequest(PermanentReadError):
    status = 400


class Unreachable(TransientReadError):
    @property
    def headline(self) -> str:
        if self.resource == "kfp":
            return (
                f"cannot reach the KFP API ({self.query}): {self.message} "
                "— check KFOPS_KFP_URL and the ml-pipeline Service"
            )
        return f"cannot reach the source ({self.query}): {self.message}"


class ReadTimeout(TransientReadError):
    @property
    def headline(self) -> str:
        return f"no answer in time ({self.query}): {self.message}"


class ServerError(TransientReadError):
    status = 500


class SnapshotError(Exception):
    """The snapshot directory cannot be used; the message names the file and the problem."""


class ConfigurationError(Exception):
    """The reader cannot even be built: no kubeconfig, unknown context, bad credentials file."""
