"""A memo bounded by entries and by bytes, for the name caches of the resolver and the price book.

Names come from spans, so an attacker chooses them: a cache bounded only by entries holds whatever each entry
weighs (200 distinct 1 MiB ``server.address`` values once kept 164 MiB). Each entry here is charged what its key's
strings weigh plus a fixed estimate of what its value holds; the oldest entries go first when either bound would
be passed. The values are pure functions of the key, so evicting one never changes a result.

Thread-safe: lookups are plain dict reads; insertions and evictions take a lock (the ingest pipeline prices
large requests in worker threads).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_MAX_BYTES = 32 * 1_048_576
"""What one name cache may hold, by the estimate below: 32 MiB."""


def key_bytes(key: object) -> int:
    """What a cache key's strings weigh: their characters (a tuple's parts summed; other values count 8)."""
    if isinstance(key, str):
        return len(key)
    if isinstance(key, tuple):
        return sum(len(part) if isinstance(part, str) else 8 for part in key)
    return 8


class BoundedCache(Generic[K, V]):
    """A dict bounded by entries and by estimated bytes; first in, first out.

    Args:
        max_entries: Most entries kept.
        max_bytes: Most estimated bytes kept (keys' characters plus ``entry_bytes`` per entry).
        entry_bytes: Estimated weight of one value and the dict slot, beyond the key's strings.
    """

    def __init__(self, max_entries: int, *, max_bytes: int = DEFAULT_MAX_BYTES, entry_bytes: int = 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entry_bytes = entry_bytes
        self._data: dict[K, V] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value stored for ``key``, or None."""
        return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key``, evicting the oldest entries as needed; an entry too heavy alone is not kept.

        Args:
            key: The key.
            value: Its value.
        """
        size = key_bytes(key) + self.entry_bytes
        if size > self.max_bytes or self.max_entries <= 0:
            return
        with self._lock:
            if key in self._data:
                return
            data = self._data
            while data and (len(data) >= self.max_entries or self._bytes + size > self.max_bytes):
                oldest = next(iter(data))
                del data[oldest]
                self._bytes -= key_bytes(oldest) + self.entry_bytes
            data[key] = value
            self._bytes += size

    def __len__(self) -> int:
        return len(self._data)

    @property
    def bytes(self) -> int:
        """Estimated bytes held now."""
        return self._bytes
