"""What the cyclic garbage collector would have to free after some work: objects only it can
reclaim (reference cycles) are, in the gateway, pauses that land on requests in flight."""

import gc
from collections import Counter
from collections.abc import Callable


def cyclic_garbage(work: Callable[[], None]) -> Counter[str]:
    """Run ``work`` with the collector off, then count, by type, the unreachable objects that
    only a collection frees (what was garbage before ``work`` is not counted)."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what is found, to name it
    try:
        work()
        gc.garbage.clear()
        gc.collect()
        return Counter(type(o).__qualname__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
