"""Durable jobs: an SQLAlchemy job table plus worker threads that survive server restarts.

The contract the service gives pipelines is "a job accepted is never lost": the row is committed
before ``202 Accepted`` is sent, and every row ends ``finished`` or ``failed`` with a reason.
What can interrupt a job is the server process dying, so:

- a running job holds a *lease* (``lease_until``) that its server renews from a heartbeat
  thread; a job whose lease ran out was abandoned by a dead server and is requeued (or failed
  once it has used its attempts, so a job that kills the server cannot loop forever);
- with SQLite the data directory belongs to one server (a lock file enforces it), so at start-up
  every ``running`` row is an orphan of the previous process and is recovered at once;
  with PostgreSQL several servers may share the table, so only expired leases are recovered.

Claiming is an optimistic ``UPDATE ... WHERE status = 'queued'`` checked by row count, which is
safe on both databases; SQLite transactions are ``BEGIN IMMEDIATE`` so two threads never
deadlock upgrading a read lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..errors import VarannotError

log = logging.getLogger("varannot.jobs")

JobStatus = Literal["queued", "running", "finished", "failed"]
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "finished", "failed")

metadata = MetaData()
jobs_table = Table(
    "varannot_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("status", String(16), nullable=False, index=True),
    Column("owner", String(128), nullable=False, default=""),
    Column("idempotency_key", String(255), nullable=True),
    Column("fingerprint", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("worker", String(160), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("note", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("result", Text, nullable=True),
    UniqueConstraint("owner", "idempotency_key", name="uq_varannot_jobs_idempotency"),
)


class IdempotencyConflict(VarannotError):
    """The same Idempotency-Key was sent with a different request."""

    status = 422
    title = "Idempotency-Key reused with a different request"


class DataDirLocked(VarannotError):
    status = 500
    title = "Data directory in use"


@dataclass(slots=True)
class Job:
    """One row, without the (possibly large) result text unless asked for."""

    id: str
    status: JobStatus
    owner: str
    idempotency_key: str | None
    fingerprint: str
    params: dict[str, Any]
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    note: str | None
    error: dict[str, Any] | None
    result: str | None = None


def database_url(url: str | None, data_dir: Path) -> str:
    """``DATABASE_URL`` as SQLAlchemy wants it, or the SQLite file in the data directory."""
    if not url:
        return f"sqlite:///{(data_dir / 'varannot.db').resolve()}"
    if url.startswith("postgres://"):  # Heroku-style scheme SQLAlchemy does not accept
        url = "postgresql://" + url[len("postgres://") :]
    return url


class JobStore:
    """All database access for jobs; every method is one short transaction."""

    def __init__(self, url: str, *, lease_seconds: float = 30.0):
        self.url = url
        self.lease_seconds = lease_seconds
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 60}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_pragmas(self.engine)
        try:
            metadata.create_all(self.engine)
        except DBAPIError:  # another server sharing the database created it at the same time
            metadata.create_all(self.engine)

    # --- helpers -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @staticmethod
    def _row(row: Any, with_result: bool = False) -> Job:
        m = row._mapping
        return Job(
            id=m["id"],
            status=m["status"],
            owner=m["owner"],
            idempotency_key=m["idempotency_key"],
            fingerprint=m["fingerprint"],
            params=json.loads(m["params"]),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            started_at=m["started_at"],
            finished_at=m["finished_at"],
            attempts=m["attempts"],
            note=m["note"],
            error=json.loads(m["error"]) if m["error"] else None,
            result=m["result"] if with_result else None,
        )

    _META = [c for c in jobs_table.c if c.name != "result"]

    # --- API -----------------------------------------------------------------------------
    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:  # noqa: BLE001 - readiness reports any database failure
            return False

    def create(
        self,
        job_id: str,
        params: dict[str, Any],
        *,
        fingerprint: str,
        owner: str = "",
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        """Insert a queued job; with a key already used by ``owner``, return that job instead.

        Returns ``(job, created)``. A key reused with another request fingerprint raises
        :class:`IdempotencyConflict` (the IETF Idempotency-Key draft's 422).
        """
        now = time.time()
        row = {
            "id": job_id,
            "status": "queued",
            "owner": owner,
            "idempotency_key": idempotency_key,
            "fingerprint": fingerprint,
            "params": json.dumps(params, sort_keys=True),
            "created_at": now,
            "updated_at": now,
            "attempts": 0,
        }
        if idempotency_key is not None:
            existing = self.by_key(owner, idempotency_key)
            if existing is not None:
                return self._replay(existing, fingerprint), False
        try:
            with self._tx() as conn:
                conn.execute(jobs_table.insert().values(**row))
        except IntegrityError:
            # a concurrent request with the same key won the insert
            if idempotency_key is None:
                raise
            existing = self.by_key(owner, idempotency_key)
            if existing is None:  # pragma: no cover - the winner cannot vanish
                raise
            return self._replay(existing, fingerprint), False
        job = self.get(job_id)
        assert job is not None
        return job, True

    @staticmethod
    def _replay(job: Job, fingerprint: str) -> Job:
        if job.fingerprint != fingerprint:
            raise IdempotencyConflict(
                f"Idempotency-Key {job.idempotency_key!r} was first used for job {job.id} with "
                "a different upload or options; use a new key for a new request",
                source="request",
                record="Idempotency-Key header",
            )
        return job

    def by_key(self, owner: str, key: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*self._META).where(
                    jobs_table.c.owner == owner, jobs_table.c.idempotency_key == key
                )
            ).first()
        return self._row(row) if row else None

    def get(self, job_id: str, *, with_result: bool = False) -> Job | None:
        cols = list(jobs_table.c) if with_result else self._META
        with self.engine.connect() as conn:
            row = conn.execute(select(*cols).where(jobs_table.c.id == job_id)).first()
        if row is None:
            return None
        return self._row(row, with_result)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(jobs_table.c.status, func.count()).group_by(jobs_table.c.status)
            ).all()
        out: dict[str, int] = dict.fromkeys(STATUSES, 0)
        out.update({r[0]: int(r[1]) for r in rows})
        return out

    def claim(self, worker: str) -> Job | None:
        """Take the oldest queued job for ``worker`` (None when the queue is empty)."""
        for _ in range(20):
            now = time.time()
            with self._tx() as conn:
                row = conn.execute(
                    select(jobs_table.c.id)
                    .where(jobs_table.c.status == "queued")
                    .order_by(jobs_table.c.created_at, jobs_table.c.id)
                    .limit(1)
                ).first()
                if row is None:
                    return None
                res = conn.execute(
                    update(jobs_table)
                    .where(jobs_table.c.id == row[0], jobs_table.c.status == "queued")
                    .values(
                        status="running",
                        worker=worker,
                        attempts=jobs_table.c.attempts + 1,
                        started_at=now,
                        updated_at=now,
                        lease_until=now + self.lease_seconds,
                    )
                )
            if res.rowcount == 1:
                return self.get(row[0])
        return None  # pragma: no cover - only under extreme contention

    def heartbeat(self, worker: str, job_ids: list[str]) -> None:
        if not job_ids:
            return
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.id.in_(job_ids),
                    jobs_table.c.worker == worker,
                    jobs_table.c.status == "running",
                )
                .values(lease_until=now + self.lease_seconds, updated_at=now)
            )

    def _update_owned(self, job_id: str, owner: str, **values: Any) -> bool:
        """Update a job only while ``owner`` still runs it (False once the lease was lost)."""
        with self._tx() as conn:
            res = conn.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.id == job_id,
                    jobs_table.c.worker == owner,
                    jobs_table.c.status == "running",
                )
                .values(**values)
            )
        return res.rowcount == 1

    def _settle(self, job_id: str, worker: str, **values: Any) -> bool:
        now = time.time()
        return self._update_owned(
            job_id, worker, finished_at=now, updated_at=now, lease_until=None, **values
        )

    def finish(self, job_id: str, worker: str, result: str) -> bool:
        """Store the result; False when the job was taken away (lease lost) meanwhile."""
        return self._settle(job_id, worker, status="finished", result=result)

    def fail(self, job_id: str, worker: str, problem: dict[str, Any]) -> bool:
        return self._settle(job_id, worker, status="failed", error=json.dumps(problem))

    def release(self, job_id: str, worker: str, note: str) -> bool:
        """Give a running job back to the queue without charging an attempt (clean shutdown)."""
        return self._update_owned(
            job_id,
            worker,
            status="queued",
            worker=None,
            lease_until=None,
            updated_at=time.time(),
            attempts=jobs_table.c.attempts - 1,
            note=note,
        )

    def recover(self, *, max_attempts: int, all_running: bool) -> tuple[list[str], list[str]]:
        """Requeue (or fail, when out of attempts) jobs abandoned by a dead server.

        ``all_running``: every running row is an orphan (SQLite start-up); otherwise only rows
        whose lease has expired. Returns (requeued ids, failed ids).
        """
        now = time.time()
        requeued: list[str] = []
        failed: list[str] = []
        with self._tx() as conn:
            cond = jobs_table.c.status == "running"
            if not all_running:
                cond = cond & (jobs_table.c.lease_until < now)
            rows = conn.execute(
                select(jobs_table.c.id, jobs_table.c.attempts, jobs_table.c.worker).where(cond)
            ).all()
            for job_id, attempts, worker in rows:
                where = (jobs_table.c.id == job_id) & (jobs_table.c.status == "running")
                if attempts >= max_attempts:
                    problem = {
                        "type": "about:blank",
                        "title": "Job interrupted",
                        "status": 500,
                        "detail": (
                            f"the server running this job stopped before it finished "
                            f"({attempts} attempt(s) of {max_attempts}); submit it again, and "
                            "if it keeps failing the input may be too large for this server"
                        ),
                    }
                    conn.execute(
                        update(jobs_table)
                        .where(where)
                        .values(
                            status="failed",
                            error=json.dumps(problem),
                            finished_at=now,
                            updated_at=now,
                            lease_until=None,
                        )
                    )
                    failed.append(job_id)
                else:
                    conn.execute(
                        update(jobs_table)
                        .where(where)
                        .values(
                            status="queued",
                            worker=None,
                            lease_until=None,
                            updated_at=now,
                            note=(
                                f"requeued: the server ({worker}) stopped during attempt "
                                f"{attempts} of {max_attempts}"
                            ),
                        )
                    )
                    requeued.append(job_id)
        return requeued, failed

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL for concurrent readers, FULL sync so a committed job survives a crash, and
    ``BEGIN IMMEDIATE`` so read-then-write transactions never fail on lock upgrade."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class DataDirLock:
    """An exclusive ``flock`` on the data directory: one SQLite-backed server per directory.

    The kernel drops the lock when the process dies (even on SIGKILL), so a restarted server
    can take over at once and safely treat every ``running`` row as an orphan.
    """

    def __init__(self, data_dir: Path):
        self.path = data_dir / "varannot.lock"
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held for the life of the server
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise DataDirLocked(
                f"the data directory is used by {holder}; give each server its own "
                "--data-dir or use PostgreSQL (DATABASE_URL) to share jobs",
                source=str(self.path.parent),
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


Executor = Callable[[Job], str]
ProblemOf = Callable[[BaseException], dict[str, Any]]


@dataclass
class JobRunner:
    """Worker threads that claim and run jobs, plus one heartbeat/sweeper thread."""

    store: JobStore
    execute: Executor
    problem_of: ProblemOf
    workers: int = 1
    max_attempts: int = 2
    poll_seconds: float = 1.0
    on_settled: Callable[[Job, str], None] | None = None
    worker_prefix: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    )
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _running: dict[str, str] = field(default_factory=dict)  # job id -> worker id
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """Recover orphans, then start the threads."""
        requeued, failed = self.store.recover(
            max_attempts=self.max_attempts, all_running=self.store.is_sqlite
        )
        if requeued or failed:
            log.warning(
                "recovered jobs after restart: %d requeued, %d failed", len(requeued), len(failed)
            )
        for i in range(max(self.workers, 0)):
            t = threading.Thread(
                target=self._work, args=(f"{self.worker_prefix}/{i}",), daemon=True,
                name=f"varannot-job-{i}",
            )  # fmt: skip
            t.start()
            self._threads.append(t)
        hb = threading.Thread(target=self._heartbeat, daemon=True, name="varannot-job-heartbeat")
        hb.start()
        self._threads.append(hb)

    def notify(self) -> None:
        """A job was queued: wake an idle worker now rather than at the next poll."""
        self._wake.set()

    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; wait for running jobs, then hand unfinished ones back to the queue."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + grace_seconds
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = dict(self._running)
        for job_id, worker in left.items():
            if self.store.release(job_id, worker, "requeued: the server shut down"):
                log.warning("job %s handed back to the queue at shutdown", job_id)

    # --- threads -------------------------------------------------------------------------
    def _work(self, worker: str) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim(worker)
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                log.exception("claiming a job failed")
                self._stop.wait(self.poll_seconds)
                continue
            if job is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            with self._lock:
                self._running[job.id] = worker
            self._run(job, worker)

    def _run(self, job: Job, worker: str) -> None:
        outcome = "failed"
        try:
            try:
                result = self.execute(job)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded with a reason
                if not isinstance(exc, VarannotError):
                    log.exception("job %s failed", job.id)
                settled = self.store.fail(job.id, worker, self.problem_of(exc))
            else:
                settled = self.store.finish(job.id, worker, result)
                outcome = "finished"
            if not settled:
                log.warning("job %s was taken from this worker before it finished", job.id)
                outcome = "lost"
        except Exception:  # noqa: BLE001 - database down while settling: the lease expires
            log.exception("could not record the outcome of job %s", job.id)
            outcome = "lost"
        finally:
            with self._lock:
                self._running.pop(job.id, None)
        if self.on_settled is not None and outcome != "lost":
            try:
                self.on_settled(job, outcome)
            except Exception:  # noqa: BLE001
                log.exception("post-job hook failed for %s", job.id)

    def _heartbeat(self) -> None:
        interval = max(self.store.lease_seconds / 3.0, 0.2)
        while not self._stop.wait(interval):
            try:
                with self._lock:
                    by_worker: dict[str, list[str]] = {}
                    for job_id, w in self._running.items():
                        by_worker.setdefault(w, []).append(job_id)
                for w, ids in by_worker.items():
                    self.store.heartbeat(w, ids)
                requeued, failed = self.store.recover(
                    max_attempts=self.max_attempts, all_running=False
                )
                if requeued:
                    self._wake.set()
                if requeued or failed:
                    log.warning(
                        "expired job leases: %d requeued, %d failed", len(requeued), len(failed)
                    )
            except Exception:  # noqa: BLE001
                log.exception("job heartbeat failed")
