"""A throw-away Kubernetes control plane (etcd + kube-apiserver) for live tests.

Why this exists: kfops is a read-only diagnosis tool, and the only convincing test of
the Kubernetes calls it makes (authorization, server-side dry-run, pod logs, the exact
shape of API errors) is a real API server. This module starts one on 127.0.0.1 with
no kubelet, scheduler or controller-manager, so tests must write any status a
controller would normally write.

What it provides:

* a one-run PKI (CA, API server serving cert, client certs per test user, a
  service-account signing key, kubelet serving and client certs);
* :class:`ControlPlane`, which starts etcd and kube-apiserver on free loopback ports,
  waits for ``/readyz`` and writes a kubeconfig with one context per user;
* :class:`FakeKubelet`, an HTTPS server that answers the apiserver's
  ``/containerLogs`` requests, so ``pods/log`` works end to end.

The binaries come from ``scripts/testenv/build-control-plane.sh`` (which honours
``KFOPS_TEST_KUBE_APISERVER`` / ``KFOPS_TEST_ETCD``). Every start-up failure raises
:class:`RuntimeError` naming the step that failed, with the tail of the process log.
"""

from __future__ import annotations

import base64
import ctypes
import datetime
import http.client
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
BUILD_SCRIPT: Final = REPO_ROOT / "scripts" / "testenv" / "build-control-plane.sh"

READY_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 10.0
LOG_TAIL_LINES: Final = 40
LOOPBACK: Final = "127.0.0.1"

#: Test users: client-cert CN -> groups (O). ``system:masters`` bypasses RBAC.
USERS: Final[Mapping[str, tuple[str, ...]]] = {
    "admin": ("system:masters",),
    "kfops-reader": (),
    "nobody": (),
    # on-call engineers for the remediation gate: alice requests, bob and carol approve,
    # dave is authenticated but holds no remediation rights
    "alice": ("gpu-oncall",),
    "bob": ("gpu-oncall",),
    "carol": ("gpu-oncall",),
    "dave": (),
}
KUBELET_CLIENT_CN: Final = "kube-apiserver-kubelet-client"


# --------------------------------------------------------------------------- PKI


@dataclass(frozen=True)
class CertFiles:
    """PEM files of one certificate and its private key."""

    cert: Path
    key: Path


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, groups: Sequence[str] = ()) -> x509.Name:
    """Subject in the form the apiserver maps to a user: CN = user, O = groups."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    return x509.Name(attributes)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


class Pki:
    """A certificate authority that lives for one test run.

    EC P-256 keys keep generation instant (RSA would cost ~0.1 s per key on a
    small CI machine). Certificates are back-dated by an hour to tolerate clock
    skew, and carry key identifiers so strict verifiers (OpenSSL 3 with
    ``VERIFY_X509_STRICT``) accept them.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        self._ca_name = _name("kfops-test-ca")
        self._ca_cert = self._sign(self._ca_name, self._ca_key.public_key(), ca=True, usages=(), sans=())
        self.ca_cert = directory / "ca.crt"
        self.ca_cert.write_bytes(self._ca_cert.public_bytes(serialization.Encoding.PEM))

    def _sign(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        *,
        ca: bool,
        usages: Sequence[ObjectIdentifier],
        sans: Sequence[x509.GeneralName],
    ) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(_key_usage(ca=ca), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                critical=False,
            )
        )
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        return builder.sign(self._ca_key, hashes.SHA256())

    def issue(
        self,
        file_stem: str,
        common_name: str,
        *,
        groups: Sequence[str] = (),
        server: bool = False,
        client: bool = False,
    ) -> CertFiles:
        """Issue a leaf certificate; server certs are valid for 127.0.0.1 and localhost."""
        key = ec.generate_private_key(ec.SECP256R1())
        usages: list[ObjectIdentifier] = []
        sans: list[x509.GeneralName] = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            sans += [
                x509.IPAddress(ipaddress.ip_address(LOOPBACK)),
                x509.DNSName("localhost"),
            ]
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        cert = self._sign(_name(common_name, groups), key.public_key(), ca=False, usages=usages, sans=sans)
        files = CertFiles(self.directory / f"{file_stem}.crt", self.directory / f"{file_stem}.key")
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files.key.write_bytes(_pem_key(key))
        files.key.chmod(0o600)
        return files

    def service_account_keys(self) -> CertFiles:
        """RSA key pair that kube-apiserver signs service-account tokens with.

        RSA because RS256 is what every token consumer accepts; the public half is
        written separately (``cert`` is the public key here) so
        ``--service-account-key-file`` does not depend on private-key fallback parsing.
        """
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        files = CertFiles(self.directory / "sa.pub", self.directory / "sa.key")
        files.cert.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        files.key.write_bytes(_pem_key(key))
        files.key.chmod(0o600)
        return files


