"""``simulate`` through the SDK against the fake node (fast): the devnet twin is
tests/sdk/test_devnet_sdk.py, which checks the same contract on real nodes.

Checked here: a dry run returns the gas, return data and events that the real
execution then gives; it commits nothing and uses no nonce; an invalid tx is
reported (``valid=False``, reason code), not raised; unsigned dry runs work;
the contract proxy's ``simulate.NAME(...)`` decodes result and events; the
async client agrees with the sync one.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sdk.fake_node import TOKEN_ABI_PATH, FakeNode
from zonechain.sdk import (
    AsyncClient,
    AsyncContract,
    Client,
    Contract,
    Key,
    SimulatedCall,
    Simulation,
    deploy,
)
from zonechain.sdk.transactions import build_call

ALICE = Key.from_seed(b"\x1a" * 32)
BOB = Key.from_seed(b"\x1b" * 32)
ZONE = "pay"


@pytest.fixture
def node() -> Iterator[FakeNode]:
    with FakeNode() as running:
        yield running


@pytest.fixture
def client(node: FakeNode) -> Iterator[Client]:
    with Client(node.endpoint) as made:
        yield made


@pytest.fixture
def token(client: Client, tmp_path: Path) -> Contract:
    (tmp_path / "token.wasm").write_bytes(b"\0asm\x01\0\0\0")
    shutil.copy(TOKEN_ABI_PATH, tmp_path / "token.abi.json")
    deployed = deploy(client, ALICE, tmp_path, "Fake", "FK", 2, zone=ZONE)
    deployed.mint(ALICE.address, 1_000)
    return deployed


def _transfer_tx(client: Client, token: Contract, amount: int) -> bytes:
    method = token.abi.method("transfer")
    return method.encode_args(BOB.address, amount)


def test_simulate_matches_the_real_execution_and_changes_nothing(
        client: Client, token: Contract, node: FakeNode) -> None:
    nonce = client.account_nonce(ALICE.address)
    height = client.status().height
    tx = ALICE.sign(build_call(chain_id=client.chain_id, sender=ALICE, nonce=nonce,
                               contract=token.address, method="transfer",
                               args=_transfer_tx(client, token, 250), zone=ZONE))
    dry = client.simulate(tx)
    assert dry.valid and dry.ok and dry.height == height
    assert client.account_nonce(ALICE.address) == nonce
    assert token.balance_of(BOB.address) == 0
    assert client.status().height == height and node.chain.pending == {}
    real = client.submit_and_wait(tx)
    assert (dry.gas_used, dry.return_data, dry.events) == \
        (real.gas_used, real.return_data, real.events)
    assert dry.receipt is not None and dry.receipt.tx_hash == real.tx_hash
    assert token.balance_of(BOB.address) == 250


def test_invalid_and_failing_dry_runs_are_reported_not_raised(
        client: Client, token: Contract) -> None:
    nonce = client.account_nonce(ALICE.address)
    stale = ALICE.sign(build_call(chain_id=client.chain_id, sender=ALICE, nonce=nonce - 1,
                                  contract=token.address, method="transfer",
                                  args=_transfer_tx(client, token, 1), zone=ZONE))
    invalid = client.simulate(stale)
    assert not invalid.valid and invalid.error_code == "bad_nonce" and invalid.receipt is None
    assert invalid.gas_used == 0 and not invalid.ok
    too_much = build_call(chain_id=client.chain_id, sender=ALICE, nonce=nonce,
                          contract=token.address, method="transfer",
                          args=_transfer_tx(client, token, 10_000), zone=ZONE)
    failed = client.simulate(too_much)  # unsigned: every rule but the signature
    assert failed.valid and not failed.ok
    assert failed.receipt is not None and failed.receipt.error_code == "aborted"
    assert token.balance_of(ALICE.address) == 1_000


def test_contract_proxy_simulate_decodes_result_and_events(
        client: Client, token: Contract) -> None:
    nonce = client.account_nonce(ALICE.address)
    dry = token.simulate.transfer(BOB.address, 40)
    assert dry.ok and dry.result is None  # transfer returns nothing in the ABI
    assert [event.name for event in dry.events] == ["transfer"]
    assert dry.events[0].fields["amount"] == 40
    assert dry.gas_used == token.simulate_call("transfer", BOB.address, 40).gas_used
    assert client.account_nonce(ALICE.address) == nonce
    short = token.simulate.transfer(BOB.address, 5_000)
    assert not short.ok and short.result is None and short.events == ()
    with pytest.raises(AttributeError):
        token.simulate.no_such_method  # noqa: B018


def test_async_client_simulates_like_the_sync_one(
        client: Client, token: Contract, node: FakeNode) -> None:
    tx = build_call(chain_id=client.chain_id, sender=ALICE,
                    nonce=client.account_nonce(ALICE.address), contract=token.address,
                    method="transfer", args=_transfer_tx(client, token, 7), zone=ZONE)

    async def run() -> tuple[Simulation, SimulatedCall]:
        async with AsyncClient(node.endpoint) as aclient:
            proxy = AsyncContract(aclient, token.address, token.abi, key=ALICE, zone=ZONE)
            return await aclient.simulate(tx), await proxy.simulate.transfer(BOB.address, 7)

    direct, through_proxy = asyncio.run(run())
    assert direct == client.simulate(tx)
    assert through_proxy.ok and through_proxy.gas_used == direct.gas_used
    assert through_proxy.events[0].fields["amount"] == 7
