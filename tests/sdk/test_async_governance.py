"""AsyncClient governance and verified reads, with asyncio.run.

- Governance round trip over the fake node (tests/sdk/fake_node.py), whose
  chain here executes governance transactions with the node's own
  ``governance.apply`` over a pilot genesis state: propose, approvals up to
  execution, the proposal records read back, a refusal.
- Verified reads: a plain one over the fake node, and one across two governed
  validator-set changes over the in-memory chain of tests/sdk/test_verify_trust.py
  served as coroutines (the trust-chain walk runs in a worker thread whose
  fetches run on the event loop).
- Slow (a multi-process pilot devnet, the setup of tests/sdk/test_verify_devnet.py):
  governance votes through AsyncClient add a validator and remove one, then
  an async verified read follows both changes from the genesis set.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from tests.node.test_governance_devnet import (
    APPROVERS,
    FULL_NODES,
    NEW_VALIDATOR,
    OWNER,
    POWER,
    PROPOSER,
    REMOVED_VALIDATOR,
    VALIDATORS,
    WAIT_S,
    Pilot,
    _genesis_validators,
    give_validator_key,
)
from tests.sdk.fake_node import FakeChain, FakeNode
from tests.sdk.test_governance import ADMINS, pilot_state
from tests.sdk.test_verify_trust import CHAIN_ID as TRUST_CHAIN_ID
from tests.sdk.test_verify_trust import DATA_KEY, GENESIS, SET_B, SET_C, Chain
from zonechain.node.accounts import AccountRecord, account_key
from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.node.node_cli import DEVNET_TIMEOUTS, Devnet, find_base_port
from zonechain.node.permissions.actions import VALIDATOR_CHANGE_DELAY
from zonechain.node.permissions.genesis import load_template, template_account_names
from zonechain.node.permissions.governance import apply
from zonechain.node.permissions.store import load_member
from zonechain.node.types import Event, Receipt, ReceiptStatus, SignedTransaction
from zonechain.node.types.transaction import GovernancePayload
from zonechain.sdk import AsyncClient, Key, TransactionFailed, VerificationFailed, governance
from zonechain.sdk.responses import BlockInfo, StateValue
from zonechain.sdk.trust import ThreadedSource, consensus_set
from zonechain.sdk.verify import Verifier
from zonechain.vm.encoding import Writer
from zonechain.vm.state import DictState

KEYS = {name: Key.from_seed(bytes([index + 1]) * 32)
        for index, name in enumerate(template_account_names(load_template()))}


class GovernedChain(FakeChain):
    """The fake chain, plus governance transactions executed by the node's own rules."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.state = dict(pilot_state(KEYS).items)
        self.states = [dict(self.state)]

    def execute(self, signed: SignedTransaction) -> Receipt:
        payload = signed.tx.payload
        if not isinstance(payload, GovernancePayload):
            return super().execute(signed)
        sender = signed.tx.sender_address
        self.state[account_key(sender)] = AccountRecord(signed.tx.nonce + 1).encode()
        state = DictState(self.state)
        outcome = apply(state, sender, payload.body, self.height() + 1)
        if outcome.error is not None:
            return Receipt(signed.hash, ReceiptStatus.REJECTED, 0,
                           error_code=outcome.error.code, error_message=str(outcome.error))
        state.apply(dict(outcome.writes))
        self.state = state.items
        events = tuple(Event(e.contract, e.topic, e.data) for e in outcome.events)  # as
        # node/executor.py turns VM events into receipt events
        return Receipt(signed.hash, ReceiptStatus.SUCCESS, 0,
                       bytes(Writer().u64(outcome.proposal_id or 0)), events)


@pytest.fixture
def governed() -> Iterator[FakeNode]:
    with FakeNode(GovernedChain()) as running:
        yield running


