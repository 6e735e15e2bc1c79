"""The executor: validity rules, receipts, failed txs, policy hook, determinism."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node.fixtures.chain import (
    CHAIN_ID,
    GENESIS_TIME_MS,
    TOKEN,
    ZONE,
    amount_args,
    call,
    deploy,
    key,
    mint,
    signed,
    token_code,
    transfer,
)
from zonechain.node.accounts import account_key, account_nonce
from zonechain.node.crypto import VerifiedSignatureCache
from zonechain.node.executor import (
    BAD_NONCE,
    BAD_SIGNATURE,
    BLOCK_GAS_EXCEEDED,
    DUPLICATE_TX,
    EXPIRED,
    GAS_LIMIT_TOO_HIGH,
    GOVERNANCE_UNAVAILABLE,
    WRONG_CHAIN,
    BlockEnvironment,
    Executor,
    InvalidBlock,
    PolicyDenial,
    truncate_utf8,
)
from zonechain.node.state.memory import MemoryNodeStore
from zonechain.node.state.tree import JellyfishMerkleTree
from zonechain.node.types.address import contract_address
from zonechain.node.types.block import Block, BlockHeader, receipts_root, tx_root
from zonechain.node.types.hashing import ZERO_HASH
from zonechain.node.types.receipt import Receipt, ReceiptStatus
from zonechain.node.types.transaction import (
    CallPayload,
    GovernancePayload,
    SignedTransaction,
    Transaction,
)
from zonechain.vm.errors import NodeFault
from zonechain.vm.host.frame import CallContext
from zonechain.vm.runtime import Outcome, VirtualMachine
from zonechain.vm.state import DictState, StateReader

ALICE, BOB, CAROL = key(1), key(2), key(3)
ENV = BlockEnvironment(CHAIN_ID, 1, GENESIS_TIME_MS + 1_000)


def genesis_state(vm: VirtualMachine) -> DictState:
    context = CallContext(bytes(20), bytes(20), TOKEN, ZONE, 0, GENESIS_TIME_MS, bytes(32))
    outcome = vm.deploy(token_code(), b"", context, DictState(), 10_000_000)
    assert outcome.ok
    state = DictState()
    state.apply(outcome.writes)
    return state


@pytest.fixture(scope="module")
def vm() -> VirtualMachine:
    return VirtualMachine()


def make_executor(vm: VirtualMachine, **options: object) -> Executor:
    return Executor(vm, CHAIN_ID, signature_cache=VerifiedSignatureCache(), **options)  # type: ignore[arg-type]


def run(executor: Executor, state: StateReader, txs: list[SignedTransaction],
        env: BlockEnvironment = ENV) -> tuple[tuple[Receipt, ...], dict[bytes, bytes | None], int]:
    return executor.execute_transactions(env, txs, state)


def balance(vm: VirtualMachine, state: StateReader, owner: bytes) -> int:
    context = CallContext(owner, owner, TOKEN, ZONE, 1, GENESIS_TIME_MS, bytes(32))
    outcome = vm.query("balance_of", owner, context, state, 1_000_000)
    assert outcome.ok, outcome.error
    return int.from_bytes(outcome.return_data, "little")


def test_transfers_succeed_and_consume_nonces(vm: VirtualMachine) -> None:
    state = genesis_state(vm)
    txs = [mint(ALICE, 0, ALICE.address, 1_000), transfer(ALICE, 1, BOB.address, 300),
           transfer(BOB, 0, CAROL.address, 100)]
    receipts, writes, gas_used = make_executor(vm).execute_transactions(ENV, txs, state)
    assert [r.status for r in receipts] == [ReceiptStatus.SUCCESS] * 3
    assert [r.tx_hash for r in receipts] == [tx.hash for tx in txs]
    assert gas_used == sum(r.gas_used for r in receipts) > 0
    assert list(writes) == sorted(writes)
    assert receipts[1].events[0].topic == b"transfer"
    state.apply(writes)
    assert account_nonce(state, ALICE.address) == 2
    assert account_nonce(state, BOB.address) == 1
    assert account_nonce(state, CAROL.address) == 0
    assert [balance(vm, state, k.address) for k in (ALICE, BOB, CAROL)] == [700, 200, 100]


@pytest.mark.parametrize("method", ["spin", "write_then_abort"])
def test_failed_tx_consumes_nonce_and_gas_and_leaves_no_writes(
        vm: VirtualMachine, method: str) -> None:
    state = genesis_state(vm)
    tx = call(ALICE, 0, method, gas=300_000)
    receipts, writes, gas_used = make_executor(vm).execute_transactions(ENV, [tx], state)
    receipt = receipts[0]
    assert receipt.status is ReceiptStatus.CONTRACT_ERROR
    assert receipt.error_code == ("out_of_gas" if method == "spin" else "aborted")
    assert receipt.gas_used > 0 and gas_used == receipt.gas_used
    if method == "spin":
        assert receipt.gas_used == 300_000
    assert list(writes) == [account_key(ALICE.address)]  # only the nonce
    state.apply(writes)
    assert account_nonce(state, ALICE.address) == 1
    assert balance(vm, state, ALICE.address) == 0


def test_failed_tx_in_the_middle_keeps_neighbours(vm: VirtualMachine) -> None:
    state = genesis_state(vm)
    txs = [mint(ALICE, 0, ALICE.address, 50), transfer(ALICE, 1, BOB.address, 51),
           transfer(ALICE, 2, BOB.address, 50)]
    receipts, writes, _ = make_executor(vm).execute_transactions(ENV, txs, state)
    assert [r.status for r in receipts] == [
        ReceiptStatus.SUCCESS, ReceiptStatus.CONTRACT_ERROR, ReceiptStatus.SUCCESS]
    assert receipts[1].error_message == "insufficient balance"
    state.apply(writes)
    assert balance(vm, state, BOB.address) == 50
    assert account_nonce(state, ALICE.address) == 3


def _tampered(tx: SignedTransaction) -> SignedTransaction:
    return SignedTransaction(tx.tx, bytes([tx.signature[0] ^ 1]) + tx.signature[1:])


@pytest.mark.parametrize(("build", "code", "index"), [
    (lambda: [mint(ALICE, 0, ALICE.address, 1), _tampered(mint(ALICE, 1, ALICE.address, 1))],
     BAD_SIGNATURE, 1),
    (lambda: [mint(ALICE, 0, ALICE.address, 1, chain_id="other-chain")], WRONG_CHAIN, 0),
    (lambda: [mint(ALICE, 1, ALICE.address, 1)], BAD_NONCE, 0),
    (lambda: [mint(ALICE, 0, ALICE.address, 1), mint(ALICE, 0, BOB.address, 1)], BAD_NONCE, 1),
    (lambda: [mint(BOB, 0, BOB.address, 1), mint(ALICE, 0, ALICE.address, 1, expiry_height=0)],
     EXPIRED, 1),
    (lambda: [mint(ALICE, 0, ALICE.address, 1, gas=10**12)], GAS_LIMIT_TOO_HIGH, 0),
    (lambda: [mint(ALICE, 0, ALICE.address, 1)] * 2, DUPLICATE_TX, 1),
])
def test_invalid_tx_makes_the_block_invalid(
        vm: VirtualMachine, build: object, code: str, index: int) -> None:
    state = genesis_state(vm)
    before = dict(state.items)
    with pytest.raises(InvalidBlock) as caught:
        make_executor(vm).execute_transactions(ENV, build(), state)  # type: ignore[operator]
    assert caught.value.code == code
    assert caught.value.tx_index == index
    assert f"tx #{index}" in str(caught.value)
    assert state.items == before


def test_expiry_height_is_inclusive(vm: VirtualMachine) -> None:
    state = genesis_state(vm)
    tx = mint(ALICE, 0, ALICE.address, 1, expiry_height=ENV.height)
    receipts, _, _ = make_executor(vm).execute_transactions(ENV, [tx], state)
    assert receipts[0].succeeded


def test_cumulative_block_gas_limit(vm: VirtualMachine) -> None:
    executor = make_executor(vm, block_gas_max=3_000_000)
    txs = [mint(ALICE, 0, ALICE.address, 1, gas=2_000_000),
           mint(ALICE, 1, ALICE.address, 1, gas=1_000_000)]
    run(executor, genesis_state(vm), txs)
    with pytest.raises(InvalidBlock) as caught:
        run(executor, genesis_state(vm), [*txs, mint(ALICE, 2, ALICE.address, 1, gas=1)])
    assert (caught.value.code, caught.value.tx_index) == (BLOCK_GAS_EXCEEDED, 2)


def test_zone_policy_denial_is_a_rejected_receipt(vm: VirtualMachine) -> None:
    def deny_bob(tx: Transaction, sender: bytes, state: StateReader) -> PolicyDenial | None:
        return PolicyDenial("not_member", "bob is not in the zone") if sender == BOB.address \
            else None

    state = genesis_state(vm)
    txs = [mint(BOB, 0, BOB.address, 5), mint(ALICE, 0, ALICE.address, 5)]
    receipts, writes, _ = make_executor(vm, zone_policy=deny_bob).execute_transactions(
        ENV, txs, state)
    assert receipts[0].status is ReceiptStatus.REJECTED
    assert (receipts[0].error_code, receipts[0].gas_used) == ("not_member", 0)
    assert receipts[1].succeeded
    state.apply(writes)
    assert account_nonce(state, BOB.address) == 1
    assert balance(vm, state, BOB.address) == 0


def test_governance_without_a_module_is_rejected(vm: VirtualMachine) -> None:
    tx = signed(ALICE, 0, GovernancePayload(b"add member"))
    receipts, _, _ = make_executor(vm).execute_transactions(ENV, [tx], genesis_state(vm))
    assert receipts[0].status is ReceiptStatus.REJECTED
    assert receipts[0].error_code == GOVERNANCE_UNAVAILABLE


def test_deploy_creates_the_contract_at_the_derived_address(vm: VirtualMachine) -> None:
    state = genesis_state(vm)
    executor = make_executor(vm)
    receipts, writes, _ = run(executor, state, [mint(ALICE, 0, ALICE.address, 1), deploy(ALICE, 1)])
    created = contract_address(ALICE.address, 1)
    assert receipts[1].created_contract == created
    state.apply(writes)
    tx = signed(ALICE, 2, CallPayload(created, "mint", amount_args(BOB.address, 9)))
    receipts, _, _ = run(executor, state, [tx], replace(ENV, height=2))
    assert receipts[0].succeeded


def test_node_fault_is_never_swallowed(vm: VirtualMachine) -> None:
    class BrokenState(DictState):
        def get(self, key: bytes) -> bytes | None:
            if key.startswith(b"s"):
                raise NodeFault("disk on fire")
            return super().get(key)

    state = BrokenState(genesis_state(vm).items)
    with pytest.raises(NodeFault):
        run(make_executor(vm), state, [mint(ALICE, 0, ALICE.address, 1)])


def test_execute_block_gives_the_tree_root(vm: VirtualMachine) -> None:
    state = genesis_state(vm)
    nodes = MemoryNodeStore()
    tree = JellyfishMerkleTree(nodes)
    nodes.apply(tree.put_batch(0, None, state.items))
    executor = make_executor(vm)
    txs = [mint(ALICE, 0, ALICE.address, 7)]
    _, writes, _ = run(executor, state, txs)
    update = executor.update_tree(tree, 1, writes)
    result = executor.execute_block(
        ledger_free_block(txs), state, JellyfishMerkleTree(nodes))
    assert result.state_root == update.root_hash
    assert result.receipts_root == receipts_root(result.receipts)
    assert result.encoded_receipts == tuple(r.encode() for r in result.receipts)
    expected = dict(state.items)
    expected.update({k: v for k, v in writes.items() if v is not None})
    fresh = JellyfishMerkleTree(MemoryNodeStore())
    assert update.root_hash == fresh.put_batch(0, None, expected).root_hash


def ledger_free_block(txs: list[SignedTransaction]) -> Block:
    header = BlockHeader(CHAIN_ID, ENV.height, ENV.time_ms, ZERO_HASH, tx_root(txs), ZERO_HASH,
                         ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, bytes(20))
    return Block(header, tuple(txs), None)


def test_receipts_are_identical_across_vms() -> None:
    txs = [mint(ALICE, 0, ALICE.address, 10), transfer(ALICE, 1, BOB.address, 11),
           call(BOB, 0, "spin", gas=50_000), call(CAROL, 0, "write_then_abort")]
    results = []
    for _ in range(2):
        vm = VirtualMachine()
        receipts, writes, gas = run(make_executor(vm), genesis_state(vm), txs)
        results.append(([r.encode() for r in receipts], writes, gas))
    assert results[0] == results[1]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40), st.integers(min_value=0, max_value=60))
def test_truncate_utf8_keeps_a_valid_prefix(text: str, limit: int) -> None:
    cut = truncate_utf8(text, limit)
    assert len(cut.encode()) <= limit
    assert text.startswith(cut)
    if len(text.encode()) <= limit:
        assert cut == text


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 120)),
                min_size=1, max_size=12))
def test_transfers_match_a_balance_model(vm: VirtualMachine, moves: list[tuple[int, int, int]],
                                         ) -> None:
    keys = [ALICE, BOB, CAROL]
    state = genesis_state(vm)
    txs = [mint(k, 0, k.address, 100) for k in keys]
    nonces = [1, 1, 1]
    model = [100, 100, 100]
    expected_ok = [True, True, True]
    for source, target, amount in moves:
        txs.append(transfer(keys[source], nonces[source], keys[target].address, amount))
        nonces[source] += 1
        ok = model[source] >= amount
        expected_ok.append(ok)
        if ok:
            model[source] -= amount
            model[target] += amount
    receipts, writes, _ = run(make_executor(vm), state, txs)
    assert [r.succeeded for r in receipts] == expected_ok
    state.apply(writes)
    assert [balance(vm, state, k.address) for k in keys] == model
    assert [account_nonce(state, k.address) for k in keys] == nonces


def test_refused_code_is_a_contract_error_that_consumes_the_nonce(vm: VirtualMachine) -> None:
    state = genesis_state(vm)
    receipts, writes, _ = run(make_executor(vm), state, [deploy(ALICE, 0, b"\0asm\x01garbage")])
    assert receipts[0].status is ReceiptStatus.CONTRACT_ERROR
    assert receipts[0].error_code and receipts[0].gas_used > 0
    assert receipts[0].created_contract is None
    assert list(writes) == [account_key(ALICE.address)]


def test_governance_hook_writes_apply_on_success(vm: VirtualMachine) -> None:
    def hook(tx: SignedTransaction, sender: bytes, state: StateReader,
             env: BlockEnvironment) -> Outcome:
        return Outcome(ok=True, gas_used=0, return_data=b"\x07", events=(), error=None,
                       writes={b"g/member": sender})

    tx = signed(ALICE, 0, GovernancePayload(b"add member"))
    receipts, writes, _ = run(make_executor(vm, governance=hook), genesis_state(vm), [tx])
    assert receipts[0].succeeded and receipts[0].return_data == b"\x07"
    assert writes[b"g/member"] == ALICE.address


def test_transactions_run_over_committed_state_not_an_overlay(vm: VirtualMachine) -> None:
    from zonechain.vm.overlay import Overlay

    state = genesis_state(vm)
    with pytest.raises(TypeError, match="committed state"):
        run(make_executor(vm), Overlay(state), [mint(ALICE, 0, ALICE.address, 1)])