# --------------------------------------------------------------------- fake kubelet


LogKey = tuple[str, str, str, bool]  # namespace, pod, container, previous


def _tail(text: str, tail_lines: int | None, limit_bytes: int | None) -> bytes:
    """Apply the kubelet's ``tailLines`` then ``limitBytes`` semantics to a log."""
    if tail_lines is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail_lines:]) if tail_lines > 0 else ""
    data = text.encode()
    return data[:limit_bytes] if limit_bytes is not None else data


def _int_param(query: Mapping[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    return int(values[-1]) if values else None


class _KubeletServer(ThreadingHTTPServer):
    """Threaded HTTPS server; TLS handshakes run in the worker threads.

    Wrapping the listening socket would do every handshake in the accept loop, where
    one stalled client blocks all others, so each accepted socket is wrapped in its
    own thread instead.
    """

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext) -> None:
        super().__init__((LOOPBACK, 0), _KubeletHandler)
        self.tls = tls
        self.logs: dict[LogKey, str] = {}
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.errors: list[str] = []

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        with self.tls.wrap_socket(request, server_side=True) as tls_socket:
            super().finish_request(tls_socket, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Record handler/handshake errors for :meth:`ControlPlane.logs` instead of stderr."""
        error = sys.exc_info()[1]
        with self.lock:
            self.errors.append(f"{client_address}: {error!r}")


class _KubeletHandler(BaseHTTPRequestHandler):
    """Answers the two kubelet endpoints the apiserver uses for ``pods/log``."""

    server: _KubeletServer

    def log_message(self, format: str, *args: Any) -> None:
        with self.server.lock:
            self.server.requests.append(format % args)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/healthz":
            self._reply(200, b"ok")
        elif len(parts) == 4 and parts[0] == "containerLogs":
            self._container_logs(parts[1], parts[2], parts[3], urllib.parse.parse_qs(url.query))
        else:
            self._reply(404, b"404 page not found\n")

    def _container_logs(
        self, namespace: str, pod: str, container: str, query: Mapping[str, list[str]]
    ) -> None:
        # The real kubelet refuses anonymous log reads; requiring the apiserver's
        # client cert proves --kubelet-client-certificate is wired up.
        tls = self.connection
        if not isinstance(tls, ssl.SSLSocket) or not tls.getpeercert():
            self._reply(401, b"Unauthorized\n")
            return
        previous = query.get("previous", ["false"])[-1] == "true"
        with self.server.lock:
            text = self.server.logs.get((namespace, pod, container, previous))
        if text is None:
            self._no_log(pod, container, previous=previous)
            return
        body = _tail(text, _int_param(query, "tailLines"), _int_param(query, "limitBytes"))
        self._reply(200, body)

    def _no_log(self, pod: str, container: str, *, previous: bool) -> None:
        """Answer like the kubelet when a log does not exist.

        For ``previous=true`` the real kubelet answers 400 with this exact message, and
        the apiserver passes 400 bodies through as a BadRequest, so tools see it. Other
        misses answer 404; the apiserver replaces a 404 body with a generic NotFound.
        """
        if previous:
            message = f'previous terminated container "{container}" in pod "{pod}" not found'
            self._reply(400, message.encode())
        else:
            self._reply(404, f'no log registered for container "{container}" in pod "{pod}"'.encode())

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeKubelet:
    """Stands in for the kubelet of every fake Node: serves canned container logs.

    The apiserver reaches it through the Node object: point a Node at it with
    :func:`node_status_endpoint_fields`. The apiserver verifies this server's
    certificate against the test CA (``--kubelet-certificate-authority``) and
    presents its own kubelet-client certificate, as in a real cluster.
    """

    def __init__(self, pki: Pki) -> None:
        serving = pki.issue("kubelet", "fake-kubelet", server=True)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(serving.cert, serving.key)
        tls.load_verify_locations(cafile=pki.ca_cert)
        tls.verify_mode = ssl.CERT_OPTIONAL
        self._server = _KubeletServer(tls)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-kubelet", daemon=True)
        self._thread.start()

    def set_log(self, namespace: str, pod: str, container: str, text: str, previous: bool = False) -> None:
        """Register the log returned for one container (``previous`` = last terminated run)."""
        with self._server.lock:
            self._server.logs[(namespace, pod, container, previous)] = text

    @property
    def requests(self) -> list[str]:
        """Access-log lines of every request served so far (request line and status)."""
        with self._server.lock:
            return list(self._server.requests)

    def summary(self) -> str:
        """Recent requests and errors, for failure reports."""
        with self._server.lock:
            lines = self._server.requests[-10:] + self._server.errors[-10:]
        return "\n".join(lines)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT_S)


def node_status_endpoint_fields(port: int) -> dict[str, Any]:
    """Node ``status`` fields that make the apiserver send log requests to a FakeKubelet.

    The apiserver picks the first address whose type is in
    ``--kubelet-preferred-address-types`` (InternalIP here) and the port from
    ``daemonEndpoints.kubeletEndpoint.Port`` (capital P in JSON).
    """
    return {
        "addresses": [{"type": "InternalIP", "address": LOOPBACK}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
    }


# ------------------------------------------------------------------------ processes


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path


def find_binaries() -> Binaries:
    """Build or reuse the binaries via the repository's build script.

    A warm run only checks the cache; a cold run compiles from Go modules and can
    take tens of minutes, which is why CI starts it early.
    """
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{BUILD_SCRIPT.relative_to(REPO_ROOT)} failed with exit code "
            f"{result.returncode}:\n{_last_lines(result.stderr)}"
        )
    found = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    try:
        return Binaries(Path(found["kube-apiserver"]), Path(found["etcd"]))
    except KeyError as missing:
        raise RuntimeError(
            f"{BUILD_SCRIPT.name} did not print {missing.args[0]}=PATH; stdout was:\n"
            f"{result.stdout}\nstderr:\n{_last_lines(result.stderr)}"
        ) from None


def _last_lines(text: str, count: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-count:])


def _free_port() -> int:
    """A loopback port that was free a moment ago (the caller retries on collision)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _supported_flags(binary: Path) -> str:
    """``--help`` text, for feature-detecting flags that vary between versions."""
    result = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30, check=False)
    return result.stdout + result.stderr


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook that kills the child when pytest dies, so no orphan keeps ports/RAM.

    Linux-only (prctl PR_SET_PDEATHSIG). libc is loaded here, before fork, so the
    child only makes one foreign call.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def hook() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)

    return hook


