"""Shared pieces for the security tests: a live cluster and a hand-driven worker socket."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import aiohttp
import orjson
import pytest

from worker.protocol import MessageType, encode
from tests.harness import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()


async def until(predicate: Callable[[], Any], timeout: float = 20.0, message: str = "condition") -> Any:
    """Poll a (blocking) predicate off the loop until it is truthy, or fail naming it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def hello(worker_id: str, token: str, *, types: list[str] | None = None, **extra: Any) -> str:
    return encode(MessageType.HELLO, worker_id=worker_id, token=token,
                  hardware={"types": types or ["fuzzhw"], "cpu_count": 1}, concurrency=4, **extra)


class RawWorker:
    """A worker socket driven frame by frame (what a buggy or hostile client could send)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None = "wtok") -> None:
        self.session, self.url, self.token = session, url, token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.inbox: list[dict[str, Any]] = []

    async def connect(self) -> "RawWorker":
        headers = {"Authorization": f"Bearer {self.token}"} if self.token is not None else None
        self.ws = await self.session.ws_connect(self.url, max_msg_size=0, autoclose=False, headers=headers)
        return self

    async def send(self, frame: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def next_frame(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The next text frame as JSON, or None once the server closed the socket."""
        assert self.ws is not None
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type is aiohttp.WSMsgType.TEXT:
            frame = orjson.loads(msg.data)
            self.inbox.append(frame)
            return frame
        return None

    async def expect_type(self, type_: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.next_frame(max(0.1, deadline - time.monotonic()))
            assert frame is not None, f"socket closed (code {self.ws.close_code}) while waiting for {type_}"
            if frame["type"] == type_:
                return frame

    async def closed_with(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; the close code it sent."""
        assert self.ws is not None
        deadline = time.monotonic() + timeout
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), max(0.1, deadline - time.monotonic()))
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.ERROR):
                if msg.type is aiohttp.WSMsgType.CLOSE:
                    # The code the server sent; answering may find the socket already gone
                    # (which would overwrite close_code with 1006).
                    code = msg.data
                    await self.ws.close()
                    return code
                return self.ws.close_code

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
