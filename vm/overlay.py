"""A buffered view of state: writes are held here and reach the base only on success.

``Overlay`` wraps a ``StateReader`` (committed state, or another overlay) and is
itself a ``StateReader``. Reads see the overlay's own writes first, then the
base. Nothing reaches the base until ``commit`` is called, so a failed call
discards its overlay and leaves no trace. A cross-contract call runs in a
``child()`` overlay of its caller's, committed into the caller's only if the
callee succeeds.

``ReferenceOverlay`` is the readable specification: it copies the whole visible
state into a dict and answers ``next_key`` by sorting. The Hypothesis state
machine in tests/vm/test_overlay_machine.py runs both side by side and asserts
they agree after every step.

Determinism: ``next_key`` merges the base's ordered keys with the overlay's
buffered keys (kept in a sorted list) by unsigned byte-wise comparison; writes
are reported in sorted key order. No iteration over hash order feeds a result.
"""

from __future__ import annotations

import bisect

from zonechain.vm.state import StateReader


class Overlay:
    """Buffered writes (None = deleted) over a base ``StateReader``."""

    __slots__ = ("_sorted_keys", "base", "writes")

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.writes: dict[bytes, bytes | None] = {}
        self._sorted_keys: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        writes = self.writes
        if key in writes:
            return writes[key]
        return self.base.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._remember(key)
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self._remember(key)
        self.writes[key] = None

    def _remember(self, key: bytes) -> None:
        if key not in self.writes:
            bisect.insort(self._sorted_keys, key)

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        """The smallest visible key with ``prefix`` and greater than ``after``."""
        buffered = self._next_buffered(prefix, after)
        cursor = after
        while True:
            from_base = self.base.next_key(prefix, cursor)
            if from_base is None or from_base not in self.writes:
                break
            if self.writes[from_base] is not None:
                break  # overwritten, still present: also found by _next_buffered
            cursor = from_base  # deleted here: look further in the base
        candidates = [key for key in (buffered, from_base) if key is not None]
        return min(candidates) if candidates else None

    def _next_buffered(self, prefix: bytes, after: bytes | None) -> bytes | None:
        keys = self._sorted_keys
        if after is None or after < prefix:
            start = bisect.bisect_left(keys, prefix)
        else:
            start = bisect.bisect_right(keys, after)
        for index in range(start, len(keys)):
            key = keys[index]
            if not key.startswith(prefix):
                return None
            if self.writes[key] is not None:
                return key
        return None

    def child(self) -> Overlay:
        """A nested overlay whose writes reach this one only through ``commit``."""
        return Overlay(self)

    def commit(self) -> None:
        """Apply this overlay's writes to its base, which must be an ``Overlay``."""
        if not isinstance(self.base, Overlay):
            raise TypeError("only a nested overlay can be committed into its base")
        for key in self._sorted_keys:
            value = self.writes[key]
            if value is None:
                self.base.delete(key)
            else:
                self.base.put(key, value)

    def net_writes(self) -> dict[bytes, bytes | None]:
        """Every key written, in sorted order, with its last value (None = deleted)."""
        return {key: self.writes[key] for key in self._sorted_keys}


class ReferenceOverlay:
    """The readable specification of ``Overlay``: a full copy, sorted scans."""

    def __init__(self, visible: dict[bytes, bytes], parent: ReferenceOverlay | None = None) -> None:
        self.visible = dict(visible)
        self.parent = parent
        self.written: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.visible.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.visible[key] = value
        self.written[key] = value

    def delete(self, key: bytes) -> None:
        self.visible.pop(key, None)
        self.written[key] = None

    def next_key(self, prefix: bytes, after: bytes | None) -> bytes | None:
        for key in sorted(self.visible):
            if key.startswith(prefix) and (after is None or key > after):
                return key
        return None

    def child(self) -> ReferenceOverlay:
        return ReferenceOverlay(self.visible, parent=self)

    def commit(self) -> None:
        if self.parent is None:
            raise TypeError("only a nested overlay can be committed into its base")
        for key, value in sorted(self.written.items()):
            if value is None:
                self.parent.delete(key)
            else:
                self.parent.put(key, value)

    def net_writes(self) -> dict[bytes, bytes | None]:
        return dict(sorted(self.written.items()))
