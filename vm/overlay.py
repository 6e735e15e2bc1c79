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

``next_key`` is metered by its caller: it reports every key it passes over
because an overlay deleted it (``on_skip``) before doing the work that
follows, so a walk over many deleted keys costs gas in proportion and stops
when the gas does (vm/host/storage.py).

Determinism: ``next_key`` merges the ordered keys of the state below with every
overlay layer's buffered keys (each kept in a sorted list, built by
``sorted`` at a layer's first ordered use, then kept by insertion) by unsigned
byte-wise comparison; writes are reported in sorted key order. No iteration
over hash order feeds a result. The keys it reports as skipped, and whether
each needs a new seek below, are a function of the layers' contents and the
state below (the distinct written keys between ``after`` and the result), never
of caches or of how the layers were nested.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from zonechain.vm.state import StateReader

SkipHook = Callable[[bool], None]
"""Called before ``next_key`` passes over a deleted key; the flag: a new seek below follows."""


def _visible_in(layers: list[Overlay], key: bytes) -> bool:
    """Whether ``key`` (a buffered key, or one found below) is present at the top."""
    for layer in layers:
        writes = layer.writes
        if key in writes:
            return writes[key] is not None
    return True  # written by no layer: it came from the state below, unchanged


class Overlay:
    """Buffered writes (None = deleted) over a base ``StateReader``."""

    __slots__ = ("_sorted_keys", "base", "writes")

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.writes: dict[bytes, bytes | None] = {}
        self._sorted_keys: list[bytes] | None = None
        """The keys of ``writes`` in sorted order, built at the first ordered use
        (``next_key``, ``commit``, ``net_writes``) and kept sorted from then on, so
        that a run of writes with no ordered read in between sorts once."""

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
        if self._sorted_keys is not None and key not in self.writes:
            bisect.insort(self._sorted_keys, key)

    def _keys(self) -> list[bytes]:
        """The written keys in sorted order."""
        keys = self._sorted_keys
        if keys is None:
            keys = self._sorted_keys = sorted(self.writes)
        return keys

    def next_key(
        self, prefix: bytes, after: bytes | None, on_skip: SkipHook | None = None,
    ) -> bytes | None:
        """The smallest visible key with ``prefix`` and greater than ``after``.

        One ordered merge of every layer (this overlay, its enclosing overlays,
        and the state below them): the smallest candidate is looked up in the
        topmost layer that wrote it; if that layer deleted it, the walk passes
        over it, calling ``on_skip(reseek)`` first, where ``reseek`` says the
        state below the overlays still holds that key and must be sought again.
        The skipped keys are exactly the distinct keys in (``after``, result)
        that some layer wrote, so the count depends on the layers' contents
        only. ``on_skip`` may raise (out of gas): the walk stops there.
        """
        layers = self._layers()
        bottom = layers[-1].base
        key_lists = [layer._keys() for layer in layers]
        positions = [layer._start(prefix, after) for layer in layers]
        from_bottom = bottom.next_key(prefix, after)
        skipped: bytes | None = None
        while True:
            candidate = from_bottom
            for index, keys in enumerate(key_lists):
                position = positions[index]
                if position < len(keys):
                    key = keys[position]
                    if key == skipped:  # passed over last step: move on in this layer
                        position = positions[index] = position + 1
                        if position == len(keys):
                            continue
                        key = keys[position]
                    if key.startswith(prefix) and (candidate is None or key < candidate):
                        candidate = key
            if candidate is None or _visible_in(layers, candidate):
                return candidate
            reseek = candidate == from_bottom
            if on_skip is not None:
                on_skip(reseek)
            skipped = candidate
            if reseek:
                from_bottom = bottom.next_key(prefix, candidate)

    def _layers(self) -> list[Overlay]:
        """This overlay and every overlay below it, top first."""
        layers = [self]
        while isinstance(layers[-1].base, Overlay):
            layers.append(layers[-1].base)
        return layers

    def _start(self, prefix: bytes, after: bytes | None) -> int:
        """Index of the first buffered key at or past the start of the walk."""
        if after is None or after < prefix:
            return bisect.bisect_left(self._keys(), prefix)
        return bisect.bisect_right(self._keys(), after)

    def child(self) -> Overlay:
        """A nested overlay whose writes reach this one only through ``commit``."""
        return Overlay(self)

    def commit(self) -> None:
        """Apply this overlay's writes to its base, which must be an ``Overlay``."""
        if not isinstance(self.base, Overlay):
            raise TypeError("only a nested overlay can be committed into its base")
        for key in self._keys():
            value = self.writes[key]
            if value is None:
                self.base.delete(key)
            else:
                self.base.put(key, value)

    def net_writes(self) -> dict[bytes, bytes | None]:
        """Every key written, in sorted order, with its last value (None = deleted)."""
        writes = self.writes
        return {key: writes[key] for key in self._keys()}


class ReferenceOverlay:
    """The readable specification of ``Overlay``: a full copy, sorted scans."""

    def __init__(self, visible: dict[bytes, bytes], parent: ReferenceOverlay | None = None) -> None:
        self.visible = dict(visible)
        self.parent = parent
        self.written: dict[bytes, bytes | None] = {}
        self.below: frozenset[bytes] = parent.below if parent is not None else frozenset(visible)
        """The keys of the state below every overlay."""

    def get(self, key: bytes) -> bytes | None:
        return self.visible.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.visible[key] = value
        self.written[key] = value

    def delete(self, key: bytes) -> None:
        self.visible.pop(key, None)
        self.written[key] = None

    def next_key(
        self, prefix: bytes, after: bytes | None, on_skip: SkipHook | None = None,
    ) -> bytes | None:
        """The first visible key in range; every key some layer wrote before it is skipped."""
        written = self._written_anywhere()
        for key in sorted(self.visible.keys() | written):
            if not key.startswith(prefix) or (after is not None and key <= after):
                continue
            if key in self.visible:
                return key
            if on_skip is not None:
                on_skip(key in self.below)
        return None

    def _written_anywhere(self) -> set[bytes]:
        layer: ReferenceOverlay | None = self
        keys: set[bytes] = set()
        while layer is not None:
            keys |= layer.written.keys()
            layer = layer.parent
        return keys

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