class _Process:
    """One child process whose stdout and stderr go to a log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_parent_death_signal(),
            )

    @property
    def exit_code(self) -> int | None:
        return self._popen.poll()

    def tail(self, count: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return _last_lines(text, count)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S."""
        if self._popen.poll() is not None:
            return
        self._popen.terminate()
        try:
            self._popen.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait(timeout=STOP_TIMEOUT_S)

    def failure(self, what: str) -> RuntimeError:
        code = self.exit_code
        state = "is still running" if code is None else f"exited with code {code}"
        return RuntimeError(
            f"{what}: {self.name} {state}. Last {LOG_TAIL_LINES} lines of {self.log_path}:\n{self.tail()}"
        )

    def address_in_use(self) -> bool:
        return "address already in use" in self.tail(200).lower()


def _probe(url: str, tls: ssl.SSLContext | None) -> tuple[bool, str]:
    """GET url; (True, body) on 200, else (False, reason). Never raises on network errors."""
    try:
        # Only our own http(s) loopback URLs reach here.
        with urllib.request.urlopen(url, timeout=3, context=tls) as response:  # noqa: S310
            body: bytes = response.read()
            return response.status == 200, body.decode(errors="replace")
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}: {error.read().decode(errors='replace')}"
    except (OSError, http.client.HTTPException) as error:
        return False, repr(error)


def _wait_ready(process: _Process, url: str, tls: ssl.SSLContext | None, timeout: float) -> None:
    """Poll url until it answers 200; fail fast if the process exits meanwhile."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.exit_code is not None:
            raise process.failure(f"waiting for {url}")
        ok, last = _probe(url, tls)
        if ok:
            return
        time.sleep(0.25)
    if "readyz" in url:  # say which post-start hook is still pending
        last = _probe(url + "?verbose", tls)[1]
    raise process.failure(f"{url} not ready after {timeout:.0f} s (last answer: {last})")


# --------------------------------------------------------------------- control plane


def _etcd_data_dir(workdir: Path) -> Path:
    """etcd's data dir on tmpfs when available: tests write a lot, disks are slow."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="kfops-etcd-", dir=shm))
    return Path(tempfile.mkdtemp(prefix="etcd-", dir=workdir))