def test_async_governance_round_trip(governed: FakeNode) -> None:
    newcomer = Key.generate()
    action = governance.add_member(newcomer.address, "bank-b", ["client"])

    async def scenario() -> None:
        async with AsyncClient(governed.endpoint) as client:
            proposed = await client.propose(KEYS[ADMINS[0]], action, lifetime_blocks=100)
            assert proposed.proposal_id == 1 and not proposed.executed
            results = [await client.approve(KEYS[admin], 1) for admin in ADMINS[1:]]
            assert [r.executed for r in results] == [False] * (len(ADMINS) - 2) + [True]
            view = await client.proposal(1)
            assert view is not None and view.status == "executed"
            assert len(view.proposal.approvals) == len(ADMINS)
            assert [v.id for v in await client.proposals()] == [1]
            assert await client.proposal(2) is None
            with pytest.raises(TransactionFailed) as refused:
                await client.propose(newcomer, action, expiry_height=1_000)
            assert refused.value.receipt.error_code

    asyncio.run(scenario())
    member = load_member(DictState(governed.chain.state), newcomer.address)
    assert member is not None and member.organisation == "bank-b"


def test_async_verified_read_over_the_fake_node(governed: FakeNode) -> None:
    chain = governed.chain
    verifier = Verifier(chain.chain_id, chain.validators)
    admin = KEYS[ADMINS[0]]
    key = account_key(admin.address)

    async def scenario() -> StateValue:
        async with AsyncClient(governed.endpoint, verifier=verifier) as client:
            await client.propose(admin, governance.remove_member(KEYS[ADMINS[1]].address))
            await client.propose(admin, governance.remove_member(KEYS[ADMINS[2]].address))
            return await client.read_state(key, verify=True)

    value = asyncio.run(scenario())
    # proven state is the one after the latest block but one (header H+1 proves H)
    assert value.verified and value.height == chain.height() - 1 == 1
    assert AccountRecord.decode(value.value or b"").nonce == 1


def test_async_verified_read_refuses_a_set_it_cannot_follow(governed: FakeNode) -> None:
    stranger = Verifier(governed.chain.chain_id, consensus_set(SET_C))  # k2..k5, not k1..k4

    async def scenario() -> None:
        async with AsyncClient(governed.endpoint, verifier=stranger) as client:
            await client.propose(KEYS[ADMINS[0]], governance.remove_member(
                KEYS[ADMINS[1]].address))
            await client.read_state(account_key(KEYS[ADMINS[0]].address), verify=True)

    with pytest.raises(VerificationFailed, match="set hash mismatch"):
        asyncio.run(scenario())


