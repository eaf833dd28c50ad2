"""Durable state in SQLite through aiosqlite, with group commit.

Writes are queued and committed together by one writer task; callers that need durability
(a 201 to a submitter, an ack to a worker) await ``barrier()``, which resolves once everything
queued before it is committed. One fsync then covers hundreds of state changes.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Iterable

import aiosqlite
import orjson
import structlog

from coordinator.migrate import check_version
from coordinator.models import TERMINAL_SQL, Attempt, AttemptOutcome, Task, TaskStatus

log = structlog.get_logger("dtf.store")
RETRY_DELAYS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)  # between commits that failed, then 2 s each


class StoreError(RuntimeError):
    """The state database cannot be used (damaged, not a database, unreadable)."""


def _j(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _l(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)


UPSERT_TASK = ("INSERT INTO tasks (task_id, seq, type, spec, status, attempt, failures, result, error, details, "
               "flaky, not_before, excluded_workers, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
               "ON CONFLICT (task_id) DO UPDATE SET spec=excluded.spec, status=excluded.status, "
               "attempt=excluded.attempt, failures=excluded.failures, result=excluded.result, "
               "error=excluded.error, details=excluded.details, flaky=excluded.flaky, "
               "not_before=excluded.not_before, excluded_workers=excluded.excluded_workers, "
               "updated_at=excluded.updated_at")
# Attempts are keyed by their task's seq (migration 002): new rows append instead of landing on
# random pages of an index on the random task id.
UPSERT_ATTEMPT = ("INSERT INTO attempts (task_seq, task_id, attempt, worker_id, lease, dispatched_at, lease_deadline, "
                  "started_at, finished_at, outcome, error_category, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                  "ON CONFLICT (task_seq, attempt) DO UPDATE SET started_at=excluded.started_at, "
                  "finished_at=excluded.finished_at, outcome=excluded.outcome, "
                  "error_category=excluded.error_category, error=excluded.error, "
                  "lease_deadline=excluded.lease_deadline")
UPSERT_WORKER = ("INSERT INTO workers (worker_id, hardware, tags, state, first_seen, last_seen) "
                 "VALUES (?,?,?,?,?,?) ON CONFLICT (worker_id) DO UPDATE SET hardware=excluded.hardware, "
                 "tags=excluded.tags, state=excluded.state, last_seen=excluded.last_seen")
DELETE_WORKER = "DELETE FROM workers WHERE worker_id = ?"


def _commit_in_thread(conn: Any, batches: list[tuple[str, list[tuple]]]) -> None:
    conn.execute("BEGIN")
    try:
        for sql, rows in batches:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        # SQLite may have ended the transaction itself (disk full, I/O error): a ROLLBACK then
        # fails and would hide the real cause.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def task_row(t: Task) -> tuple:
    if t.spec_json is None:
        t.spec_json = _j(t.spec())
    return (t.task_id, t.seq, t.type, t.spec_json, t.status.value, len(t.attempts), t.failures, _j(t.result),
            _j(t.error), _j(t.details), int(t.flaky), t.not_before, _j(sorted(t.excluded_workers)),
            t.created_at, t.updated_at or t.created_at)


def attempt_row(t: Task, a: Attempt) -> tuple:
    return (t.seq, t.task_id, a.number, a.worker_id, a.lease, a.dispatched_at, a.lease_deadline, a.started_at,
            a.finished_at, a.outcome.value if a.outcome else None, a.error_category, _j(a.error))


class Store:
    def __init__(self, path: str, *, synchronous: str = "NORMAL", commit_interval_seconds: float = 0.0,
                 on_commit: Callable[[float, int], None] | None = None) -> None:
        self.path = path
        self.synchronous = synchronous
        self.commit_interval_seconds = commit_interval_seconds
        self._db: aiosqlite.Connection | None = None
        self._dirty_tasks: dict[str, Task] = {}
        self._dirty_attempts: dict[tuple[str, int], tuple[Task, Attempt]] = {}
        self._dirty_workers: dict[str, tuple] = {}
        self._forgotten_workers: set[str] = set()
        self._waiters: list[asyncio.Future] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self._closed = False
        self._busy = False
        self.on_commit = on_commit  # callback(seconds, rows) for metrics
        self.failing_since: float | None = None  # monotonic time of the first failed commit in a row
        self.last_error: str | None = None
        self.commits = 0
        self.rows_written = 0

    async def open(self) -> None:
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute(f"PRAGMA synchronous={self.synchronous}")
            await self._db.execute("PRAGMA foreign_keys=ON")
            # A damaged file is found now, in one clear line, not at some later write.
            async with self._db.execute("PRAGMA quick_check(1)") as cur:
                verdict = (await cur.fetchone() or ["?"])[0]
            if verdict != "ok":
                raise StoreError(f"state database {self.path} is damaged ({verdict}); see the README, "
                                 "'Recovering the state database'")
            await self._migrate()
        except BaseException as exc:
            await self._db.close()  # its thread would keep the process alive
            self._db = None
            if isinstance(exc, aiosqlite.DatabaseError):
                raise StoreError(f"state database {self.path} cannot be opened ({exc}); see the README, "
                                 "'Recovering the state database'") from exc
            raise
        self._writer = asyncio.create_task(self._write_loop(), name="store-writer")

    async def _migrate(self) -> None:
        assert self._db is not None
        await self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = row[0] or 0
        for version, path in check_version(current, "sqlite", self.path):
            await self._db.execute("BEGIN")
            try:
                for statement in _statements(path.read_text()):
                    await self._db.execute(statement)
                await self._db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            log.info("migration_applied", db="sqlite", version=version, file=path.name)

    # ---- writes -------------------------------------------------------------------------
    # Changes are recorded as "dirty" objects and serialised at commit time: a task submitted,
    # assigned and completed within one commit window costs one row write, and the latest
    # state always wins whatever order the changes came in.
    def task_changed(self, task: Task) -> None:
        self._dirty_tasks[task.task_id] = task
        self._wake.set()

    def attempt_changed(self, task: Task, attempt: Attempt) -> None:
        self._dirty_attempts[(task.task_id, attempt.number)] = (task, attempt)
        self._wake.set()

    def save_worker(self, worker_id: str, hardware: dict, tags: dict, state: str, first_seen: float,
                    last_seen: float) -> None:
        self._dirty_workers[worker_id] = (worker_id, _j(hardware), _j(tags), state, first_seen, last_seen)
        self._forgotten_workers.discard(worker_id)
        self._wake.set()

    def forget_worker(self, worker_id: str) -> None:
        self._dirty_workers.pop(worker_id, None)
        self._forgotten_workers.add(worker_id)
        self._wake.set()

    def _pending(self) -> bool:
        return bool(self._dirty_tasks or self._dirty_attempts or self._dirty_workers or self._forgotten_workers)

    def barrier(self) -> asyncio.Future:
        """A future that resolves once every change recorded so far is committed."""
        fut = asyncio.get_running_loop().create_future()
        if not self._pending() and not self._busy:
            fut.set_result(None)
            return fut
        self._waiters.append(fut)
        self._wake.set()
        return fut

    @property
    def healthy(self) -> bool:
        """False while commits fail: nothing new is acknowledged or dispatched until one succeeds."""
        return self.failing_since is None

    async def _write_loop(self) -> None:
        assert self._db is not None
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.commit_interval_seconds:
                await asyncio.sleep(self.commit_interval_seconds)
            # Waiters resolve only once their rows are committed; after a failed commit they
            # wait for the retry (a result is acknowledged only when it is stored).
            waiters, self._waiters = self._waiters, []
            tasks, attempts, workers = self._dirty_tasks, self._dirty_attempts, self._dirty_workers
            forgotten = self._forgotten_workers
            self._dirty_tasks, self._dirty_attempts, self._dirty_workers = {}, {}, {}
            self._forgotten_workers = set()
            try:
                batches = [(UPSERT_TASK, [task_row(t) for t in tasks.values()]),
                           (UPSERT_ATTEMPT, [attempt_row(t, a) for t, a in attempts.values()]),
                           (UPSERT_WORKER, list(workers.values())),
                           (DELETE_WORKER, [(wid,) for wid in forgotten])]
            except Exception as exc:  # one unserialisable row must not stop the writer for good
                log.error("rows_not_serialisable", error=str(exc))
                batches = []
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                waiters = []
            rows = sum(len(r) for _, r in batches)
            if not rows and not waiters:
                continue
            self._busy = True
            try:
                if rows:
                    await self._commit([(sql, r) for sql, r in batches if r])
            except asyncio.CancelledError:
                for w in waiters:
                    if not w.done():
                        w.cancel()
                raise
            except Exception as exc:
                # Keep every row (a change made meanwhile is newer and wins) and every waiter,
                # and try again: dropping them acknowledged results that were never stored.
                failures += 1
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("commit_failed", error=self.last_error, rows=rows, failures=failures)
                for key, value in tasks.items():
                    self._dirty_tasks.setdefault(key, value)
                for key, value in attempts.items():
                    self._dirty_attempts.setdefault(key, value)
                for key, value in workers.items():
                    self._dirty_workers.setdefault(key, value)
                self._forgotten_workers |= forgotten - self._dirty_workers.keys()
                self._waiters[:0] = waiters
                self._busy = False
                await asyncio.sleep(RETRY_DELAYS_SECONDS[min(failures, len(RETRY_DELAYS_SECONDS)) - 1])
                self._wake.set()
                continue
            finally:
                self._busy = False
            if self.failing_since is not None:
                log.warning("commits_recovered", failures=failures,
                            seconds=round(time.monotonic() - self.failing_since, 3))
            failures, self.failing_since, self.last_error = 0, None, None
            self.rows_written += rows
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    async def _commit(self, batches: list[tuple[str, list[tuple]]]) -> None:
        assert self._db is not None
        t0 = time.perf_counter()
        # The whole transaction in one hop to aiosqlite's thread: with one hop per statement the
        # fixed cost of waking that thread, not SQLite, bounded how many commits a second we got.
        await self._db._execute(_commit_in_thread, self._db._conn, batches)
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - t0, sum(len(r) for _, r in batches))

    async def close(self) -> None:
        if self._writer is not None:
            await self.barrier()
            self._closed = True
            self._wake.set()
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
            self._writer = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    # ---- reads ------------------------------------------------------------------------------
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        assert self._db is not None
        async with self._db.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def load_tasks(self, *, terminal: bool = False) -> list[Task]:
        """Tasks to resume after a restart (non-terminal), with their attempts."""
        cond = "" if terminal else f"WHERE status NOT IN ({TERMINAL_SQL})"
        rows = await self.fetchall(f"SELECT task_id, seq, type, spec, status, failures, result, error, details, "
                                   f"flaky, not_before, excluded_workers, created_at, updated_at FROM tasks {cond} "
                                   f"ORDER BY seq")
        tasks = {r[0]: row_to_task(r) for r in rows}
        if tasks:
            for r in await self.fetchall(
                    "SELECT task_id, attempt, worker_id, lease, dispatched_at, lease_deadline, started_at, "
                    "finished_at, outcome, error_category, error FROM attempts WHERE task_seq IN "
                    f"(SELECT seq FROM tasks {cond}) ORDER BY task_seq, attempt"):
                t = tasks.get(r[0])
                if t is not None:
                    t.attempts.append(row_to_attempt(r))
        for t in tasks.values():
            cur = t.current
            if t.status in (TaskStatus.QUEUED, TaskStatus.RETRY_WAIT) and cur is not None and cur.outcome is None:
                t.status = TaskStatus.ASSIGNED  # assigned after its row was last written
        return list(tasks.values())

    async def load_task(self, task_id: str) -> Task | None:
        rows = await self.fetchall("SELECT task_id, seq, type, spec, status, failures, result, error, details, "
                                   "flaky, not_before, excluded_workers, created_at, updated_at FROM tasks "
                                   "WHERE task_id=?", (task_id,))
        if not rows:
            return None
        task = row_to_task(rows[0])
        for r in await self.fetchall("SELECT task_id, attempt, worker_id, lease, dispatched_at, lease_deadline, "
                                     "started_at, finished_at, outcome, error_category, error FROM attempts "
                                     "WHERE task_seq=? ORDER BY attempt", (task.seq,)):
            task.attempts.append(row_to_attempt(r))
        return task

    async def count_by_status(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in await self.fetchall("SELECT status, COUNT(*) FROM tasks GROUP BY status")}

    async def max_seq(self) -> int:
        rows = await self.fetchall("SELECT COALESCE(MAX(seq), 0) FROM tasks")
        return int(rows[0][0])

    async def load_workers(self) -> list[tuple]:
        return await self.fetchall("SELECT worker_id, hardware, tags, state, first_seen, last_seen FROM workers")


def row_to_task(r: Any) -> Task:
    spec = orjson.loads(r[3])
    return Task(task_id=r[0], seq=r[1], type=r[2], config=spec["config"], requirements=spec["requirements"],
                priority=spec["priority"], timeout_seconds=spec["timeout_seconds"],
                max_retries=spec.get("max_retries"), tags=spec.get("tags") or {},
                depends_on=spec.get("depends_on") or [], created_at=r[12], status=TaskStatus(r[4]),
                failures=r[5], result=_l(r[6]), error=_l(r[7]), details=_l(r[8]), flaky=bool(r[9]),
                not_before=r[10], excluded_workers=set(_l(r[11]) or []), updated_at=r[13])


def row_to_attempt(r: Any) -> Attempt:
    return Attempt(number=r[1], worker_id=r[2], lease=r[3], dispatched_at=r[4], lease_deadline=r[5],
                   started_at=r[6], finished_at=r[7], outcome=AttemptOutcome(r[8]) if r[8] else None,
                   error_category=r[9], error=_l(r[10]))


def _statements(script: str) -> list[str]:
    """Split a migration into statements (no semicolons inside our literals)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
