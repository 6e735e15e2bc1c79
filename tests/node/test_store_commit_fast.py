"""The commit's fast paths agree with the per-item reference, on good and bad input alike.

``validate_commit`` first checks whole fields in one C-level pass and runs the
per-item checks only when that fails; ``write_commit`` fills the batch with
``map`` over whole columns. Here random commits, each with up to two faults
injected, must get the same verdict (accepted, or the same error type and
message) with the fast checks as with the fast checks switched off (the
per-item checks alone), and every accepted commit must put exactly the
operations of ``commit_operations``, in its order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.store import commit as commit_module
from zonechain.node.store.commit import (
    BlockCommit,
    commit_operations,
    validate_commit,
    write_commit,
)
from zonechain.node.store.errors import StoreInputError
from zonechain.node.store.layout import COLUMN_FAMILIES, HEIGHT_MAX, KEY_BYTES_MAX, RECORD_BYTES_MAX

HEIGHT = 7
"""The height every generated commit is checked against."""


class Bytes(bytes):
    """A bytes subclass: the per-item checks accept it, the fast pass sends it to them."""


class Pair(tuple[Any, ...]):
    """A tuple subclass: a stale entry the per-item checks accept and the fast pass does not."""


class Recorder:
    """A batch that records what is put into it."""

    def __init__(self) -> None:
        self.operations: list[tuple[str, bytes, bytes | None]] = []

    def put(self, key: bytes, value: bytes, column_family: Any) -> None:
        self.operations.append((column_family, key, value))

    def delete(self, key: bytes, column_family: Any) -> None:
        self.operations.append((column_family, key, None))


def verdict(commit: object) -> tuple[str, str]:
    """("ok", "") or the error's type and message; any other exception fails the test."""
    try:
        validate_commit(commit, HEIGHT)
    except StoreInputError as error:
        return type(error).__name__, str(error)
    return "ok", ""


def reference_verdict(commit: object) -> tuple[str, str]:
    """``verdict`` with the fast checks refusing everything: the per-item checks alone."""
    with patch.object(commit_module, "_all_bytes", return_value=False), \
            patch.object(commit_module, "_stale_nodes_fast", return_value=False):
        return verdict(commit)


def assert_same_as_reference(commit: object) -> None:
    fast = verdict(commit)
    assert fast == reference_verdict(commit)
    if fast[0] == "ok":
        assert isinstance(commit, BlockCommit)
        recorder = Recorder()
        write_commit(commit, recorder, {name: name for name in COLUMN_FAMILIES})
        assert recorder.operations == list(commit_operations(commit))


keys = st.one_of(st.binary(min_size=1, max_size=12),
                 st.binary(min_size=KEY_BYTES_MAX, max_size=KEY_BYTES_MAX))
values = st.binary(max_size=12)
hashes = st.binary(min_size=32, max_size=32)


@st.composite
def good_commits(draw: st.DrawFn, min_size: int = 0) -> BlockCommit:
    """A well-formed commit; ``min_size`` items at least in every collection."""
    tx_hashes = draw(st.lists(hashes, min_size=min_size, max_size=4, unique=True))
    return BlockCommit(
        height=HEIGHT, block_hash=draw(hashes), block=draw(st.binary(min_size=1, max_size=12)),
        state_root=draw(hashes), tx_hashes=tuple(tx_hashes),
        receipts=tuple(draw(st.binary(min_size=1, max_size=12)) for _ in tx_hashes),
        state_writes=draw(st.dictionaries(keys, st.none() | values, min_size=min_size,
                                          max_size=6)),
        new_nodes=draw(st.dictionaries(keys, st.binary(min_size=1, max_size=12),
                                       min_size=min_size, max_size=6)),
        stale_nodes=tuple(draw(st.lists(st.tuples(st.integers(0, HEIGHT), keys),
                                        min_size=min_size, max_size=6))),
        certificate=draw(st.none() | st.binary(min_size=1, max_size=12)),
    )


BAD_BYTES: tuple[object, ...] = (b"", Bytes(b"k"), "k", 3, None, True, bytearray(b"k"),
                                 bytes(KEY_BYTES_MAX + 1), bytes(31), Bytes(bytes(32)))
"""Stand-ins for a byte string: wrong type, empty, too long, a subclass (which is fine)."""

BAD_KEYS: tuple[object, ...] = tuple(item for item in BAD_BYTES if item.__hash__ is not None)

BAD_VERSIONS: tuple[object, ...] = (-1, HEIGHT + 1, HEIGHT_MAX + 1, True, False, "1", None, 1.0)


def _swap(items: tuple[Any, ...], index: int, item: object) -> tuple[Any, ...]:
    index %= len(items)
    return (*items[:index], item, *items[index + 1:])


def _swap_key(mapping: dict[Any, Any], index: int, key: object) -> dict[Any, Any]:
    entries = list(mapping.items())
    old_key = entries[index % len(entries)][0]
    return {key if entry_key == old_key else entry_key: entry_value
            for entry_key, entry_value in entries}


def _swap_value(mapping: dict[Any, Any], index: int, value: object) -> dict[Any, Any]:
    changed = dict(mapping)
    changed[list(changed)[index % len(changed)]] = value
    return changed


Fault = Callable[[BlockCommit, int, object], BlockCommit]

def _with(commit: BlockCommit, **fields: object) -> BlockCommit:
    """``commit`` with ``fields`` replaced, whatever their types (a fault may change them)."""
    return replace(commit, **fields)  # type: ignore[arg-type]


