"""The event loop an object serves, asked of asyncio once and kept.

On Python 3.11 ``asyncio.get_running_loop()`` makes a ``getpid`` system call each time (it
checks the loop was not inherited across a fork). Asked per request, that was one system call
a request; an object that serves one loop keeps it instead.
"""

import asyncio


class KeptLoop:
    """The running loop at the first ``get``, from then on without asking asyncio."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop
