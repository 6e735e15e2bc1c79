"""The mempool: typed refusals at the door, nonce ordering, fairness, bounds, updates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node.fixtures.chain import (
    CHAIN_ID,
    GENESIS_TIME_MS,
    call,
    deploy,
    key,
    make_genesis,
    mint,
)
from zonechain.node.accounts import AccountRecord, account_key
from zonechain.node.crypto import VerifiedSignatureCache
from zonechain.node.executor import PolicyDenial
from zonechain.node.ledger import Ledger
from zonechain.node.mempool import NONCE_AHEAD_MAX, Mempool, MempoolRejection
from zonechain.node.types.block import Block, BlockHeader, evidence_root, tx_root
from zonechain.node.types.hashing import ZERO_HASH
from zonechain.node.types.limits import TX_BYTES_MAX
from zonechain.node.types.transaction import SignedTransaction, Transaction
from zonechain.vm.state import DictState, StateReader

ALICE, BOB, CAROL, PROPOSER = key(1), key(2), key(3), key(99)


def make_pool(state: DictState | None = None, **options: object) -> Mempool:
    return Mempool(CHAIN_ID, state if state is not None else DictState(), 0,
                   signature_cache=VerifiedSignatureCache(), **options)  # type: ignore[arg-type]


def set_nonce(state: DictState, address: bytes, nonce: int) -> None:
    state.items[account_key(address)] = AccountRecord(nonce).encode()


def rejection(pool: Mempool, tx: SignedTransaction | bytes) -> str:
    with pytest.raises(MempoolRejection) as caught:
        pool.add(tx)
    assert caught.value.message
    return caught.value.reason_code


def test_admits_and_deduplicates() -> None:
    pool = make_pool()
    tx = mint(ALICE, 0, ALICE.address, 1)
    assert pool.add(tx) == tx.hash
    assert tx.hash in pool and len(pool) == 1 and pool.get(tx.hash) == tx
    assert rejection(pool, tx) == "duplicate"
    assert rejection(pool, tx.encode()) == "duplicate"


def test_what_changes_while_a_signature_is_checked_is_checked_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import zonechain.node.mempool as mempool_module

    pool = make_pool()
    first, rival = mint(ALICE, 0, ALICE.address, 1), mint(ALICE, 0, ALICE.address, 2)
    checked = mempool_module.signature_fault  # type: ignore[attr-defined]

    def racing_check(signed: SignedTransaction, cache: VerifiedSignatureCache | None) -> object:
        # Another thread admits while this one verifies outside the lock.
        if signed.hash == first.hash and len(pool) == 0:
            pool.add(rival)
        return checked(signed, cache)

    monkeypatch.setattr(mempool_module, "signature_fault", racing_check)
    assert rejection(pool, first) == "nonce_taken"
    assert len(pool) == 1 and rival.hash in pool and first.hash not in pool


def test_a_block_recorded_while_a_signature_is_checked_brings_back_every_rule(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import zonechain.node.mempool as mempool_module

    state = DictState()
    pool = make_pool(state)
    late = mint(ALICE, 0, ALICE.address, 1)
    checked = mempool_module.signature_fault  # type: ignore[attr-defined]

    def racing_check(signed: SignedTransaction, cache: VerifiedSignatureCache | None) -> object:
        # Meanwhile a block that used Alice's nonce 0 commits and is recorded.
        if pool.height == 0:
            set_nonce(state, ALICE.address, 1)
            pool.update(_block_with([], height=1))
        return checked(signed, cache)

    monkeypatch.setattr(mempool_module, "signature_fault", racing_check)
    assert rejection(pool, late) == "nonce_too_low"
    assert len(pool) == 0


def test_the_zone_policy_is_asked_again_only_after_blocks_that_could_change_it() -> None:
    denied: set[bytes] = set()
    asked: list[bytes] = []

    def policy(tx: Transaction, sender: bytes, state: StateReader) -> PolicyDenial | None:
        asked.append(sender)
        return PolicyDenial("not_member", "no") if sender in denied else None

    pool = make_pool(zone_policy=policy)
    held = mint(BOB, 0, BOB.address, 1)
    pool.add(held)
    denied.add(BOB.address)
    asked.clear()
    pool.update(_block_with([mint(ALICE, 0, ALICE.address, 1)], height=1))  # calls only
    assert asked == [] and held.hash in pool
    pool.update(_block_with([deploy(CAROL, 0)], height=2))  # a deploy may change answers
    assert asked == [BOB.address] and held.hash not in pool


def test_account_nonces_are_read_once_a_block_and_forgotten_when_one_is_recorded() -> None:
    class CountingState(DictState):
        def __init__(self) -> None:
            super().__init__()
            self.reads = 0

        def get(self, key: bytes) -> bytes | None:
            self.reads += 1
            return super().get(key)

    state = CountingState()
    pool = make_pool(state)
    for nonce in range(3):
        pool.add(mint(ALICE, nonce, ALICE.address, 1))
    pool.add(mint(BOB, 0, BOB.address, 1))
    assert len(pool.reap()) == 4
    assert state.reads == 2  # Alice's and Bob's records, once each
    set_nonce(state, ALICE.address, 2)  # a block used Alice's nonces 0 and 1 ...
    assert pool.add(mint(ALICE, 3, ALICE.address, 1))  # ... not yet recorded: still 0 here
    pool.update(_block_with([], height=1))  # recorded: the cache is forgotten
    assert rejection(pool, mint(ALICE, 1, ALICE.address, 7)) == "nonce_too_low"
    assert [tx.tx.nonce for tx in pool.reap() if tx.tx.sender == ALICE.public_key] == [2, 3]


def test_admits_canonical_bytes() -> None:
    pool = make_pool()
    tx = mint(ALICE, 0, ALICE.address, 1)
    assert pool.add(tx.encode()) == tx.hash
    assert pool.size_bytes == len(tx.encode())


@pytest.mark.parametrize(("data", "code"), [
    (b"", "malformed"),
    (b"\x01\x02\x03", "malformed"),
    (b"\x00" * (TX_BYTES_MAX + 1), "too_large"),
])
def test_malformed_bytes_are_refused_with_a_reason(data: bytes, code: str) -> None:
    assert rejection(make_pool(), data) == code


def test_trailing_byte_is_malformed() -> None:
    assert rejection(make_pool(), mint(ALICE, 0, ALICE.address, 1).encode() + b"\0") == \
        "malformed"


def test_not_bytes_is_malformed() -> None:
    assert rejection(make_pool(), "a string") == "malformed"  # type: ignore[arg-type]


def test_every_rule_has_a_reason() -> None:
    state = DictState()
    set_nonce(state, ALICE.address, 5)
    pool = make_pool(state, block_gas_max=10_000_000, sender_txs_max=2)
    tampered = mint(ALICE, 5, ALICE.address, 1)
    tampered = SignedTransaction(tampered.tx, bytes(64))
    cases = {
        "wrong_chain": mint(ALICE, 5, ALICE.address, 1, chain_id="other"),
        "gas_limit_too_high": mint(ALICE, 5, ALICE.address, 1, gas=10_000_001),
        "expired": mint(ALICE, 5, ALICE.address, 1, expiry_height=0),
        "nonce_too_low": mint(ALICE, 4, ALICE.address, 1),
        "nonce_too_far": mint(ALICE, 5 + NONCE_AHEAD_MAX, ALICE.address, 1),
        "bad_signature": tampered,
        "nonce_exhausted": mint(ALICE, 2**64 - 1, ALICE.address, 1),
    }
    for code, tx in cases.items():
        assert rejection(pool, tx) == code, code
    pool.add(mint(ALICE, 5, ALICE.address, 1))
    assert rejection(pool, mint(ALICE, 5, BOB.address, 1)) == "nonce_taken"
    pool.add(mint(ALICE, 7, ALICE.address, 1))
    assert rejection(pool, mint(ALICE, 6, ALICE.address, 1)) == "sender_full"
    assert len(pool) == 2


def test_bad_signature_is_not_cached() -> None:
    pool = make_pool()
    good = mint(ALICE, 0, ALICE.address, 1)
    forged = SignedTransaction(good.tx, bytes(64))
    assert rejection(pool, forged) == "bad_signature"
    assert rejection(pool, forged) == "bad_signature"
    pool.add(good)


def test_zone_policy_refuses_at_the_door() -> None:
    def deny_bob(tx: Transaction, sender: bytes, state: StateReader) -> PolicyDenial | None:
        return PolicyDenial("not_member", "no") if sender == BOB.address else None

    pool = make_pool(zone_policy=deny_bob)
    assert rejection(pool, mint(BOB, 0, BOB.address, 1)) == "not_permitted"
    pool.add(mint(ALICE, 0, ALICE.address, 1))


def test_reap_takes_contiguous_nonces_round_robin() -> None:
    state = DictState()
    set_nonce(state, BOB.address, 3)
    pool = make_pool(state)
    alice = [mint(ALICE, n, ALICE.address, 1) for n in range(6)]
    for tx in reversed(alice):  # arrival order does not matter
        pool.add(tx)
    bob = [mint(BOB, 3, BOB.address, 1), mint(BOB, 4, BOB.address, 1)]
    for tx in bob:
        pool.add(tx)
    pool.add(mint(CAROL, 1, CAROL.address, 1))  # gap: Carol's nonce is 0
    assert pool.reap(4) == [alice[0], bob[0], alice[1], bob[1]]
    assert pool.reap() == [alice[0], bob[0], alice[1], bob[1], *alice[2:]]
    assert len(pool) == 9  # reap removes nothing


def test_reap_respects_the_gas_bound() -> None:
    pool = make_pool()
    for nonce in range(3):
        pool.add(mint(ALICE, nonce, ALICE.address, 1, gas=1_000))
    pool.add(mint(BOB, 0, BOB.address, 1, gas=5_000))
    assert [tx.tx.nonce for tx in pool.reap(max_gas=2_500)] == [0, 1]
    assert len(pool.reap(max_gas=7_000)) == 3  # Alice 0, Bob 0, Alice 1


def test_full_pool_evicts_the_flooder_tail_only() -> None:
    pool = make_pool(capacity_txs=4)
    flood = [mint(ALICE, n, ALICE.address, 1) for n in range(4)]
    for tx in flood:
        pool.add(tx)
    bob = mint(BOB, 0, BOB.address, 1)
    pool.add(bob)
    assert flood[3].hash not in pool and bob.hash in pool
    pool.add(mint(CAROL, 0, CAROL.address, 1))
    assert flood[2].hash not in pool
    assert len(pool) == 4
    # Alice 2, Bob 1, Carol 1: Bob's second tx would tie him with Alice: refused.
    assert rejection(pool, mint(BOB, 1, BOB.address, 1)) == "mempool_full"
    # A new sender (1 tx) still displaces Alice's tail (2 > 1) ...
    dave = key(4)
    pool.add(mint(dave, 0, dave.address, 1))
    assert [pool.sender_count(k.address) for k in (ALICE, BOB, CAROL, dave)] == [1, 1, 1, 1]
    assert flood[0].hash in pool
    # ... and once everyone holds one, nobody can displace anybody.
    assert rejection(pool, mint(key(5), 0, key(5).address, 1)) == "mempool_full"


def test_byte_capacity_is_enforced() -> None:
    tx = mint(ALICE, 0, ALICE.address, 1)
    pool = make_pool(capacity_bytes=len(tx.encode()))
    pool.add(tx)
    assert rejection(pool, mint(ALICE, 1, ALICE.address, 1)) == "mempool_full"


def test_update_drops_included_stale_and_expired() -> None:
    state = DictState()
    pool = make_pool(state)
    included = [mint(ALICE, 0, ALICE.address, 1), mint(ALICE, 1, ALICE.address, 1)]
    for tx in included:
        pool.add(tx)
    rival = mint(ALICE, 1, BOB.address, 2)  # same nonce, never admitted (nonce_taken)
    assert rejection(pool, rival) == "nonce_taken"
    later = mint(ALICE, 2, ALICE.address, 1)
    expiring = mint(BOB, 0, BOB.address, 1, expiry_height=1)
    pool.add(later)
    pool.add(expiring)
    block = _block_with(included, height=1)
    set_nonce(state, ALICE.address, 2)
    assert pool.update(block) == 3  # two included, Bob's expired at height 2
    assert list(pool.reap()) == [later]


def _block_with(txs: list[SignedTransaction], height: int) -> Block:
    header = BlockHeader(CHAIN_ID, height, GENESIS_TIME_MS, ZERO_HASH, tx_root(txs), ZERO_HASH,
                         ZERO_HASH, ZERO_HASH, ZERO_HASH, evidence_root(()), bytes(20))
    return Block(header, tuple(txs), None)


def test_mempool_feeds_the_ledger(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "db", make_genesis()) as ledger:
        pool = Mempool(CHAIN_ID, ledger.store, ledger.height)
        for sender in (ALICE, BOB, CAROL):
            for nonce in range(3):
                pool.add(mint(sender, nonce, sender.address, 10))
        block = ledger.propose_block(pool.reap(5), GENESIS_TIME_MS + 1_000, PROPOSER)
        assert all(r.succeeded for r in ledger.apply_block(block))
        assert pool.update(block) == 5
        block = ledger.propose_block(pool.reap(), GENESIS_TIME_MS + 2_000, PROPOSER)
        assert len(block.txs) == 4
        ledger.apply_block(block)
        pool.update(block)
        assert len(pool) == 0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 6)), max_size=30),
       st.integers(1, 10), st.integers(1, 12))
def test_bounds_and_reap_order_hold(
        adds: list[tuple[int, int]], sender_cap: int, capacity: int) -> None:
    state = DictState()
    set_nonce(state, key(2).address, 2)
    pool = make_pool(state, capacity_txs=capacity, sender_txs_max=sender_cap)
    for sender_index, nonce in adds:
        sender = key(sender_index)
        try:
            pool.add(mint(sender, nonce, sender.address, 1))
        except MempoolRejection as error:
            assert error.reason_code in {
                "duplicate", "nonce_too_low", "nonce_taken", "sender_full", "mempool_full"}
        assert len(pool) <= capacity
        assert all(pool.sender_count(key(i).address) <= sender_cap for i in range(1, 5))
    reaped = pool.reap()
    expected_next = {key(i).address: (2 if i == 2 else 0) for i in range(1, 5)}
    for tx in reaped:
        assert tx.tx.nonce == expected_next[tx.tx.sender_address]
        expected_next[tx.tx.sender_address] += 1


def test_a_refused_newcomer_evicts_nothing() -> None:
    alice_txs = [mint(ALICE, nonce, ALICE.address, 1) for nonce in range(3)]
    pool = make_pool(capacity_bytes=sum(len(tx.encode()) for tx in alice_txs))
    for tx in alice_txs:
        pool.add(tx)
    # Fitting this one would take two of Alice's three txs, leaving her no more than Bob.
    bulky = call(BOB, 0, "mint", b"\x00" * (2 * len(alice_txs[0].encode())))

    assert rejection(pool, bulky) == "mempool_full"
    assert all(tx.hash in pool for tx in alice_txs)
    assert pool.sender_count(ALICE.address) == 3
