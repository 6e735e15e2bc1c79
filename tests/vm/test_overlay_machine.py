"""The fast Overlay agrees with the readable ReferenceOverlay after every step (STYLE.md)."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from zonechain.vm.overlay import Overlay, ReferenceOverlay
from zonechain.vm.state import DictState

KEYS = st.binary(min_size=0, max_size=3).map(lambda tail: b"k" + tail)
PREFIXES = st.sampled_from([b"", b"k", b"k\x00", b"k\x01", b"k\xff", b"x"])
VALUES = st.binary(min_size=0, max_size=4)


class OverlayMachine(RuleBasedStateMachine):
    """A base state, then a stack of nested overlays driven by random operations."""

    def __init__(self) -> None:
        super().__init__()
        base = {b"k": b"0", b"k\x00": b"1", b"k\x01\x02": b"2", b"k\xff": b"3", b"z": b"4"}
        self.fast: list[Overlay] = [Overlay(DictState(base))]
        self.reference: list[ReferenceOverlay] = [ReferenceOverlay(base)]

    @rule(key=KEYS, value=VALUES)
    def put(self, key: bytes, value: bytes) -> None:
        self.fast[-1].put(key, value)
        self.reference[-1].put(key, value)

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        self.fast[-1].delete(key)
        self.reference[-1].delete(key)

    @precondition(lambda self: len(self.fast) < 4)
    @rule()
    def nest(self) -> None:
        self.fast.append(self.fast[-1].child())
        self.reference.append(self.reference[-1].child())

    @precondition(lambda self: len(self.fast) > 1)
    @rule()
    def commit(self) -> None:
        self.fast.pop().commit()
        self.reference.pop().commit()

    @precondition(lambda self: len(self.fast) > 1)
    @rule()
    def discard(self) -> None:
        self.fast.pop()
        self.reference.pop()

    @rule(key=KEYS)
    def get_agrees(self, key: bytes) -> None:
        assert self.fast[-1].get(key) == self.reference[-1].get(key)

    @rule(prefix=PREFIXES, after=st.one_of(st.none(), KEYS))
    def next_key_agrees(self, prefix: bytes, after: bytes | None) -> None:
        fast_skips: list[bool] = []
        reference_skips: list[bool] = []
        found = self.fast[-1].next_key(prefix, after, fast_skips.append)
        assert found == self.reference[-1].next_key(prefix, after, reference_skips.append)
        # What is charged (skips, and which of them seek committed state again)
        # is the same as the specification's: the distinct written keys passed over.
        assert fast_skips == reference_skips

    @invariant()
    def writes_and_full_scan_agree(self) -> None:
        assert self.fast[-1].net_writes() == self.reference[-1].net_writes()
        scanned, cursor = [], None
        while (cursor := self.fast[-1].next_key(b"", cursor)) is not None:
            scanned.append(cursor)
        assert scanned == sorted(self.reference[-1].visible)


OverlayMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30)
TestOverlayMachine = OverlayMachine.TestCase


def test_only_nested_overlays_commit() -> None:
    with pytest.raises(TypeError):
        Overlay(DictState()).commit()
