"""The value history (node/store/history.py) and reads at past heights.

Store: the history key encoding keeps (state key, height) order and reads back;
get/next-key at every height agree with a reference model (a dict per height)
over deletions, re-creations and keys that are prefixes of each other; a
schema-1 store is refused. Ledger: view calls and raw reads at every height
give the values of that time, with block H's height and time in the call's
context, and proofs that verify against that height's root; after a restart
too; a commit that fails before its write leaves no history. Crashes (child
processes, slow): the history ends exactly at the last durable block.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node.fixtures.chain import (
    CHAIN_ID,
    GENESIS_TIME_MS,
    ZONE,
    key,
    make_genesis,
    signed,
)
from tests.node.fixtures.scenario import run as run_scenario
from tests.node.fixtures.scenario import run_in_child
from zonechain.node import failpoints
from zonechain.node.failpoints import EXIT_CODE, FailpointTriggered
from zonechain.node.ledger import Genesis, GenesisContract, HeightUnavailable, Ledger
from zonechain.node.state.proof import verify_proof
from zonechain.node.store import (
    BlockCommit,
    NodeStore,
    StateAt,
    StoreInputError,
    StoreVersionError,
)
from zonechain.node.store.history import HistoryWalkTooLong, decode_history_key, history_key
from zonechain.node.store.layout import CF_META, CF_STATE_HISTORY, META_SCHEMA_VERSION
from zonechain.node.types.block import Block
from zonechain.node.types.receipt import ReceiptStatus
from zonechain.node.types.transaction import CallPayload
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import contract_storage_key

# ---- the key encoding -------------------------------------------------------------

KEY_BYTES = st.binary(max_size=6)
EDGE_BYTES = st.lists(st.sampled_from([b"\x00", b"\xff", b"\x01", b"a"]), max_size=5).map(
    b"".join)
STATE_KEYS = st.one_of(KEY_BYTES, EDGE_BYTES).filter(bool)
HEIGHTS = st.integers(min_value=0, max_value=2**63 - 1)


@settings(max_examples=300, deadline=None)
@given(STATE_KEYS, HEIGHTS, STATE_KEYS, HEIGHTS)
def test_history_keys_keep_key_then_height_order_and_read_back(
        key_a: bytes, height_a: int, key_b: bytes, height_b: int) -> None:
    encoded_a, encoded_b = history_key(key_a, height_a), history_key(key_b, height_b)
    assert decode_history_key(encoded_a) == (key_a, height_a)
    assert (encoded_a < encoded_b) == ((key_a, height_a) < (key_b, height_b))
    assert (encoded_a == encoded_b) == ((key_a, height_a) == (key_b, height_b))


# ---- the store against a model ------------------------------------------------------

MODEL_KEYS = (b"a", b"a\x00", b"a\x00\x00", b"a\x00\xff", b"a\x01", b"a\xff", b"ab", b"b",
              b"\x00", b"\x00\xff", b"\xff")
"""Keys that are prefixes of each other and hold the escape bytes."""
PREFIXES = (b"", b"a", b"a\x00", b"\x00", b"b", b"c")
AFTERS = (None, b"", b"a", b"a\x00", b"a\x00\x00", b"a\xff", b"\x00", b"b", b"\xff\xff")

WRITE = st.one_of(st.none(), st.sampled_from([b"", b"1", b"\x00"]))
BLOCK_WRITES = st.dictionaries(st.sampled_from(MODEL_KEYS), WRITE, max_size=5)


def model_next_key(state: dict[bytes, bytes], prefix: bytes, after: bytes | None) -> bytes | None:
    keys = [k for k in state if k.startswith(prefix) and (after is None or k > after)]
    return min(keys) if keys else None


def block_commit(height: int, writes: dict[bytes, bytes | None]) -> BlockCommit:
    block = b"block " + height.to_bytes(8, "big")
    return BlockCommit(height=height, block_hash=height.to_bytes(32, "big"), block=block,
                       state_root=bytes(32), state_writes=writes)


@settings(max_examples=25, deadline=None)
@given(st.lists(BLOCK_WRITES, min_size=1, max_size=6))
def test_reads_at_every_height_match_a_dict_per_height(blocks: list[dict[bytes, bytes | None]],
                                                        ) -> None:
    states: list[dict[bytes, bytes]] = []
    current: dict[bytes, bytes] = {}
    with tempfile.TemporaryDirectory() as directory, \
            NodeStore(Path(directory) / "db", chain_id="history") as store:
        for height, writes in enumerate(blocks):
            store.commit_block(block_commit(height, writes))
            for state_key, value in writes.items():
                if value is None:
                    current.pop(state_key, None)
                else:
                    current[state_key] = value
            states.append(dict(current))
        for height, state in enumerate(states):
            view = store.state_at(height)
            for state_key in MODEL_KEYS:
                assert view.get(state_key) == state.get(state_key)
            for prefix in PREFIXES:
                for after in AFTERS:
                    assert view.next_key(prefix, after) == model_next_key(state, prefix, after)
        assert [store.get(k) for k in MODEL_KEYS] == [current.get(k) for k in MODEL_KEYS]


def test_a_reader_walks_past_a_bounded_number_of_absent_keys(tmp_path: Path) -> None:
    with NodeStore(tmp_path / "db", chain_id="history") as store:
        store.commit_block(block_commit(0, {b"k0": b"v"}))
        store.commit_block(block_commit(1, {bytes([107, digit]): b"v" for digit in range(5)}))
        assert StateAt(store, 0, skips_max=5).next_key(b"k", None) == b"k0"  # 5 passed
        bounded = StateAt(store, 0, skips_max=4)
        with pytest.raises(HistoryWalkTooLong, match="more than 4 keys absent at height 0"):
            bounded.next_key(b"k", None)
        assert store.state_at(1).next_key(b"k", None) == bytes([107, 0])


def test_reads_outside_the_committed_heights_are_refused(tmp_path: Path) -> None:
    with NodeStore(tmp_path / "db", chain_id="history", initial_height=1) as store:
        with pytest.raises(StoreInputError):
            store.state_at(1)  # nothing committed yet
        store.commit_block(block_commit(1, {b"k": b"v"}))
        assert store.get_at(b"k", 1) == b"v"
        for height in (0, 2):
            with pytest.raises(StoreInputError, match="not committed"):
                store.get_at(b"k", height)
            with pytest.raises(StoreInputError, match="not committed"):
                store.next_key_at(b"", None, height)


def test_a_schema_one_store_is_refused_as_older(tmp_path: Path) -> None:
    with NodeStore(tmp_path / "db", chain_id="history") as store:
        store._write([(CF_META, META_SCHEMA_VERSION, (1).to_bytes(4, "big"))])
    with pytest.raises(StoreVersionError, match="schema version 1 is older"):
        NodeStore(tmp_path / "db", chain_id="history")


# ---- the ledger at past heights -----------------------------------------------------

PROBE = bytes.fromhex("7b" * 20)
PROBE_WAT = """
;; put(op u8, key...): op 1 writes key -> "v", op 0 removes key.
;; list() -> every key of its storage in order, each as length u8 ++ key (storage_next_key).
;; context() -> block_height i64 LE ++ block_time_ms i64 LE.
(module
  (import "zonechain" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "zonechain" "storage_write" (func $storage_write (param i32 i32 i32 i32)))
  (import "zonechain" "storage_remove" (func $storage_remove (param i32 i32)))
  (import "zonechain" "storage_next_key"
    (func $next_key (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "zonechain" "return_data" (func $return_data (param i32 i32)))
  (import "zonechain" "block_height" (func $block_height (result i64)))
  (import "zonechain" "block_time_ms" (func $block_time_ms (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 900) "v")
  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
      (local.set $src (i32.add (local.get $src) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next))))
  (func (export "put")
    (local $length i32)
    (local.set $length (call $input_read (i32.const 0) (i32.const 64)))
    (if (i32.load8_u (i32.const 0))
      (then (call $storage_write (i32.const 1) (i32.sub (local.get $length) (i32.const 1))
                                 (i32.const 900) (i32.const 1)))
      (else (call $storage_remove (i32.const 1) (i32.sub (local.get $length) (i32.const 1))))))
  (func (export "list")
    (local $length i32) (local $after i32) (local $out i32)
    (local.set $after (i32.const -1))
    (local.set $out (i32.const 2000))
    (block $done (loop $next
      (local.set $length (call $next_key (i32.const 0) (i32.const 0) (i32.const 1000)
                                         (local.get $after) (i32.const 1100) (i32.const 64)))
      (br_if $done (i32.eq (local.get $length) (i32.const -1)))
      (i32.store8 (local.get $out) (local.get $length))
      (call $copy (i32.add (local.get $out) (i32.const 1)) (i32.const 1100) (local.get $length))
      (call $copy (i32.const 1000) (i32.const 1100) (local.get $length))
      (local.set $after (local.get $length))
      (local.set $out (i32.add (local.get $out) (i32.add (local.get $length) (i32.const 1))))
      (br $next)))
    (call $return_data (i32.const 2000) (i32.sub (local.get $out) (i32.const 2000))))
  (func (export "context")
    (i64.store (i32.const 0) (call $block_height))
    (i64.store (i32.const 8) (call $block_time_ms))
    (call $return_data (i32.const 0) (i32.const 16))))
"""

# Block h applies these probe storage changes (key -> present?); genesis holds none.
PROBE_BLOCKS: tuple[dict[bytes, bool], ...] = (
    {b"a": True, b"ab": True, b"a\x00": True},
    {b"a": False, b"b": True},
    {b"a": True, b"ab": False},
    {},
    {b"a\x00": False, b"b": False, b"\x00": True},
)
BLOCK_INTERVAL_MS = 1_000
SENDER = key(7)


def probe_genesis() -> Genesis:
    token = make_genesis().contracts[0]
    probe = GenesisContract(PROBE, bytes(wasmtime.wat2wasm(PROBE_WAT)), ZONE)
    return Genesis(CHAIN_ID, GENESIS_TIME_MS, contracts=(token, probe))


def probe_states() -> list[list[bytes]]:
    """The probe's sorted storage keys after each height 0..len(PROBE_BLOCKS)."""
    present: set[bytes] = set()
    states = [sorted(present)]
    for changes in PROBE_BLOCKS:
        for probe_key, keep in changes.items():
            if keep:
                present.add(probe_key)
            else:
                present.discard(probe_key)
        states.append(sorted(present))
    return states


def apply_probe_blocks(ledger: Ledger) -> None:
    nonce = 0
    for height, changes in enumerate(PROBE_BLOCKS, start=1):
        txs = []
        for probe_key, keep in changes.items():
            args = (b"\x01" if keep else b"\x00") + probe_key
            txs.append(signed(SENDER, nonce, CallPayload(PROBE, "put", args)))
            nonce += 1
        block = ledger.propose_block(txs, GENESIS_TIME_MS + BLOCK_INTERVAL_MS * height, key(99))
        receipts = ledger.apply_block(block)
        assert all(receipt.status is ReceiptStatus.SUCCESS for receipt in receipts), receipts


def decode_listing(data: bytes) -> list[bytes]:
    keys, position = [], 0
    while position < len(data):
        length = data[position]
        keys.append(data[position + 1:position + 1 + length])
        position += 1 + length
    return keys


@pytest.fixture(scope="module")
def probe_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("probe") / "db"
    with Ledger.open(path, probe_genesis()) as ledger:
        apply_probe_blocks(ledger)
    return path


@pytest.fixture
def probe_ledger(probe_path: Path) -> Iterator[Ledger]:
    with Ledger.open(probe_path, probe_genesis()) as ledger:  # a restart each time
        yield ledger


def test_view_calls_see_the_state_and_context_of_each_height(probe_ledger: Ledger) -> None:
    states = probe_states()
    assert probe_ledger.height == len(PROBE_BLOCKS)
    for height, expected in enumerate(states):
        listing = probe_ledger.query(PROBE, "list", height=height)
        assert listing.ok, listing.error
        assert decode_listing(listing.return_data) == expected
        context = probe_ledger.query(PROBE, "context", height=height)
        assert context.ok, context.error
        time_ms = GENESIS_TIME_MS + BLOCK_INTERVAL_MS * height
        assert context.return_data == height.to_bytes(8, "little") + time_ms.to_bytes(8, "little")
    latest = probe_ledger.query(PROBE, "list")
    assert decode_listing(latest.return_data) == states[-1]


def test_a_view_call_that_walks_too_much_history_fails_and_nothing_else(
        probe_ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("zonechain.node.store.store.HISTORY_SKIPS_MAX", 2)
    walked = probe_ledger.query(PROBE, "list", height=0)  # 4 keys created later
    assert not walked.ok and walked.error is not None
    assert walked.error.code == "history_walk_too_long"
    assert probe_ledger.query(PROBE, "list", height=1).ok  # 1 key passed
    monkeypatch.setattr("zonechain.node.store.store.HISTORY_SKIPS_MAX", 3)
    assert probe_ledger.query(PROBE, "list").ok  # the latest: 3 keys deleted by then


def test_a_block_commits_while_a_view_call_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db"
    with Ledger.open(path, probe_genesis()) as ledger:
        apply_probe_blocks(ledger)
        started, proceed = threading.Event(), threading.Event()
        original = VirtualMachine.query

        def paused_query(vm: VirtualMachine, *args: Any, **options: Any) -> Any:
            if threading.current_thread().name == "viewer":
                started.set()
                assert proceed.wait(30)
            return original(vm, *args, **options)

        monkeypatch.setattr(VirtualMachine, "query", paused_query)
        answers: list[Any] = []
        viewer = threading.Thread(target=lambda: answers.append(ledger.query(PROBE, "list")),
                                  name="viewer")
        viewer.start()
        assert started.wait(30)
        height = ledger.height
        put = signed(SENDER, len([k for block in PROBE_BLOCKS for k in block]),
                     CallPayload(PROBE, "put", b"\x01zz"))
        ledger.apply_block(ledger.propose_block(  # would deadlock if the call held the lock
            [put], GENESIS_TIME_MS + BLOCK_INTERVAL_MS * (height + 1), key(99)))
        proceed.set()
        viewer.join(30)
        assert ledger.height == height + 1
        assert answers and answers[0].ok
        assert decode_listing(answers[0].return_data) == probe_states()[height]  # its height


def test_raw_reads_at_each_height_prove_against_that_heights_root(
        probe_ledger: Ledger) -> None:
    states = probe_states()
    for height, expected in enumerate(states):
        root = probe_ledger.tree.root_hash(height)
        if height < probe_ledger.height:  # header H+1 commits the state after H
            raw = probe_ledger.store.load_block(height + 1)
            assert raw is not None and Block.decode(raw).header.last_state_root == root
        for probe_key in (b"a", b"ab", b"a\x00", b"b", b"\x00", b"zz"):
            read = probe_ledger.read_state(contract_storage_key(PROBE, probe_key), height=height)
            assert read.height == height and read.state_root == root
            assert read.value == (b"v" if probe_key in expected else None)
            assert read.proof is not None
            verify_proof(root, read.key, read.value, read.proof)


def test_the_history_agrees_with_the_tree_at_every_height(probe_ledger: Ledger) -> None:
    entries = history_entries(probe_ledger.store)
    assert {height for _, height in entries} == set(range(probe_ledger.height + 1)) - {4}
    check_history_matches_tree(probe_ledger, {state_key for state_key, _ in entries})


def test_heights_above_the_latest_are_unavailable(probe_ledger: Ledger) -> None:
    above = probe_ledger.height + 1
    with pytest.raises(HeightUnavailable, match=f"height {above}: this node serves heights 0"):
        probe_ledger.read_state(contract_storage_key(PROBE, b"a"), height=above)
    with pytest.raises(HeightUnavailable):
        probe_ledger.query(PROBE, "list", height=above)
    with pytest.raises(HeightUnavailable):
        probe_ledger.query(PROBE, "list", height=-1)


def test_a_commit_that_fails_before_its_write_leaves_no_history(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "db", probe_genesis()) as ledger:
        put = signed(SENDER, 0, CallPayload(PROBE, "put", b"\x01q"))
        block = ledger.propose_block([put], GENESIS_TIME_MS + BLOCK_INTERVAL_MS, key(99))
        failpoints.configure("store.commit.before_write=raise")
        try:
            with pytest.raises(FailpointTriggered):
                ledger.apply_block(block)
        finally:
            failpoints.reset()
        assert ledger.height == 0
        assert max(height for _, height in history_entries(ledger.store)) == 0
        ledger.apply_block(block)
        assert ledger.read_state(contract_storage_key(PROBE, b"q"), height=1).value == b"v"
        assert ledger.read_state(contract_storage_key(PROBE, b"q"), height=0).value is None


def history_entries(store: NodeStore) -> list[tuple[bytes, int]]:
    iterator = store._family(CF_STATE_HISTORY).iter()
    iterator.seek_to_first()
    entries = []
    while iterator.valid():
        entries.append(decode_history_key(iterator.key()))
        iterator.next()
    return entries


# ---- crashes (child processes) ---------------------------------------------------------

BLOCKS = 3


@pytest.mark.slow
@pytest.mark.parametrize(("failpoint", "last_height"), [
    ("store.commit.before_write", 1),  # pass 3 = block 2: not on disk
    ("store.commit.after_write", 2),   # block 2 on disk, the process died before returning
])
def test_history_ends_at_the_last_durable_block(tmp_path: Path, failpoint: str,
                                               last_height: int) -> None:
    path = tmp_path / "db"
    child = run_in_child(path, BLOCKS, f"{failpoint}=exit@3")
    assert child.returncode == EXIT_CODE, child.stderr
    with Ledger.open(path, make_genesis()) as ledger:
        assert ledger.height == last_height
        entries = history_entries(ledger.store)
        assert max(height for _, height in entries) == last_height
        check_history_matches_tree(ledger, {state_key for state_key, _ in entries})
    run_scenario(str(path), BLOCKS)  # continues to the same chain as an uncrashed run
    with Ledger.open(path, make_genesis()) as ledger:
        check_history_matches_tree(ledger, {k for k, _ in history_entries(ledger.store)})


def check_history_matches_tree(ledger: Ledger, state_keys: set[bytes]) -> None:
    """At every height, every key's history value is what the tree committed."""
    for height in range(ledger.height + 1):
        root = ledger.tree.root_hash(height)
        for state_key in sorted(state_keys):
            read = ledger.read_state(state_key, height=height)
            assert read.proof is not None
            verify_proof(root, state_key, read.value, read.proof)