def _etcd_args(binary: Path, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client = f"http://{LOOPBACK}:{client_port}"
    peer = f"http://{LOOPBACK}:{peer_port}"
    args = [
        str(binary),
        "--name=kfops-test",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        # All three peer flags, so parallel runs never meet on the default :2380.
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=kfops-test={peer}",
        "--log-level=warn",
    ]
    if "--unsafe-no-fsync" in _supported_flags(binary):  # etcd >= 3.5
        args.append("--unsafe-no-fsync=true")
    return args


@dataclass(frozen=True)
class _ApiserverFiles:
    ca: Path
    serving: CertFiles
    service_account: CertFiles
    kubelet_client: CertFiles
    cert_dir: Path


def _apiserver_args(binary: Path, files: _ApiserverFiles, etcd_port: int, port: int) -> list[str]:
    args = [
        str(binary),
        f"--etcd-servers=http://{LOOPBACK}:{etcd_port}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
        # Loopback advertise address + no endpoint reconciler: otherwise the apiserver
        # picks the default-route interface, or loops on "may not be in the loopback range".
        f"--advertise-address={LOOPBACK}",
        "--endpoint-reconciler-type=none",
        f"--tls-cert-file={files.serving.cert}",
        f"--tls-private-key-file={files.serving.key}",
        f"--cert-dir={files.cert_dir}",
        f"--client-ca-file={files.ca}",
        f"--service-account-issuer=https://{LOOPBACK}:{port}",
        f"--service-account-key-file={files.service_account.cert}",
        f"--service-account-signing-key-file={files.service_account.key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC",
        # No token controller, hence no "default" ServiceAccount: the plugin would
        # reject every pod.
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-certificate-authority={files.ca}",
        f"--kubelet-client-certificate={files.kubelet_client.cert}",
        f"--kubelet-client-key={files.kubelet_client.key}",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
    ]
    if "--enable-garbage-collector" in _supported_flags(binary):
        # No GC controller runs, so never add orphan/foreground finalizers.
        args.append("--enable-garbage-collector=false")
    return args


def _client_tls(ca: Path, client: CertFiles) -> ssl.SSLContext:
    tls = ssl.create_default_context(cafile=str(ca))
    tls.load_cert_chain(client.cert, client.key)
    return tls


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _kubeconfig(server: str, ca: Path, users: Mapping[str, CertFiles]) -> dict[str, Any]:
    """A self-contained kubeconfig (inline PEM data), one context per user."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kfops-test",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(files.cert),
                    "client-key-data": _b64(files.key),
                },
            }
            for user, files in users.items()
        ],
        "contexts": [{"name": user, "context": {"cluster": "kfops-test", "user": user}} for user in users],
        "current-context": "admin",
    }


class ControlPlane:
    """etcd + kube-apiserver (+ a fake kubelet) on loopback; see the module docstring.

    Use :meth:`start`; always call :meth:`stop` (it is idempotent).
    """

    kubeconfig: Path
    server: str

    def __init__(self, workdir: Path, binaries: Binaries) -> None:
        self.workdir = workdir
        self.binaries = binaries
        self.pki = Pki(workdir / "pki")
        self.users = {
            user: self.pki.issue(user, user, groups=groups, client=True) for user, groups in USERS.items()
        }
        self.timings: dict[str, float] = {}
        self._etcd: _Process | None = None
        self._apiserver: _Process | None = None
        self._etcd_dir: Path | None = None
        self._kubelet: FakeKubelet | None = None

    @property
    def kubelet(self) -> FakeKubelet:
        """The fake kubelet every test Node should point at."""
        if self._kubelet is None:
            raise RuntimeError("the control plane is not started")
        return self._kubelet

    @classmethod
    def start(cls, workdir: Path, binaries: Binaries | None = None) -> ControlPlane:
        """Start everything and wait until ``/readyz`` is ok (bounded by READY_TIMEOUT_S).

        ``binaries`` defaults to :func:`find_binaries` (which may build them).
        """
        began = time.monotonic()
        workdir.mkdir(parents=True, exist_ok=True)
        binaries = binaries or find_binaries()
        found = time.monotonic()
        plane = cls(workdir, binaries)
        try:
            plane._start_processes()
            # Started after the processes: no extra thread exists while forking them.
            plane._kubelet = FakeKubelet(plane.pki)
        except BaseException:
            plane.stop()
            raise
        plane.timings.update(find_binaries=found - began, start_to_ready=time.monotonic() - found)
        return plane

    def _start_processes(self) -> None:
        """Start etcd then kube-apiserver; retry once with new ports on a port collision."""
        for attempt in (1, 2):
            etcd_port = self._start_etcd(retry=attempt == 1)
            if etcd_port is None:
                continue
            if self._start_apiserver(etcd_port, retry=attempt == 1):
                self._check_etcd_survived()
                return
        raise RuntimeError("could not find free loopback ports for etcd/kube-apiserver")

    def _check_etcd_survived(self) -> None:
        """Fail if our etcd died after its first healthy answer.

        If another process grabbed etcd's port in the meantime, that process may have
        answered /health while ours failed to bind; it would be dead by the time the
        apiserver (slower to start) is ready. The apiserver itself cannot be confused
        this way: its /readyz probe only trusts a certificate from this run's CA.
        """
        if self._etcd is not None and self._etcd.exit_code is not None:
            raise self._etcd.failure("etcd exited while kube-apiserver was starting")

    def _start_etcd(self, *, retry: bool) -> int | None:
        """Start etcd and wait for /health; None means "port taken, try again"."""
        client_port, peer_port = _free_port(), _free_port()
        self._etcd_dir = _etcd_data_dir(self.workdir)
        args = _etcd_args(self.binaries.etcd, self._etcd_dir, client_port, peer_port)
        self._etcd = _Process("etcd", args, self.workdir / "etcd.log")
        try:
            health = f"http://{LOOPBACK}:{client_port}/health"
            _wait_ready(self._etcd, health, None, READY_TIMEOUT_S)
        except RuntimeError:
            if retry and self._etcd.address_in_use():
                self._stop_etcd()
                return None
            raise
        return client_port

    def _start_apiserver(self, etcd_port: int, *, retry: bool) -> bool:
        """Start kube-apiserver and wait for /readyz; False means "port taken, try again"."""
        port = _free_port()
        files = _ApiserverFiles(
            ca=self.pki.ca_cert,
            serving=self.pki.issue("apiserver", "kube-apiserver", server=True),
            service_account=self.pki.service_account_keys(),
            kubelet_client=self.pki.issue("kubelet-client", KUBELET_CLIENT_CN, client=True),
            cert_dir=self.workdir / "apiserver-certs",
        )
        self.server = f"https://{LOOPBACK}:{port}"
        args = _apiserver_args(self.binaries.kube_apiserver, files, etcd_port, port)
        self._apiserver = _Process("kube-apiserver", args, self.workdir / "kube-apiserver.log")
        tls = _client_tls(self.pki.ca_cert, self.users["admin"])
        try:
            _wait_ready(self._apiserver, f"{self.server}/readyz", tls, READY_TIMEOUT_S)
        except RuntimeError:
            if retry and self._apiserver.address_in_use():
                self._apiserver.stop()
                self._stop_etcd()
                return False
            raise
        self.kubeconfig = self.workdir / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(_kubeconfig(self.server, self.pki.ca_cert, self.users)))
        self.kubeconfig.chmod(0o600)
        return True

    def _stop_etcd(self) -> None:
        if self._etcd is not None:
            self._etcd.stop()
        if self._etcd_dir is not None:
            shutil.rmtree(self._etcd_dir, ignore_errors=True)
            self._etcd_dir = None

    def stop(self) -> None:
        """Stop the apiserver before etcd (it would otherwise log etcd errors), then the kubelet."""
        if self._apiserver is not None:
            self._apiserver.stop()
        self._stop_etcd()
        if self._kubelet is not None:
            self._kubelet.stop()
            self._kubelet = None

    def logs(self, count: int = LOG_TAIL_LINES) -> str:
        """The last ``count`` lines of each process log, plus fake-kubelet traffic."""
        parts = [
            f"--- {process.name} ({process.log_path}) ---\n{process.tail(count)}"
            for process in (self._etcd, self._apiserver)
            if process is not None
        ]
        if self._kubelet is not None:
            kubelet = self._kubelet
            parts.append(f"--- fake kubelet (port {kubelet.port}) ---\n{kubelet.summary()}")
        return "\n".join(parts)
