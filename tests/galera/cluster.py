"""A real 3-node MariaDB Galera cluster on loopback for tests.

Why: the Galera ladder reads ``wsrep_%`` status, the processlist and column definitions. Those
reads must be proven against real servers in the states that matter during an incident: a
node gone (size 2, still Primary), quorum lost (the survivor is ``non-Primary``), a node that
rejoins by IST, and schema divergence left by an ``RSU`` ALTER. None of that can be faked
convincingly with canned rows.

How: :meth:`GaleraCluster.start` gives each node a home directory under ``workdir`` (datadir,
my.cnf, socket, pid file, logs), initialises it with ``mariadb-install-db``, bootstraps node 1
with ``--wsrep-new-cluster`` and joins the others one at a time (full SST by rsync), waiting
for ``Synced`` and the expected ``wsrep_cluster_size`` each time. Every port is a free loopback
port below the ephemeral range; the servers bind 127.0.0.1 only. When pytest runs as root the
servers run as the ``mysql`` user (mariadbd will not run as root unless told to, and DESIGN §8
records that the rsync state transfer fails as root), so ``workdir`` must be reachable by that
user: :func:`make_workdir` makes one.

Every failure raises :class:`RuntimeError` naming the node and the step, with the tail of that
node's error log. Callers fail the test run; they never skip. The servers get
``PR_SET_PDEATHSIG`` and their own process group, so a dead pytest leaves no server behind and
:meth:`GaleraCluster.stop` reaps state-transfer helpers (rsync daemons) too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypedDict, Unpack

import pymysql
from pymysql.connections import Connection

LOOPBACK: Final = "127.0.0.1"
RUN_AS: Final = "mysql"
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT: Final = REPO_ROOT / "scripts" / "testenv" / "install-galera.sh"

SYNC_TIMEOUT_S: Final = 90.0  #: one node from launch to Synced; a cold join is ~5 s on 2 cores
STOP_TIMEOUT_S: Final = 60.0  #: a clean shutdown asked for by a test; ~0.1–0.5 s in practice
SHUTDOWN_TIMEOUT_S: Final = 20.0  #: per node in stop(), which must end even on a broken cluster
QUORUM_LOSS_TIMEOUT_S: Final = 60.0  #: the survivor notices in ~6 s (measured; evs.suspect_timeout 5 s)
RECOVER_TIMEOUT_S: Final = 60.0  #: ``mariadbd --wsrep-recover`` (InnoDB crash recovery only)
POLL_S: Final = 0.2
LOG_TAIL_LINES: Final = 40
SOCKET_PATH_MAX: Final = 107  #: sun_path is 108 bytes with the terminating NUL
PORTS_PER_NODE: Final = 4  #: SQL, Galera group communication, IST, SST
PORT_RANGE_START: Final = 20000  #: node ports come from here up to the ephemeral range (see _free_ports)

ADMIN_USER: Final = "kfops_admin"
ADMIN_PASSWORD: Final = "kfops-admin-test-pw"
READER_USER: Final = "kfops"
READER_PASSWORD: Final = "kfops-reader-test-pw"
#: What the read-only probes need: SELECT for information_schema.COLUMNS of every table (it only
#: lists columns the user has some privilege on) and PROCESS to see other sessions in
#: information_schema.PROCESSLIST (without it, only its own). SHOW GLOBAL STATUS needs nothing.
READER_GRANTS: Final = "SELECT, PROCESS"

PROVIDER_CANDIDATES: Final = (
    "/usr/lib/galera/libgalera_smm.so",
    "/usr/lib/libgalera_smm.so",
    "/usr/lib64/galera-4/libgalera_smm.so",
    "/usr/lib64/galera/libgalera_smm.so",
    "/usr/lib/x86_64-linux-gnu/galera/libgalera_smm.so",
    "/usr/lib/aarch64-linux-gnu/galera/libgalera_smm.so",
)
_RECOVERED: Final = re.compile(r"WSREP: Recovered position:\s*([0-9a-f-]{36}):(-?\d+)")

Status = dict[str, str]


# ---------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class GaleraBinaries:
    """The server, its datadir initialiser and the Galera provider library."""

    mariadbd: Path
    install_db: Path
    provider: Path


def install_binaries() -> tuple[GaleraBinaries, float]:
    """Run ``scripts/testenv/install-galera.sh`` (a no-op when all is present); paths and seconds taken.

    The script installs Debian's mariadb-server, galera-4 and rsync when something is missing,
    so a fresh CI machine needs no other step. Its stdout is ``name=PATH`` lines.
    """
    began = time.monotonic()
    result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False)
    took = time.monotonic() - began
    if result.returncode != 0:
        raise RuntimeError(
            f"{INSTALL_SCRIPT.relative_to(REPO_ROOT)} failed with exit code {result.returncode}:\n"
            f"{_tail(result.stderr)}"
        )
    found = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    try:
        paths = GaleraBinaries(Path(found["mariadbd"]), Path(found["install_db"]), Path(found["galera"]))
    except KeyError as missing:
        raise RuntimeError(
            f"{INSTALL_SCRIPT.name} did not print {missing.args[0]}=PATH; stdout was:\n{result.stdout}"
        ) from None
    return paths, took


def locate_binaries() -> GaleraBinaries:
    """Find the binaries on disk without installing anything (``KFOPS_TEST_GALERA_PROVIDER`` wins)."""
    mariadbd = _which("mariadbd", "mysqld", extra_dirs=("/usr/sbin",))
    install_db = _which("mariadb-install-db", "mysql_install_db", extra_dirs=("/usr/bin",))
    override = os.environ.get("KFOPS_TEST_GALERA_PROVIDER")
    providers = [override] if override else list(PROVIDER_CANDIDATES)
    provider = next((Path(p) for p in providers if Path(p).is_file()), None)
    missing = [
        name
        for name, path in (("mariadbd", mariadbd), ("mariadb-install-db", install_db), ("galera", provider))
        if path is None
    ]
    if missing or mariadbd is None or install_db is None or provider is None:
        raise RuntimeError(
            f"not found: {', '.join(missing)}; install them with {INSTALL_SCRIPT.relative_to(REPO_ROOT)}"
        )
    return GaleraBinaries(mariadbd, install_db, provider)


def _which(*names: str, extra_dirs: tuple[str, ...]) -> Path | None:
    for name in names:
        found = shutil.which(name) or next(
            (f"{d}/{name}" for d in extra_dirs if os.access(f"{d}/{name}", os.X_OK)), None
        )
        if found:
            return Path(found)
    return None


# ---------------------------------------------------------------------- small helpers


def _tail(text: str, count: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-count:])


def _free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports, free now and outside the kernel's ephemeral range.

    Why not ``bind(0)``: a node keeps its ports for life (every peer lists them in
    ``wsrep_cluster_address``), and while a node is down any outgoing connection (a client, a
    peer retrying gcomm, an IST or rsync transfer) could be handed its port as a source port
    from the ephemeral range, so the restart would fail with "address already in use". Ports
    below that range are never picked for outgoing connections.
    """
    low = _ephemeral_low()
    candidates = random.sample(range(PORT_RANGE_START, low), k=min(low - PORT_RANGE_START, 400))
    found: list[int] = []
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(
        f"found only {len(found)} of {count} free loopback ports in {PORT_RANGE_START}..{low - 1}"
    )


