"""DDL in flight or blocked: the processlist, open transactions and metadata-lock holders.

On Galera a TOI DDL runs on every node at the same position and nothing else commits meanwhile;
an RSU DDL runs on one desynced node and waits for metadata locks like plain MariaDB does
(domain.md §5.3). Metadata locks are node-local, so a waiter's holder is on the waiter's node.
The exact holder comes from ``information_schema.METADATA_LOCK_INFO`` when the plugin is
installed; without it, the open transactions older than the wait are named as likely holders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.galera import queries as sql
from kfops.diagnostics.context import ProbeContext, failure_evidence, galera_evidence
from kfops.diagnostics.galera.nodes import galera_of, per_node
from kfops.model import Evidence, Observed, Source

_DDL = re.compile(
    r"^\s*(ALTER\s+TABLE|CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|CREATE\s+TABLE|DROP\s+TABLE|RENAME\s+TABLE|"
    r"TRUNCATE|OPTIMIZE\s+TABLE)",
    re.IGNORECASE,
)
#: thread states of a session waiting for a DDL's lock or turn (domain.md §5.3)
_WAITING = (
    "waiting for table metadata lock",
    "waiting for toi ddl",
    "waiting to execute in isolation",
)


@dataclass(frozen=True)
class Session:
    node: str
    id: int
    user: str
    db: str | None
    command: str
    seconds: int
    state: str
    info: str

    @property
    def ddl(self) -> bool:
        return bool(_DDL.match(self.info or ""))

    @property
    def waiting(self) -> bool:
        return self.state.lower() in _WAITING

    @property
    def system(self) -> bool:
        return self.user in ("system user", "event_scheduler")

    def describe(self) -> str:
        what = f"'{_short(self.info)}'" if self.info else f"{self.command.lower()} (idle)"
        return f"thread {self.id} ({self.user}) on {self.node}: {what} for {self.seconds}s" + (
            f", {self.state}" if self.state else ""
        )


@dataclass(frozen=True)
class Holder:
    session: Session
    how: str  # "metadata_lock_info" (exact) or "open transaction" (likely)
    lock: str = ""


@dataclass(frozen=True)
class SessionReport:
    sessions: tuple[Session, ...]
    ddl: tuple[Session, ...]  # DDL statements running or waiting
    waiters: tuple[Session, ...]  # sessions waiting for a metadata lock / a DDL's turn
    holders: tuple[Holder, ...]
    unreadable: tuple[str, ...]  # nodes whose processlist could not be read
    long_ddl_s: float = 60.0  # settings.galera_long_ddl_s

    @property
    def long_ddl(self) -> tuple[Session, ...]:
        """DDL running (not waiting) longer than the threshold: under TOI it blocks every commit."""
        return tuple(s for s in self.ddl if s.seconds >= self.long_ddl_s and not s.waiting)


def _short(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _session(node: str, row: dict[str, object]) -> Session:
    return Session(
        node=node,
        id=int(str(row.get("ID") or 0)),
        user=str(row.get("USER") or ""),
        db=str(row["DB"]) if row.get("DB") else None,
        command=str(row.get("COMMAND") or ""),
        seconds=int(str(row.get("TIME") or 0)),
        state=str(row.get("STATE") or ""),
        info=str(row.get("INFO") or ""),
    )


@dataclass(frozen=True)
class _NodeSessions:
    sessions: tuple[Session, ...]
    locks: tuple[dict[str, object], ...] | None  # None: plugin absent
    transactions: tuple[dict[str, object], ...]
    evidence: tuple[Evidence, ...]


def _holders(node: _NodeSessions, waiters: list[Session]) -> list[Holder]:
    """Who holds what the waiters wait for: exact from METADATA_LOCK_INFO, else the open
    transactions older than the longest wait; plus any DDL still running on the node."""
    if not waiters:
        return []
    waiting_ids = {w.id for w in waiters}
    by_id = {s.id: s for s in node.sessions}
    found: dict[int, Holder] = {}
    if node.locks is not None:
        tables = {
            (r.get("TABLE_SCHEMA"), r.get("TABLE_NAME"))
            for r in node.locks
            if int(str(r.get("THREAD_ID") or 0)) in waiting_ids and r.get("TABLE_NAME")
        }
        for row in node.locks:
            thread = int(str(row.get("THREAD_ID") or 0))
            table = (row.get("TABLE_SCHEMA"), row.get("TABLE_NAME"))
            if thread not in waiting_ids and thread in by_id and table in tables:
                lock = f"{row.get('LOCK_MODE')} on {table[0]}.{table[1]}"
                found.setdefault(thread, Holder(by_id[thread], "metadata_lock_info", lock))
    else:
        longest = max(w.seconds for w in waiters)
        for row in node.transactions:
            thread = int(str(row.get("trx_mysql_thread_id") or 0))
            # the server's own clock (TIMESTAMPDIFF … NOW()): no skew between kfops and the node
            opened = int(str(row.get("trx_seconds") or 0))
            if thread not in waiting_ids and thread in by_id and opened >= longest:
                found.setdefault(thread, Holder(by_id[thread], "open transaction", f"open for {opened}s"))
    for session in node.sessions:
        if session.ddl and not session.waiting and session.id not in waiting_ids:
            found.setdefault(session.id, Holder(session, "running DDL"))
    return list(found.values())


def read_sessions(ctx: ProbeContext) -> Observed:
    reader = galera_of(ctx)

    def read(node: str) -> _NodeSessions:
        listed = reader.query(node, sql.PROCESSLIST)
        sessions = tuple(_session(node, r) for r in listed.value)
        visible = [s for s in sessions if not s.system]
        evidence = [
            galera_evidence(
                listed,
                f"{node}: {len(visible)} client sessions, {sum(s.ddl for s in visible)} DDL, "
                f"{sum(s.waiting for s in visible)} waiting for a metadata lock",
                data=[s.__dict__ for s in visible if s.ddl or s.waiting or s.command != "Sleep"][:20],
            )
        ]
        trx = reader.query(node, sql.INNODB_TRX)
        evidence.append(
            galera_evidence(trx, f"{node}: {len(trx.value)} open InnoDB transactions", data=trx.value[:20])
        )
        locks: tuple[dict[str, object], ...] | None
        try:
            mdl = reader.query(node, sql.METADATA_LOCKS)
            locks = tuple(mdl.value)
            evidence.append(
                galera_evidence(mdl, f"{node}: {len(locks)} metadata locks held", data=mdl.value[:20])
            )
        except NotFound as exc:
            locks = None  # the metadata_lock_info plugin is not installed: holders are inferred
            evidence.append(
                Evidence(
                    source=Source.GALERA,
                    query=exc.query,
                    summary=f"{node}: METADATA_LOCK_INFO absent (plugin metadata_lock_info not installed); "
                    "lock holders are inferred from open transactions",
                    observed_at=ctx.now,
                )
            )
        return _NodeSessions(sessions, locks, tuple(trx.value), tuple(evidence))

    all_sessions: list[Session] = []
    ddl: list[Session] = []
    waiters: list[Session] = []
    holders: list[Holder] = []
    unreadable: list[str] = []
    evidence: list[Evidence] = []
    for node, answer in per_node(ctx, read):
        if isinstance(answer, ReaderError):
            unreadable.append(node)
            evidence.append(failure_evidence(answer, ctx.now, Source.GALERA))
            continue
        evidence.extend(answer.evidence)
        mine = [s for s in answer.sessions if not s.system]
        all_sessions.extend(mine)
        ddl.extend(s for s in mine if s.ddl)
        node_waiters = [s for s in mine if s.waiting]
        waiters.extend(node_waiters)
        holders.extend(_holders(answer, node_waiters))
    return Observed(
        SessionReport(
            tuple(all_sessions),
            tuple(ddl),
            tuple(waiters),
            tuple(holders),
            tuple(unreadable),
            ctx.settings.galera_long_ddl_s,
        ),
        tuple(evidence),
    )
