"""The application factory and the Coordinator class users start."""
from __future__ import annotations

import asyncio
import dataclasses
import gc
import signal
import sys
from collections import Counter
from typing import Any, AsyncIterator, Callable, TypeVar

import structlog
from aiohttp import web

from coordinator import api, openapi
from coordinator.config import CoordinatorConfig, is_loopback
from coordinator.engine import Engine
from coordinator.analytics import add_analytics
from coordinator.error_integration import ErrorPipeline, execute_recovery_action, integrate_error_handler
from coordinator.guard import ConnectionCap
from coordinator.hooks import EngineHooks
from coordinator.httperrors import make_middlewares
from coordinator.keys import CONFIG, COORDINATOR, ENGINE, METRICS, PENDING_HELLOS, SOCKETS
from coordinator.metrics import Metrics
from coordinator.models import TaskStatus, WorkerState
from worker.protocol import CloseCode
from coordinator.ratelimit import RateLimitSettings
from coordinator.store import Store
from coordinator.ws import worker_socket

log = structlog.get_logger("dtf.coordinator")
T = TypeVar("T")


def create_app(config: CoordinatorConfig, coordinator: "Coordinator | None" = None) -> web.Application:
    """The aiohttp application. Without a coordinator one is made, so the error pipeline is always in."""
    if coordinator is None:
        return Coordinator(config=config).build_app()
    app = web.Application(middlewares=make_middlewares(config.api_token, loopback_only=is_loopback(config.host)),
                          client_max_size=config.max_body_bytes)
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[SOCKETS] = set()
    app[PENDING_HELLOS] = Counter()
    app[COORDINATOR] = coordinator
    app.cleanup_ctx.append(_state_ctx)
    api.add_routes(app)
    openapi.add_routes(app)

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        return await worker_socket(request, app[ENGINE], config.worker_token, app[SOCKETS])

    app.router.add_get("/ws", ws_handler)
    return app


async def _state_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    # The SQLite thread hands the GIL back after each step; a busy loop holding it for the
    # default 5 ms switch interval would stall every group commit behind it.
    sys.setswitchinterval(0.0005)
    # Many long-lived small objects (tasks, attempts): full cyclic collections would stall the
    # loop for longer and longer; collect young objects less often and leave start-up state out.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    store = Store(config.state_path, synchronous=config.sqlite_synchronous.upper(),
                  on_commit=_commit_metrics(app[METRICS]))
    await store.open()  # closes what it opened when it fails
    coordinator = app[COORDINATOR]
    try:
        # The composition root: the engine is built with the policy it calls on every failure
        # and the hooks the installed extensions registered.
        policy = coordinator.extension(ErrorPipeline) if coordinator is not None else None
        if policy is None:
            raise RuntimeError("no error pipeline installed: build the app through Coordinator")
        engine = Engine(config, store, app[METRICS], failure_policy=policy, hooks=coordinator.engine_hooks())
        app[ENGINE] = engine
        _register_gauges(app[METRICS], engine)
        if coordinator is not None:
            coordinator.engine = engine
            await coordinator._on_engine_ready(app)
        await engine.start()
    except BaseException:
        # A start that fails (DuckDB locked by another coordinator, say) must let the process
        # exit: an open SQLite connection's thread would otherwise keep it alive, port unbound.
        if coordinator is not None:
            try:
                await coordinator._on_engine_stopping(app)
            except Exception as exc:
                log.warning("cleanup_after_failed_start", error=str(exc))
        await store.close()
        raise
    log.info("coordinator_started", host=config.host, port=config.port, state_path=config.state_path)
    try:
        yield
    finally:
        await engine.stop()
        for ws in list(app[SOCKETS]):
            await ws.close(code=CloseCode.GOING_AWAY, message=b"coordinator shutting down")
        if coordinator is not None:
            await coordinator._on_engine_stopping(app)
        await store.close()
        log.info("coordinator_stopped")


def _commit_metrics(metrics: Metrics) -> Callable[[float, int], None]:
    def on_commit(seconds: float, rows: int) -> None:
        metrics.observe("dtf_sqlite_commit_seconds", seconds)
        metrics.inc("dtf_sqlite_rows_written_total", rows)
    return on_commit


