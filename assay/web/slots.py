"""Admitting expensive work a few requests at a time, in the web server's event loop.

The complaints channel opens receipts typed without JavaScript with a server-side Argon2id run: costly on
purpose, so the server admits only a few at a time (:class:`WorkSlots`). A flood of them delays everyone alike
(first come, first served) and is answered "busy, try again", never with a lock-out that outlives it.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.concurrency import run_in_threadpool

from assay.errors import RateLimited

__all__ = ["WorkSlots"]


class WorkSlots:
    """At most ``slots`` expensive computations at a time in this process; others wait up to ``wait`` seconds.

    Waiters are served first come, first served (anyio's semaphore is fair), so during a flood an honest
    request has the same chance as each flooding one, and once the flood stops the next request is served at
    once: nothing is remembered. Made in the event loop that uses it.
    """

    def __init__(self, slots: int, *, wait: float = 10.0) -> None:
        self._semaphore = anyio.Semaphore(slots)
        self.wait = wait

    async def run(self, fn: Callable[[], object], *, busy: str) -> object:
        try:
            with anyio.fail_after(self.wait):
                await self._semaphore.acquire()
        except TimeoutError:
            raise RateLimited(
                busy, hint="please try again in a minute, or with JavaScript on", extra={"retry_after": 30}
            ) from None
        try:
            return await run_in_threadpool(fn)
        finally:
            self._semaphore.release()
