"""One process pool shared by several executors: started by the first, closed by the last."""
from __future__ import annotations

import asyncio

from worker.executors.pool import ProcessPool


class SharedPool:
    def __init__(self, pool: ProcessPool) -> None:
        self.pool = pool
        self._users = 0
        self._lock = asyncio.Lock()

    async def acquire(self) -> ProcessPool:
        async with self._lock:
            await self.pool.start()  # raises PoolStartError when no child can start
            self._users += 1
        return self.pool

    async def release(self) -> None:
        async with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0:
                await self.pool.close()
