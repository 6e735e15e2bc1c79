"""The store's state reads against the readable reference, ``DictState``.

Random sequences of blocks of writes and deletes over a small key alphabet
(so that keys share prefixes, and include 0x00 and 0xff bytes) go to both;
after every block, ``get`` and ``next_key`` must agree for every key, every
prefix and every starting point, and again after the store is reopened.
"""

from __future__ import annotations

import hashlib
import tempfile
from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.store import BlockCommit, NodeStore
from zonechain.vm.state import DictState, StateReader

ALPHABET = (b"\x00", b"a", b"b", b"\xff")


def words(*lengths: int) -> list[bytes]:
    return [b"".join(parts) for length in lengths for parts in product(ALPHABET, repeat=length)]


KEYS = words(1, 2, 3)
PREFIXES = [b"", *words(1, 2)]

writes_strategy = st.dictionaries(
    st.sampled_from(KEYS), st.one_of(st.none(), st.binary(max_size=8)), max_size=12
)


def commit_of(height: int, writes: dict[bytes, bytes | None]) -> BlockCommit:
    block = b"block %d" % height
    return BlockCommit(
        height=height, block_hash=hashlib.sha256(block).digest(), block=block,
        state_root=hashlib.sha256(b"root %d" % height).digest(), state_writes=writes,
    )


def assert_same_reads(store: StateReader, reference: DictState) -> None:
    for key in KEYS:
        assert store.get(key) == reference.get(key), key
    for prefix in PREFIXES:
        for after in (None, *KEYS):
            assert store.next_key(prefix, after) == reference.next_key(prefix, after), (
                prefix, after,
            )


@settings(max_examples=25)
@given(blocks=st.lists(writes_strategy, min_size=1, max_size=4))
def test_state_reads_match_the_reference(blocks: list[dict[bytes, bytes | None]]) -> None:
    reference = DictState()
    with tempfile.TemporaryDirectory() as directory:
        with NodeStore(directory, chain_id="model") as store:
            for height, writes in enumerate(blocks):
                store.commit_block(commit_of(height, writes))
                reference.apply(writes)
                assert_same_reads(store, reference)
        with NodeStore(directory, chain_id="model") as reopened:
            assert_same_reads(reopened, reference)