class AsyncChain:
    """``Chain`` of test_verify_trust.py served as coroutines, recording the fetch threads."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.threads: set[int] = set()

    async def read_state(self, key: bytes, *, height: int | None = None,
                         prove: bool = False) -> StateValue:
        self.threads.add(threading.get_ident())
        return self.chain.read_state(key, height=height, prove=prove)

    async def get_block(self, height: int | None = None) -> BlockInfo | None:
        self.threads.add(threading.get_ident())
        await asyncio.sleep(0)  # a real fetch yields to the loop
        return self.chain.get_block(height)

    async def get_receipt(self, tx_hash: bytes) -> Receipt | None:
        self.threads.add(threading.get_ident())
        return self.chain.get_receipt(tx_hash)


def test_async_verified_read_follows_two_set_changes_without_blocking_the_loop() -> None:
    chain = Chain()
    source = AsyncChain(chain)
    verifier = Verifier(TRUST_CHAIN_ID, consensus_set(GENESIS))
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async def scenario() -> tuple[StateValue, int]:
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        value = await verifier.verify_state_async(
            chain.read_state(DATA_KEY, height=11, prove=True), source)
        stop.set()
        await ticking
        return value, threading.get_ident()

    value, loop_thread = asyncio.run(scenario())
    assert value.verified and value.value == (11).to_bytes(8, "big")
    assert [(h, s.hash) for h, s in verifier.trust.changes] == [
        (1, consensus_set(GENESIS).hash), (5, consensus_set(SET_B).hash),
        (9, consensus_set(SET_C).hash)]
    assert source.threads == {loop_thread}  # every fetch ran on the event loop
    assert ticks > 0  # the loop kept running other tasks during the walk


def test_an_async_verified_read_refuses_a_lying_node() -> None:
    chain = Chain()
    chain.receipts[next(iter(chain.receipts))] = Receipt(
        next(iter(chain.receipts)), ReceiptStatus.SUCCESS, 0)  # the governance events dropped

    async def scenario() -> None:
        await Verifier(TRUST_CHAIN_ID, consensus_set(GENESIS)).verify_state_async(
            chain.read_state(DATA_KEY, height=11, prove=True), AsyncChain(chain))

    with pytest.raises(VerificationFailed):
        asyncio.run(scenario())


def test_a_threaded_source_refuses_the_loop_thread() -> None:
    async def scenario() -> None:
        ThreadedSource(AsyncChain(Chain()), asyncio.get_running_loop()).get_block(1)

    with pytest.raises(RuntimeError, match="worker thread"):
        asyncio.run(scenario())


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pilot]:
    nodes = VALIDATORS + FULL_NODES
    devnet = Devnet(tmp_path_factory.mktemp("async-verify") / "net", VALIDATORS,
                    full_nodes=FULL_NODES, permissions="pilot", reset=True,
                    timeouts=DEVNET_TIMEOUTS, base_port=find_base_port(nodes))
    devnet.prepare()
    devnet.reset = False  # start() prepares again: keep the key given below
    key = give_validator_key(devnet, NEW_VALIDATOR)
    with devnet:
        yield Pilot(devnet, key)


async def async_vote(pilot: Pilot, client: AsyncClient,
                     action: governance.Action) -> tuple[governance.GovernanceResult, int]:
    """Propose and approve ``action`` to execution; the result and its block height."""
    result = await client.propose(pilot.account(PROPOSER), action, timeout_s=WAIT_S)
    for approver in APPROVERS:
        result = await client.approve(pilot.account(approver), result.proposal_id,
                                      timeout_s=WAIT_S)
    info = await client.get_transaction(result.receipt.tx_hash)
    assert info is not None and not info.pending
    return result, info.height


@pytest.mark.slow
def test_async_votes_then_an_async_verified_read_follows_both_changes(pilot: Pilot) -> None:
    devnet = pilot.devnet
    genesis = _genesis_validators(devnet)
    removed = genesis[REMOVED_VALIDATOR]
    new_key = pilot.new_validator
    endpoints = devnet.client_endpoints[:VALIDATORS]

    async def vote() -> tuple[str, int, int]:
        async with AsyncClient(endpoints, timeout_s=10) as client:
            added, added_in = await async_vote(pilot, client, governance.add_validator(
                new_key.public_key, POWER, OWNER))
            dropped, dropped_in = await async_vote(
                pilot, client, governance.remove_validator(removed.address))
            assert added.executed and dropped.executed
            return await client.chain_id(), added_in, dropped_in

    chain_id, added_in, dropped_in = asyncio.run(vote())
    added_from = added_in + VALIDATOR_CHANGE_DELAY
    removed_from = dropped_in + VALIDATOR_CHANGE_DELAY
    devnet.wait_for_height(removed_from + 2, WAIT_S)

    with_new = [*genesis, Validator(new_key.public_key, POWER)]
    final = ValidatorSet(v for v in with_new if v.address != removed.address)
    verifier = Verifier(chain_id, ValidatorSet(genesis))
    key = account_key(pilot.account(PROPOSER).address)

    async def read() -> StateValue:
        async with AsyncClient(endpoints, timeout_s=10, verifier=verifier) as client:
            return await client.read_state(key, verify=True)

    value = asyncio.run(read())
    assert value.verified and value.header is not None
    assert value.header.height >= removed_from
    assert value.header.validator_set_hash == final.hash
    assert AccountRecord.decode(value.value or b"").nonce >= 2  # the two proposals
    assert [(height, s.hash) for height, s in verifier.trust.changes] == [
        (1, ValidatorSet(genesis).hash), (added_from, ValidatorSet(with_new).hash),
        (removed_from, final.hash)]
