"""A loopback TLS reverse proxy in front of the test API server that replays slow and lost reads.

Why: a snapshot can record that a read *timed out* (or the server was unreachable) at capture
time (``faults:`` in kfops-snapshot.yaml). RBAC reproduces refusals for real (loader.py), but
nothing in a healthy API server is slow on demand. This proxy is: it terminates TLS with a
certificate from the control plane's CA (so the live reader verifies it as it would the real
server), forwards every other request to the API server presenting the ``kfops-reader`` client
certificate, and for requests that match a fault it

* ``timeout``: holds the request longer than the reader's read timeout before answering;
* ``unreachable``: closes the connection without an answer;
* any error with ``delaySeconds``: waits that long first.

Requests are matched like the snapshot reader matches faults (verb, kubectl's qualified resource,
optional namespace): ``GET /api/v1/events`` and ``GET /api/v1/namespaces/x/events`` are a
``list`` of ``events``, with a name they are a ``get``, and ``.../pods/p/log`` is a ``log`` of
``pods/log``. Only GET is proxied: kfops reads and nothing else.

Bounded: every wait ends when the proxy stops, sockets time out, and :meth:`ParityProxy.stop`
joins the serving thread.
"""

from __future__ import annotations

import http.client
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from kfops.clients.snapshot.store import Fault

from .controlplane import LOOPBACK, CertFiles

SOCKET_TIMEOUT_S: Final = 10.0
UPSTREAM_TIMEOUT_S: Final = 10.0
STOP_TIMEOUT_S: Final = 5.0
#: Response headers that describe one hop, not the answer; the proxy sets its own length.
HOP_HEADERS: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}
)


@dataclass(frozen=True)
class Read:
    """What a request reads, in the terms of snapshot faults."""

    verb: str  # get | list | log
    resource: str  # kubectl's qualified plural: pods, leases.coordination.k8s.io, pods/log
    namespace: str | None


def classify(path: str) -> Read | None:
    """The read behind a GET path, or None for anything that is not a resource (``/version``)."""
    parts = [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(path).path.strip("/").split("/")]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    plural = rest[0]
    qualified = f"{plural}.{group}" if group else plural
    if len(rest) == 1:
        return Read("list", qualified, namespace)
    if len(rest) == 2:
        return Read("get", qualified, namespace)
    if rest[2] == "log":
        return Read("log", f"{qualified}/log", namespace)
    return Read("get", f"{qualified}/{rest[2]}", namespace)


def matching_fault(faults: Sequence[Fault], read: Read | None) -> Fault | None:
    if read is None:
        return None
    return next((f for f in faults if f.matches(read.verb, read.resource, read.namespace)), None)


class _ProxyServer(ThreadingHTTPServer):
    """Threaded HTTPS server; each accepted socket does its TLS handshake in its own thread."""

    daemon_threads = True

    def __init__(self, proxy: ParityProxy, tls: ssl.SSLContext) -> None:
        super().__init__((LOOPBACK, 0), _ProxyHandler)
        self.proxy = proxy
        self.tls = tls

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(SOCKET_TIMEOUT_S)
        with self.tls.wrap_socket(request, server_side=True) as tls_socket:
            super().finish_request(tls_socket, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Record errors (a client that gave up, a failed handshake) instead of printing them."""
        self.proxy.record(f"error from {client_address}: {sys.exc_info()[1]!r}")


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        self.server.proxy.record(format % args)

    def do_GET(self) -> None:
        proxy = self.server.proxy
        fault = matching_fault(proxy.faults, classify(self.path))
        if fault is not None:
            proxy.record(f"fault {fault.error} on GET {self.path}")
            if fault.error == "unreachable":
                self.close_connection = True
                return  # no answer at all: the client sees the connection drop
            hold = proxy.hold_s if fault.error == "timeout" else 0.0
            if proxy.stopping.wait(max(hold, fault.delay_s)):
                return
        try:
            status, reason, headers, body = proxy.forward(self.path, self.headers)
        except (OSError, http.client.HTTPException) as error:
            self.send_error(502, f"upstream: {error!r}")
            return
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ParityProxy:
    """Start with the upstream and the identity to present; always call :meth:`stop`."""

    def __init__(
        self,
        *,
        upstream: str,
        ca: Path,
        identity: CertFiles,
        serving: CertFiles,
        faults: Sequence[Fault],
        hold_s: float,
    ) -> None:
        target = urllib.parse.urlsplit(upstream)
        self._host, self._port = target.hostname or LOOPBACK, target.port or 443
        self._upstream_tls = ssl.create_default_context(cafile=str(ca))
        self._upstream_tls.load_cert_chain(identity.cert, identity.key)
        self.faults = tuple(faults)
        self.hold_s = hold_s
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._log: list[str] = []
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(serving.cert, serving.key)
        self._server = _ProxyServer(self, tls)
        self.url = f"https://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="parity-proxy", daemon=True)
        self._thread.start()

    def forward(self, path: str, headers: Any) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """GET path from the API server as the identity; the whole answer, decoded from chunks."""
        connection = http.client.HTTPSConnection(
            self._host, self._port, context=self._upstream_tls, timeout=UPSTREAM_TIMEOUT_S
        )
        try:
            passed = {k: v for k, v in headers.items() if k.lower() in ("accept", "user-agent")}
            connection.request("GET", path, headers=passed)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()

    def record(self, line: str) -> None:
        with self._lock:
            self._log.append(line)

    @property
    def log(self) -> list[str]:
        """Access-log lines and fault notes, oldest first."""
        with self._lock:
            return list(self._log)

    def stop(self) -> None:
        """End every held request, stop serving and join the thread (idempotent)."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT_S)
