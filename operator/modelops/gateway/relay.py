"""A streamed answer on its way to the client: what is noted of each chunk (when the first
came, the SSE usage scan), whichever of the two ways it goes.

Most chunks of a stream are written on from the upstream connection's callback as they are
parsed (``push``): no future, no task wake-up, no walk down the handler's coroutines. That
was two thirds of the Python work of a relayed chunk (issue 19's profile of 1,000 SSE
streams). A chunk goes that way only when it cannot make the client's writes wait: the client
took everything sent before it. Otherwise the relaying task writes it and waits for room, with
the client-idle timeout, exactly as before; chunks behind it queue in the answer, in order.
"""

import time

from modelops.gateway.http_exchange import StreamResponse
from modelops.gateway.usage import SseUsageScanner


class StreamRelay:
    def __init__(self, out: StreamResponse, scanner: SseUsageScanner | None) -> None:
        self.out = out
        self.scanner = scanner
        self.first: float | None = None  # when the first chunk of the body came

    def note(self, chunk: bytes) -> None:
        """A chunk passes: its time if first, and the usage scan."""
        if self.first is None:
            self.first = time.monotonic()
        if self.scanner is not None:
            self.scanner.feed(chunk)

    def push(self, chunk: bytes) -> bool:
        """Pass ``chunk`` on now if it goes without waiting; False: it was not sent, and
        the relaying task writes it."""
        if not self.out.write_now(chunk):
            return False
        self.note(chunk)
        return True
