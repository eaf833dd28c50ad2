"""What extensions add to the engine's decisions, handed to its constructor.

The composition root (``app._state_ctx``) makes one ``EngineHooks``, asks each installed
extension that has a ``register_hooks(hooks)`` method to register with it through the public
methods below, and passes it to ``Engine(...)``. The engine reads it once, when it is built: no
module sets or appends to the engine's attributes afterwards.
"""
from __future__ import annotations

from typing import Protocol

from coordinator.models import Task
from coordinator.workers import WorkerRecord


class WorkerChooser(Protocol):
    """Which of the free workers that match ``task`` takes it (None: hold it back briefly)."""

    def __call__(self, task: Task, candidates: list[WorkerRecord]) -> WorkerRecord | None: ...


class TerminalListener(Protocol):
    """Told, on the event loop, of each task that reaches a terminal status."""

    def __call__(self, task: Task) -> None: ...


class EngineHooks:
    """The engine's optional hooks: at most one worker chooser (the load balancer), and the
    listeners told of each terminal task, in the order they registered."""

    def __init__(self) -> None:
        self._chooser: WorkerChooser | None = None
        self._listeners: list[TerminalListener] = []

    def choose_workers_with(self, chooser: WorkerChooser) -> None:
        if self._chooser is not None and self._chooser is not chooser:
            raise ValueError("a worker chooser is already registered")
        self._chooser = chooser

    def on_terminal(self, listener: TerminalListener) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    @property
    def worker_chooser(self) -> WorkerChooser | None:
        return self._chooser

    @property
    def terminal_listeners(self) -> tuple[TerminalListener, ...]:
        return tuple(self._listeners)
