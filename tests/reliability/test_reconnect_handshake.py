"""A coordinator that dies between accepting a worker's socket and welcoming it costs a retry, not the worker.

Found by the crash storm: a kill -9 landing during the hello exchange made the worker process exit
(the handshake ran outside the reconnect loop's retry), so the fleet shrank with every unlucky kill.
"""
from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestServer

from worker.protocol import MessageType, decode, encode
from worker.client import WorkerAgent, WorkerConfig


async def test_worker_survives_coordinators_that_vanish_mid_handshake(tmp_path):
    seen: list[str] = []

    async def ws(request: web.Request) -> web.StreamResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        hello = decode((await sock.receive()).data)
        assert hello.type is MessageType.HELLO
        seen.append(hello.body["worker_id"])
        if len(seen) == 1:
            await sock.close(code=1011, message=b"dying")        # a close frame instead of a welcome
        elif len(seen) == 2:
            request.transport.close()                             # the process is gone: no frame at all
        else:
            await sock.send_str(encode(MessageType.WELCOME, worker_id=hello.body["worker_id"],
                                       heartbeat_interval=0.2, cancel=[]))
            async for _ in sock:
                pass
        return sock

    app = web.Application()
    app.router.add_get("/ws", ws)
    async with TestServer(app, host="127.0.0.1") as server:
        agent = WorkerAgent(WorkerConfig(coordinator=str(server.make_url("/ws")), worker_id="w-handshake",
                                         hardware={"types": ["cpu"]}, work_dir=tmp_path,
                                         reconnect_initial_seconds=0.01, reconnect_max_seconds=0.05), {})
        runner = asyncio.create_task(agent.run())
        try:
            await asyncio.wait_for(agent.connected.wait(), 15)
        finally:
            agent.stop()
            await asyncio.wait_for(runner, 10)
    assert seen == ["w-handshake"] * 3
    assert agent.sessions == 1