FAULTS: dict[str, tuple[tuple[object, ...], Fault]] = {
    "tx hash": (BAD_BYTES, lambda c, i, x: _with(
        c, tx_hashes=_swap(c.tx_hashes, i, x)) if c.tx_hashes else c),
    "receipt": (BAD_BYTES, lambda c, i, x: _with(
        c, receipts=_swap(c.receipts, i, x)) if c.receipts else c),
    "tx container": ((list,), lambda c, i, x: _with(c, tx_hashes=list(c.tx_hashes))),
    "duplicate tx": ((None,), lambda c, i, x: _with(
        c, tx_hashes=c.tx_hashes + c.tx_hashes[:1], receipts=c.receipts + c.receipts[:1])),
    "state key": (BAD_KEYS, lambda c, i, x: _with(
        c, state_writes=_swap_key(dict(c.state_writes), i, x)) if c.state_writes else c),
    "state value": (BAD_BYTES, lambda c, i, x: _with(
        c, state_writes=_swap_value(dict(c.state_writes), i, x)) if c.state_writes else c),
    "state container": ((MappingProxyType, list), lambda c, i, x: _with(
        c, state_writes=MappingProxyType(dict(c.state_writes)) if x is MappingProxyType
        else list(c.state_writes.items()))),
    "node key": (BAD_KEYS, lambda c, i, x: _with(
        c, new_nodes=_swap_key(dict(c.new_nodes), i, x)) if c.new_nodes else c),
    "node value": (BAD_BYTES, lambda c, i, x: _with(
        c, new_nodes=_swap_value(dict(c.new_nodes), i, x)) if c.new_nodes else c),
    "node container": ((MappingProxyType, list), lambda c, i, x: _with(
        c, new_nodes=MappingProxyType(dict(c.new_nodes)) if x is MappingProxyType
        else list(c.new_nodes.items()))),
    "stale version": (BAD_VERSIONS, lambda c, i, x: _with(
        c, stale_nodes=_swap(c.stale_nodes, i, (x, c.stale_nodes[i % len(c.stale_nodes)][1])))
        if c.stale_nodes else c),
    "stale key": (BAD_BYTES, lambda c, i, x: _with(
        c, stale_nodes=_swap(c.stale_nodes, i, (c.stale_nodes[i % len(c.stale_nodes)][0], x)))
        if c.stale_nodes else c),
    "stale entry": ((1, 3, "list", "subclass", "bare"), lambda c, i, x: _with(
        c, stale_nodes=_swap(c.stale_nodes, i, _bad_entry(c.stale_nodes[i % len(c.stale_nodes)],
                                                          x)))
        if c.stale_nodes else c),
    "stale container": ((list,), lambda c, i, x: _with(c, stale_nodes=list(c.stale_nodes))),
}


def _bad_entry(entry: tuple[int, bytes], kind: object) -> object:
    if kind == 1:
        return entry[:1]
    if kind == 3:
        return (*entry, entry[1])
    if kind == "list":
        return list(entry)
    if kind == "subclass":
        return Pair(entry)
    return entry[1]


@pytest.mark.parametrize(("name", "choice"), [
    (name, choice) for name, (choices, _) in sorted(FAULTS.items()) for choice in choices])
@settings(max_examples=8, deadline=None)
@given(st.data())
def test_each_fault_gets_the_same_verdict(name: str, choice: object,
                                          data: st.DataObject) -> None:
    commit = data.draw(good_commits(min_size=1))
    assert verdict(commit) == ("ok", "")
    assert_same_as_reference(FAULTS[name][1](commit, data.draw(st.integers(0, 10)), choice))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fast_checks_agree_with_the_per_item_checks(data: st.DataObject) -> None:
    commit = data.draw(good_commits())
    for _ in range(data.draw(st.integers(0, 2))):
        name = data.draw(st.sampled_from(sorted(FAULTS)))
        choices, fault = FAULTS[name]
        commit = fault(commit, data.draw(st.integers(0, 10)), data.draw(st.sampled_from(choices)))
    assert_same_as_reference(commit)


def test_good_commits_put_exactly_the_reference_operations() -> None:
    commit = BlockCommit(
        height=HEIGHT, block_hash=bytes(32), block=b"b", state_root=bytes([1]) * 32,
        tx_hashes=(bytes([2]) * 32, bytes([3]) * 32), receipts=(b"r0", b"r1"),
        state_writes={b"a\x00b": b"", b"\x00": None, b"c": b"v"},
        new_nodes={b"n1": b"x", b"n0": b"y"},
        stale_nodes=((HEIGHT, b"s"), (0, b"s"), (HEIGHT, b"t")), certificate=b"cert")
    assert verdict(commit) == ("ok", "")
    assert_same_as_reference(commit)
    assert_same_as_reference(_with(commit, state_writes={b"c": b"v"}, certificate=None))


def test_oversized_records_get_the_same_error() -> None:
    huge = bytes(RECORD_BYTES_MAX + 1)
    commit = BlockCommit(height=HEIGHT, block_hash=bytes(32), block=b"b",
                         state_root=bytes(32), tx_hashes=(bytes(32),), receipts=(b"r",),
                         state_writes={b"k": b"v"}, new_nodes={b"n": b"x"})
    for faulty in (_with(commit, receipts=(huge,)),
                   _with(commit, state_writes={b"k": b"v", b"l": huge}),
                   _with(commit, new_nodes={b"n": huge})):
        found = verdict(faulty)
        assert found[0] == "StoreInputError" and str(RECORD_BYTES_MAX) in found[1]
        assert found == reference_verdict(faulty)
