"""The per-client caches of the gateway's policy and budgets: bounded whatever the clients.

A look-up is a plain ``dict.get`` at its call site (the hot path); only a miss comes here.
"""

from typing import TypeVar

# Entries a cache holds before it starts over: bounds memory when many distinct keys arrive,
# while the usual few hundred clients are served from the cache.
CACHE_ENTRIES = 4096

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V) -> V:
    """Store ``value`` under ``key`` and return it; a full cache is emptied first."""
    if len(cache) >= CACHE_ENTRIES:
        cache.clear()
    cache[key] = value
    return value