def _ephemeral_low() -> int:
    """The first port of ``net.ipv4.ip_local_port_range`` (32768 when unreadable)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
    return low if low > PORT_RANGE_START + 1000 else 32768


def _parent_death_signal() -> Callable[[], None] | None:
    """Kill the server when pytest dies (Linux prctl).

    Runs after the child switched to the ``mysql`` user: the kernel clears the parent-death
    signal on a credential change, so setting it earlier (or letting mariadbd drop root by
    itself with ``--user``) would not stick.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return hook


@dataclass(frozen=True)
class _Identity:
    """Who the servers run as: ``mysql`` when we are root, else ourselves."""

    name: str
    uid: int
    gid: int

    @classmethod
    def resolve(cls) -> _Identity | None:
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(RUN_AS)
        except KeyError:
            raise RuntimeError(
                f"running as root but there is no {RUN_AS!r} user to run the servers as "
                f"(mariadbd and rsync SST should not run as root); {INSTALL_SCRIPT.name} installs it"
                " with mariadb-server"
            ) from None
        return cls(RUN_AS, entry.pw_uid, entry.pw_gid)


def make_workdir(prefix: str = "kfops-galera-") -> Path:
    """A fresh directory the servers' user can reach: on tmpfs (/dev/shm) when it has room.

    pytest's own tmp_path lives under a 0700 directory of root's, which the ``mysql`` user
    cannot traverse; tmpfs also spares InnoDB and Galera fsync costs on slow CI disks.
    """
    shm = Path("/dev/shm")
    base: str | None = None
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 1 << 30:
        base = str(shm)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