def _register_gauges(metrics: Metrics, engine: Engine) -> None:
    metrics.gauge("dtf_tasks", lambda: {(("status", s.value),): float(engine.status_counts[s]) for s in TaskStatus},
                  "Tasks by status")
    metrics.gauge("dtf_queue_depth", lambda: float(engine.status_counts[TaskStatus.QUEUED]), "Queued tasks")

    def states() -> dict:
        counts = {s: 0 for s in WorkerState}
        for w in engine.workers.values():
            counts[w.state] += 1
        return {(("state", s.value),): float(n) for s, n in counts.items()}

    metrics.gauge("dtf_workers", states, "Workers by state")


class StartupError(RuntimeError):
    """The coordinator could not start; the message is one line for the operator."""


def _startup_message(exc: BaseException, config: CoordinatorConfig) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) and exc.errno in (98, 48):  # EADDRINUSE (Linux, macOS)
        return f"cannot listen on {config.host}:{config.port}: the address is in use"
    if "lock" in text.lower() and "duckdb" in type(exc).__module__:
        return f"cannot open {config.db_path}: another process (another coordinator?) holds its lock"
    return f"cannot start: {type(exc).__name__}: {text}"


class Coordinator:
    """The coordinator service: ``run()`` blocks; ``await start()`` / ``await stop()`` embed it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, db_path: str = "./benchmark_db.duckdb",
                 *, config: CoordinatorConfig | None = None, **options: Any) -> None:
        base = config or CoordinatorConfig()
        self.config = dataclasses.replace(base, host=host, port=port, db_path=db_path, **options).validate() \
            if config is None else dataclasses.replace(base, **options).validate()
        self.error_handler: Any = None
        self.engine: Engine | None = None
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._extensions: list[Any] = []
        self.bound_port: int | None = None

    # Extensions (error handler, aggregator, balancer, dashboard) hook in when the engine exists.
    def add_extension(self, ext: Any) -> None:
        if ext not in self._extensions:
            self._extensions.append(ext)

    def extension(self, kind: type[T]) -> T | None:
        """The installed extension of that class (each integrate_* installs at most one)."""
        return next((ext for ext in self._extensions if isinstance(ext, kind)), None)

    def engine_hooks(self) -> EngineHooks:
        """The hooks for a new engine: each extension with ``register_hooks`` registers, in the
        order they were installed."""
        hooks = EngineHooks()
        for ext in self._extensions:
            if hasattr(ext, "register_hooks"):
                ext.register_hooks(hooks)
        return hooks

    async def _on_engine_ready(self, app: web.Application) -> None:
        for ext in self._extensions:
            await ext.on_start(self, app)

    async def _on_engine_stopping(self, app: web.Application) -> None:
        for ext in reversed(self._extensions):
            await ext.on_stop(self, app)

    def build_app(self) -> web.Application:
        integrate_error_handler(self)  # every failure goes through the pipeline
        add_analytics(self)  # the error and result endpoints exist on every coordinator
        self.app = create_app(self.config, self)
        for ext in self._extensions:
            if hasattr(ext, "on_app"):
                ext.on_app(self, self.app)
        return self.app

    async def execute_recovery_action(self, action: Any, task_id: str | None, worker_id: str | None) -> bool:
        """Run one built-in recovery action (replace this attribute to add your own)."""
        return await execute_recovery_action(self, action, task_id, worker_id)

    async def start(self) -> None:
        app = self.build_app()
        # keepalive_timeout doubles as the deadline for a request's head (aiohttp arms it when a
        # connection opens and after each response): a client trickling headers is cut off.
        limits = RateLimitSettings.from_env()
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=5.0,
                                     keepalive_timeout=limits.header_timeout_seconds or 3600.0)
        await self._runner.setup()
        ConnectionCap(limits.connections_per_address).install(self._runner.server)
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.config.port

    async def stop(self) -> None:
        """Stop assigning, drain running work (bounded), requeue the rest, close sockets, then the rest."""
        if self.engine is not None and self.app is not None:
            await self.engine.stop()
            for ws in list(self.app[SOCKETS]):
                await ws.close(code=CloseCode.GOING_AWAY, message=b"coordinator shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def run(self) -> None:
        """Block serving until SIGINT/SIGTERM, then shut down gracefully."""
        async def main() -> None:
            try:
                await self.start()
            except Exception as exc:
                raise StartupError(_startup_message(exc, self.config)) from exc
            stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stopping.set)
            log.info("serving", url=f"http://{self.config.host}:{self.bound_port}")
            await stopping.wait()
            log.info("shutting_down")
            await self.stop()

        try:
            import uvloop  # optional: plain asyncio where it is not installed (Windows)
        except ImportError:
            asyncio.run(main())
        else:
            uvloop.run(main())