# ---------------------------------------------------------------------- records


class ConnectOptions(TypedDict, total=False):
    """The ``pymysql.connect`` options :meth:`Dsn.connect` sets by default and lets callers override."""

    connect_timeout: float
    read_timeout: float
    write_timeout: float
    autocommit: bool


class _ServerUser(TypedDict, total=False):
    """``subprocess`` arguments that run a child as the servers' user."""

    user: int
    group: int
    extra_groups: list[int]


@dataclass(frozen=True)
class Dsn:
    """Connection details for one node; ``connect()`` opens a pymysql connection with them."""

    host: str
    port: int
    user: str
    password: str

    def connect(self, **options: Unpack[ConnectOptions]) -> Connection:
        params: ConnectOptions = {
            "connect_timeout": 5,
            "read_timeout": 30,
            "write_timeout": 30,
            "autocommit": True,
        }
        params.update(options)
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            **params,
        )


@dataclass(frozen=True)
class GraState:
    """``grastate.dat``: the node's last known cluster position (seqno -1 while running or after a crash)."""

    uuid: str
    seqno: int
    safe_to_bootstrap: bool

    @classmethod
    def read(cls, datadir: Path) -> GraState | None:
        try:
            text = (datadir / "grastate.dat").read_text()
        except FileNotFoundError:
            return None
        fields = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in text.splitlines())
            if not key.startswith("#")
        )
        return cls(
            fields.get("uuid", ""),
            int(fields.get("seqno", "-1")),
            fields.get("safe_to_bootstrap", "0") == "1",
        )


@dataclass
class Node:
    """One server: its files, ports and (while running) its process."""

    index: int
    home: Path
    port: int
    galera_port: int
    ist_port: int
    sst_port: int
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log_offset: int = 0  #: size of error.log when the current process started
    recovered: tuple[str, int] | None = None  #: ``--wsrep-recover`` result since the last stop

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def cnf(self) -> Path:
        return self.home / "my.cnf"

    @property
    def socket(self) -> Path:
        return self.home / "mysqld.sock"

    @property
    def error_log(self) -> Path:
        return self.home / "error.log"

    @property
    def console_log(self) -> Path:
        return self.home / "console.log"

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def gcomm(self) -> str:
        return f"{LOOPBACK}:{self.galera_port}"


def node_config(node: Node, provider: Path, cluster_name: str, peers: str) -> str:
    """The node's my.cnf (``--defaults-file``, so /etc/mysql is never read).

    ``binlog_format=ROW`` and ``innodb_autoinc_lock_mode=2`` are what Galera requires.
    ``wsrep_node_incoming_address`` is explicit because with ``bind-address=127.0.0.1`` the
    default (AUTO) is what ``wsrep_incoming_addresses`` would list for every node. The small
    buffer pool, redo log and gcache keep three nodes light on a 2-core CI machine (the gcache
    still holds far more than a test writes, so a restarted node rejoins by IST).
    """
    provider_options = ";".join(
        (
            f"gmcast.listen_addr=tcp://{LOOPBACK}:{node.galera_port}",
            f"ist.recv_addr={LOOPBACK}:{node.ist_port}",
            "gcache.size=64M",
        )
    )
    return "\n".join(
        (
            "[mysqld]",
            f"datadir={node.datadir}",
            f"socket={node.socket}",
            f"pid-file={node.home / 'mysqld.pid'}",
            f"log-error={node.error_log}",
            f"port={node.port}",
            f"bind-address={LOOPBACK}",
            "skip-name-resolve",
            "binlog_format=ROW",
            "default_storage_engine=InnoDB",
            "innodb_autoinc_lock_mode=2",
            "innodb_buffer_pool_size=64M",
            "innodb_log_file_size=32M",
            "innodb_flush_log_at_trx_commit=2",
            "wsrep_on=ON",
            f"wsrep_provider={provider}",
            f'wsrep_provider_options="{provider_options}"',
            f"wsrep_cluster_name={cluster_name}",
            f"wsrep_cluster_address=gcomm://{peers}",
            f"wsrep_node_address={node.gcomm}",
            f"wsrep_node_incoming_address={LOOPBACK}:{node.port}",
            f"wsrep_node_name={node.name}",
            "wsrep_sst_method=rsync",
            f"wsrep_sst_receive_address={LOOPBACK}:{node.sst_port}",
            "",
            "[client]",
            f"socket={node.socket}",
            "",
        )
    )


# ---------------------------------------------------------------------- the cluster


@dataclass(repr=False)
class GaleraCluster:
    """A running Galera cluster; build it with :meth:`start`. Nodes are numbered from 1."""

    workdir: Path
    binaries: GaleraBinaries
    nodes: list[Node]
    cluster_name: str
    identity: _Identity | None
    timings: list[tuple[str, float]] = field(default_factory=list)  #: (what, seconds), in order
    events: list[str] = field(default_factory=list)  #: restore decisions, for test reports

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(cls, workdir: Path, nodes: int = 3, binaries: GaleraBinaries | None = None) -> GaleraCluster:
        """Initialise ``nodes`` datadirs, bootstrap node 1, join the others one by one.

        Returns once every node is Synced in one Primary component of size ``nodes``, the test
        users exist, and the cluster state UUID is the same everywhere. On any failure every
        process started so far is stopped before the error propagates.
        """
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        began = time.monotonic()
        cluster = cls._prepare(workdir, nodes, binaries or locate_binaries())
        try:
            cluster._bootstrap(cluster.node(1))
            cluster._create_users()
            for node in cluster.nodes[1:]:
                joined = time.monotonic()
                cluster._launch(node)
                cluster.wait_synced(node.index, size=node.index)
                cluster.timings.append(
                    (f"join {node.name} ({cluster.state_transfer(node.index)})", time.monotonic() - joined)
                )
            cluster._check_same_state_uuid()
        except BaseException:
            cluster.stop()
            raise
        cluster.timings.append((f"cold start, {nodes} nodes Synced", time.monotonic() - began))
        return cluster

    @classmethod
    def _prepare(cls, workdir: Path, count: int, binaries: GaleraBinaries) -> GaleraCluster:
        identity = _Identity.resolve()
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        ports = _free_ports(count * PORTS_PER_NODE)
        nodes = []
        for i in range(1, count + 1):
            port, galera_port, ist_port, sst_port = ports[(i - 1) * PORTS_PER_NODE : i * PORTS_PER_NODE]
            nodes.append(Node(i, workdir / f"node{i}", port, galera_port, ist_port, sst_port))
        cluster = cls(workdir, binaries, nodes, f"kfops-test-{secrets.token_hex(4)}", identity)
        cluster._own(workdir)
        _check_reachable(workdir, identity)
        peers = ",".join(node.gcomm for node in nodes)
        began = time.monotonic()
        for node in nodes:
            if len(str(node.socket)) > SOCKET_PATH_MAX:
                raise RuntimeError(f"socket path too long for a unix socket: {node.socket}")
            node.home.mkdir()
            cluster._own(node.home)
            node.cnf.write_text(node_config(node, binaries.provider, cluster.cluster_name, peers))
            cluster._install_db(node)
        cluster.timings.append((f"mariadb-install-db x{count}", time.monotonic() - began))
        return cluster

    def _own(self, path: Path) -> None:
        if self.identity is not None:
            os.chown(path, self.identity.uid, self.identity.gid)

    def _user_args(self) -> list[str]:
        return [f"--user={self.identity.name}"] if self.identity else []

    def _as_server_user(self) -> _ServerUser:
        """Popen arguments that run the child as the servers' user (nothing when not root)."""
        if self.identity is None:
            return {}
        return {"user": self.identity.uid, "group": self.identity.gid, "extra_groups": []}

    def _install_db(self, node: Node) -> None:
        argv = [
            str(self.binaries.install_db),
            f"--defaults-file={node.cnf}",
            *self._user_args(),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=node.home,
            check=False,
            **self._as_server_user(),
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{node.name}: mariadb-install-db failed with exit code {result.returncode}:\n"
                f"{_tail(result.stdout + result.stderr)}"
            )

    def _bootstrap(self, node: Node) -> None:
        """Start ``node`` as a new Primary component of one.

        After a crash the position must be passed explicitly: ``--wsrep-new-cluster`` on a node
        whose grastate.dat says seqno -1 starts a NEW history (new cluster state UUID, seqno 0),
        and every other node then needs a full SST.
        """
        began = time.monotonic()
        self._launch(node, "--wsrep-new-cluster", *self._start_position(node))
        self.wait_synced(node.index, size=1)
        self.timings.append((f"bootstrap {node.name}", time.monotonic() - began))

    def _launch(self, node: Node, *extra: str) -> None:
        """Start mariadbd for ``node`` in its own process group, as the servers' user."""
        if node.running:
            raise RuntimeError(f"{node.name} is already running (pid {node.popen and node.popen.pid})")
        argv = [str(self.binaries.mariadbd), f"--defaults-file={node.cnf}", *self._user_args(), *extra]
        node.starts += 1
        node.log_offset = node.error_log.stat().st_size if node.error_log.exists() else 0
        node.recovered = None
        with node.console_log.open("ab") as console:
            console.write(f"\n--- start {node.starts}: {' '.join(argv)}\n".encode())
            console.flush()
            try:
                node.popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=console,
                    stderr=subprocess.STDOUT,
                    cwd=node.home,
                    start_new_session=True,
                    preexec_fn=_parent_death_signal(),
                    **self._as_server_user(),
                )
            except OSError as error:
                raise RuntimeError(f"{node.name}: starting {argv[0]} failed: {error}") from error

    def stop(self) -> None:
        """Stop every server, one after the other, SIGKILL after a bounded wait. Never raises; safe to repeat.

        One at a time on purpose: each leaves the group cleanly in ~0.1 s, while three SIGTERMs
        at once make every node wait ~5 s for peers that are leaving too.
        """
        for node in reversed(self.nodes):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._terminate(node, SHUTDOWN_TIMEOUT_S)

    def _terminate(self, node: Node, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Clean shutdown (SIGTERM) of one server, SIGKILL after ``timeout``; its exit code."""
        if node.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                node.popen.terminate()
        return self._reap(node, timeout)

    def _reap(self, node: Node, timeout: float) -> int | None:
        """Wait for ``node``'s server to exit (SIGKILL after ``timeout``), then kill its helpers."""
        popen, node.popen = node.popen, None
        if popen is None:
            return None
        try:
            code = popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(popen.pid)
            code = popen.wait(timeout=STOP_TIMEOUT_S)
        _kill_group(popen.pid)  # rsync daemons and SST scripts left by the server
        return code

    # ------------------------------------------------------------------ access

    def __repr__(self) -> str:
        nodes = ", ".join(f"{n.name}={'up' if n.running else 'down'}:{n.port}" for n in self.nodes)
        return f"GaleraCluster({nodes}, workdir={self.workdir})"

    def node(self, index: int) -> Node:
        if not 1 <= index <= len(self.nodes):
            raise IndexError(f"no node {index}; nodes are 1..{len(self.nodes)}")
        return self.nodes[index - 1]

    def running_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.running]

    def dsn(self, index: int) -> Dsn:
        """The read-only user's connection details for one node (what kfops would be given)."""
        return Dsn(LOOPBACK, self.node(index).port, READER_USER, READER_PASSWORD)

    def admin_dsn(self, index: int) -> Dsn:
        return Dsn(LOOPBACK, self.node(index).port, ADMIN_USER, ADMIN_PASSWORD)

    def admin(self, index: int) -> Connection:
        """A new autocommit connection as the test admin (all privileges) over TCP; close it."""
        return self.admin_dsn(index).connect()

    def _root(self, node: Node, timeout: float = 5.0) -> Connection:
        """root over the node's unix socket: works before the test users exist, and on non-Primary nodes."""
        return pymysql.connect(
            unix_socket=str(node.socket),
            user="root",
            password="",
            connect_timeout=timeout,
            read_timeout=timeout * 6,
            write_timeout=timeout * 6,
            autocommit=True,
        )

    def status(self, index: int) -> Status:
        """``SHOW GLOBAL STATUS LIKE 'wsrep%'`` on one node (answers even when non-Primary)."""
        with self._root(self.node(index)) as conn, conn.cursor() as cursor:
            cursor.execute("SHOW GLOBAL STATUS LIKE 'wsrep%'")
            return {str(name): str(value) for name, value in cursor.fetchall()}

    def logs(self, index: int, tail: int | None = LOG_TAIL_LINES, since_start: bool = False) -> str:
        """The node's error log: its last ``tail`` lines (all with ``tail=None``), optionally only
        what the current (or last) process wrote."""
        node = self.node(index)
        for path in (node.error_log, node.console_log):
            try:
                with path.open("rb") as log:
                    if since_start and path == node.error_log:
                        log.seek(node.log_offset)
                    lines = log.read().decode(errors="replace").splitlines()
            except FileNotFoundError:
                continue
            return "\n".join(lines if tail is None else lines[-tail:])
        return "(no log written)"

    def logs_console(self, index: int, tail: int = 12) -> str:
        """The node's start commands and ``--wsrep-recover`` output (what error.log does not show)."""
        try:
            lines = self.node(index).console_log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(never started)"
        return "\n".join(lines[-tail:])

    def state_transfer(self, index: int) -> str:
        """How the node's current process joined: ``"IST"``, ``"SST"`` (full copy) or ``"none"``.

        Read from the rsync script's own words in the error log, since "IST received" is also
        logged after every full SST (for the write-sets that arrived during the copy).
        """
        text = self.logs(index, tail=None, since_start=True)
        if "rsync IST completed on joiner" in text:
            return "IST"
        if "rsync SST completed on joiner" in text:
            return "SST"
        return "none"

    def schema(self, prefix: str) -> str:
        """Create a database with a unique name (replicated by TOI) for one test; return its name."""
        clean = re.sub(r"[^a-z0-9_]", "_", prefix.lower())[:40] or "t"
        name = f"{clean}_{secrets.token_hex(4)}"
        index = next(n.index for n in self.nodes if n.running)
        with self.admin(index) as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        return name

    # ------------------------------------------------------------------ waiting

    def wait_for(
        self, index: int, predicate: Callable[[Status], bool], what: str, timeout: float = SYNC_TIMEOUT_S
    ) -> Status:
        """Poll node ``index``'s wsrep status until ``predicate`` holds; return that status.

        Connection errors count as "not yet" (a joining server opens its port only after the
        state transfer). The node exiting, or the deadline, raises with the error log tail.
        """
        node = self.node(index)
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            if not node.running:
                code = node.popen.poll() if node.popen else None
                raise RuntimeError(
                    f"{node.name} is not running (exit code {code}) while waiting for {what}\n"
                    f"{self.logs(index)}"
                )
            try:
                status = self.status(index)
            except pymysql.err.MySQLError as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if predicate(status):
                    return status
                last = _summary(status)
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"{node.name}: no {what} within {timeout:.0f} s (last: {last})\n{self.logs(index)}"
                )
            time.sleep(POLL_S)

    def wait_synced(self, index: int, size: int, timeout: float = SYNC_TIMEOUT_S) -> Status:
        """Wait until the node is Synced, ready, in a Primary component of ``size`` nodes."""

        def synced(status: Status) -> bool:
            return (
                status.get("wsrep_local_state_comment") == "Synced"
                and status.get("wsrep_cluster_status") == "Primary"
                and status.get("wsrep_ready") == "ON"
                and status.get("wsrep_cluster_size") == str(size)
            )

        return self.wait_for(index, synced, f"Synced in a Primary component of {size}", timeout)

    def sync(self, timeout: float = SYNC_TIMEOUT_S) -> None:
        """Wait until every running node has applied every write-set committed anywhere so far.

        Call it before a deliberate crash: a commit returns on the originating node before the
        others have applied the write-set, and a node SIGKILLed in the middle of applying a DDL
        (CREATE TABLE, DROP DATABASE: "DDL_LOG: Crash recovery executed 1 entries" on restart)
        comes back with an undefined position (``00000000-…:-1``), even with
        ``--wsrep-start-position``, and takes a full SST instead of IST.
        """
        running = self.running_nodes()
        target = max(int(self.status(node.index)["wsrep_last_committed"]) for node in running)
        for node in running:
            self.wait_for(
                node.index,
                lambda status: int(status.get("wsrep_last_committed", "-1")) >= target,
                f"wsrep_last_committed >= {target}",
                timeout,
            )

    def _check_same_state_uuid(self) -> None:
        uuids = {
            node.name: self.status(node.index)["wsrep_cluster_state_uuid"] for node in self.running_nodes()
        }
        if len(set(uuids.values())) != 1:
            raise RuntimeError(f"nodes disagree on the cluster state UUID: {uuids}")

    # ------------------------------------------------------------------ users

    def _create_users(self) -> None:
        """The test admin and the read-only user, created on node 1 (replicated by TOI and SST)."""
        statements = (
            f"CREATE USER '{ADMIN_USER}'@'{LOOPBACK}' IDENTIFIED BY '{ADMIN_PASSWORD}'",
            f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'{LOOPBACK}' WITH GRANT OPTION",
            f"CREATE USER '{READER_USER}'@'{LOOPBACK}' IDENTIFIED BY '{READER_PASSWORD}'",
            f"GRANT {READER_GRANTS} ON *.* TO '{READER_USER}'@'{LOOPBACK}'",
        )
        with self._root(self.node(1)) as conn, conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    # ------------------------------------------------------------------ disruptions

    def stop_node(self, index: int) -> float:
        """Clean shutdown of one node; waits until the others report the smaller cluster. Seconds taken.

        A node that leaves gracefully is removed from the view at once, so the rest keeps quorum
        whatever its size (2 of 3, or even 1 of 2).
        """
        node = self.node(index)
        if not node.running or node.popen is None:
            raise RuntimeError(f"{node.name} is not running")
        began = time.monotonic()
        code = self._terminate(node)
        if code != 0:
            raise RuntimeError(f"{node.name}: clean shutdown exited with code {code}\n{self.logs(index)}")
        remaining = self.running_nodes()
        size = str(len(remaining))
        for other in remaining:
            self.wait_for(
                other.index,
                lambda status: status.get("wsrep_cluster_size") == size,
                f"wsrep_cluster_size {size} after {node.name} left",
            )
        took = time.monotonic() - began
        self.timings.append((f"clean stop {node.name}", took))
        return took

    def kill_node(self, index: int) -> None:
        """SIGKILL one node (and its helpers). Does not wait for the others to notice."""
        node = self.node(index)
        if node.popen is None:
            raise RuntimeError(f"{node.name} is not running")
        _kill_group(node.popen.pid)
        self._reap(node, STOP_TIMEOUT_S)

    def start_node(self, index: int) -> float:
        """Restart a stopped or killed node and wait until it is Synced with every running node.

        A cleanly stopped node knows its position from grastate.dat and catches up by IST. A
        killed one has seqno -1 there and would join as ``00000000-…:-1``, i.e. by a full SST;
        like the Debian unit's ``galera_recovery``, its position is first recovered from InnoDB
        (``--wsrep-recover``) and passed as ``--wsrep-start-position``, so it gets IST too.
        Seconds taken.
        """
        node = self.node(index)
        began = time.monotonic()
        self._launch(node, *self._start_position(node))
        self.wait_synced(index, size=len(self.running_nodes()))
        took = time.monotonic() - began
        self.timings.append((f"rejoin {node.name} ({self.state_transfer(index)})", took))
        return took

    def lose_quorum(self, survivor: int = 1) -> float:
        """Kill every node but ``survivor`` and wait until it reports non-Primary. Seconds to notice.

        With 1 of 3 left there is no majority: the survivor keeps running but refuses queries
        (``wsrep_ready=OFF``, error 1047) until a Primary component is bootstrapped again.
        """
        self.node(survivor)
        for node in self.nodes:
            if node.index != survivor and node.running:
                self.kill_node(node.index)
        began = time.monotonic()
        self.wait_for(
            survivor,
            lambda s: s.get("wsrep_cluster_status") == "non-Primary",
            "non-Primary after losing quorum",
            QUORUM_LOSS_TIMEOUT_S,
        )
        took = time.monotonic() - began
        self.timings.append((f"quorum loss noticed by node{survivor}", took))
        return took

    # ------------------------------------------------------------------ recovery

    def _start_position(self, node: Node) -> list[str]:
        """``--wsrep-start-position`` for a node that crashed (grastate.dat seqno -1), else nothing."""
        state = GraState.read(node.datadir)
        if state is None or state.seqno >= 0 or not state.uuid:
            return []
        uuid, seqno = node.recovered or self.recover_position(node.index)
        return [f"--wsrep-start-position={uuid}:{seqno}"]

    def recover_position(self, index: int) -> tuple[str, int]:
        """``mariadbd --wsrep-recover`` on a stopped node: the (uuid, seqno) InnoDB last committed."""
        node = self.node(index)
        if node.running:
            raise RuntimeError(f"{node.name} is running; --wsrep-recover needs it stopped")
        argv = [
            str(self.binaries.mariadbd),
            f"--defaults-file={node.cnf}",
            *self._user_args(),
            "--wsrep-recover",
            "--disable-log-error",
        ]
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=RECOVER_TIMEOUT_S,
                cwd=node.home,
                check=False,
                start_new_session=True,
                **self._as_server_user(),
            )
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(
                f"{node.name}: --wsrep-recover did not finish in {RECOVER_TIMEOUT_S:.0f} s"
            ) from error
        output = result.stdout + result.stderr
        with node.console_log.open("a") as console:
            console.write(f"\n--- {' '.join(argv)}\n{output}")
        found = _RECOVERED.search(output)
        if result.returncode != 0 or found is None:
            raise RuntimeError(
                f"{node.name}: --wsrep-recover exited with code {result.returncode} and no position:\n"
                f"{_tail(output)}"
            )
        node.recovered = (found.group(1), int(found.group(2)))
        return node.recovered

    def positions(self) -> dict[int, int]:
        """Every node's last committed seqno: live status if running, else grastate.dat or --wsrep-recover."""
        found: dict[int, int] = {}
        for node in self.nodes:
            if node.running:
                found[node.index] = int(self.status(node.index)["wsrep_last_committed"])
                continue
            state = GraState.read(node.datadir)
            if state is not None and state.seqno >= 0:
                found[node.index] = state.seqno
            else:
                found[node.index] = self.recover_position(node.index)[1]
        return found

    def healthy(self) -> bool:
        """Every node running, Synced, in one Primary component of full size."""
        if len(self.running_nodes()) != len(self.nodes):
            return False
        try:
            statuses = [self.status(node.index) for node in self.nodes]
        except pymysql.err.MySQLError:
            return False
        return all(
            s.get("wsrep_local_state_comment") == "Synced"
            and s.get("wsrep_cluster_status") == "Primary"
            and s.get("wsrep_cluster_size") == str(len(self.nodes))
            for s in statuses
        )

    def restore(self) -> float:
        """Bring the cluster back to every node Synced in one Primary component. Seconds taken.

        If some running node is still Primary, the missing nodes just rejoin. If none is (quorum
        lost, or everything down), the most advanced node is found the way an operator would:
        ``wsrep_last_committed`` of running nodes, grastate.dat seqno of cleanly stopped ones,
        ``--wsrep-recover`` for crashed ones (seqno -1). A running winner is promoted with
        ``pc.bootstrap=YES``; a stopped winner gets ``safe_to_bootstrap: 1`` and
        ``--wsrep-new-cluster`` after the other running nodes are stopped. The others rejoin.
        """
        began = time.monotonic()
        how = "rejoin only" if self._has_primary() else self._bootstrap_most_advanced()
        for node in self.nodes:
            if not node.running:
                self.start_node(node.index)
        for node in self.nodes:
            self.wait_synced(node.index, size=len(self.nodes))
        self._check_same_state_uuid()
        took = time.monotonic() - began
        self.timings.append((f"restore to all Synced ({how})", took))
        return took

    def _has_primary(self) -> bool:
        for node in self.running_nodes():
            with contextlib.suppress(pymysql.err.MySQLError):
                if self.status(node.index).get("wsrep_cluster_status") == "Primary":
                    return True
        return False

    def _bootstrap_most_advanced(self) -> str:
        """Make the most advanced node a new Primary component; how it was done, for the timings."""
        positions = self.positions()
        # Highest seqno wins; on a tie prefer a running node (no restart), then the lowest index.
        best = max(self.nodes, key=lambda n: (positions[n.index], n.running, -n.index))
        how = f"pc.bootstrap=YES on {best.name}" if best.running else f"new cluster from {best.name}"
        self.events.append(
            f"no Primary component; positions {positions}; bootstrapping from {best.name}"
            f" ({'running: pc.bootstrap=YES' if best.running else 'stopped: safe_to_bootstrap=1'})"
        )
        if best.running:
            with self._root(best) as conn, conn.cursor() as cursor:
                cursor.execute("SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'")
            self.wait_synced(best.index, size=len(self.running_nodes()))
            return how
        for node in self.running_nodes():
            self._terminate(node)
        _mark_safe_to_bootstrap(best.datadir)
        self._bootstrap(best)
        return how


def _check_reachable(workdir: Path, identity: _Identity | None) -> None:
    """Fail early, with a useful message, when the servers' user cannot reach ``workdir``."""
    if identity is None:
        return
    for directory in (workdir, *workdir.parents):
        info = directory.stat()
        if info.st_uid != identity.uid and not info.st_mode & 0o001:
            raise RuntimeError(
                f"the {identity.name} user cannot traverse {directory} (mode {oct(info.st_mode & 0o777)}), "
                f"so it cannot reach {workdir}; use galera.cluster.make_workdir()"
            )


def _mark_safe_to_bootstrap(datadir: Path) -> None:
    """The operator's edit before bootstrapping from a node that was not the last to leave."""
    path = datadir / "grastate.dat"
    text = path.read_text()
    path.write_text(re.sub(r"(?m)^safe_to_bootstrap:\s*\d+", "safe_to_bootstrap: 1", text))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _summary(status: Mapping[str, str]) -> str:
    keys = ("wsrep_local_state_comment", "wsrep_cluster_status", "wsrep_cluster_size", "wsrep_ready")
    return ", ".join(f"{key.removeprefix('wsrep_')}={status.get(key, '?')}" for key in keys)
