"""AsyncClient mirrors Client: the same scenarios, run with asyncio.run against the fake node."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.sdk.fake_node import CHAIN_ID, TOKEN_ABI_PATH, FakeNode
from tests.sdk.test_client import ALICE, BOB, NO_BACKOFF, _amount, _init_args, closed_endpoint
from zonechain.node.accounts import account_key
from zonechain.sdk import (
    AbiArgumentError,
    AsyncClient,
    ConnectionFailed,
    ContractError,
    InvalidRequest,
    MempoolRejected,
    RetryPolicy,
    Timeout,
    Verifier,
    ZonechainError,
    build_deploy,
    deploy_async,
)


@pytest.fixture
def node() -> Iterator[FakeNode]:
    with FakeNode() as running:
        yield running


def test_status_and_failover(node: FakeNode) -> None:
    async def scenario() -> str:
        async with AsyncClient([closed_endpoint(), node.endpoint], retry=NO_BACKOFF) as client:
            return (await client.status()).chain_id

    assert asyncio.run(scenario()) == CHAIN_ID
    assert node.calls("Status") == 1


def test_timeout(node: FakeNode) -> None:
    node.stall("Status")

    async def scenario() -> None:
        async with AsyncClient(node.endpoint, retry=RetryPolicy(attempts=1),
                               timeout_s=0.2) as client:
            await client.status()

    with pytest.raises(Timeout):
        asyncio.run(scenario())


def test_transient_retry_then_success_and_no_retry_otherwise(node: FakeNode) -> None:
    node.fail("Status", grpc.StatusCode.UNAVAILABLE, times=2)

    async def scenario() -> None:
        async with AsyncClient(node.endpoint, retry=NO_BACKOFF) as client:
            assert (await client.status()).chain_id == CHAIN_ID
            assert node.calls("Status") == 3
            node.fail("Status", grpc.StatusCode.INVALID_ARGUMENT)
            with pytest.raises(InvalidRequest):
                await client.status()
            assert node.calls("Status") == 4

    asyncio.run(scenario())


def test_all_down_and_no_raw_rpc_error() -> None:
    async def scenario() -> None:
        async with AsyncClient([closed_endpoint()], retry=NO_BACKOFF, timeout_s=2) as client:
            await client.get_receipt(b"\x01" * 32)

    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(scenario())
    assert isinstance(caught.value, ZonechainError)
    assert not isinstance(caught.value, grpc.RpcError)


def test_submit_and_wait_mempool_rejection_and_contract_error(node: FakeNode) -> None:
    async def scenario() -> None:
        async with AsyncClient(node.endpoint, retry=NO_BACKOFF) as client:
            tx = build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=0, code=b"\0asm",
                              init_args=_init_args(), zone="pay")
            receipt = await client.submit_and_wait(ALICE.sign(tx), timeout_s=5)
            assert receipt.succeeded and receipt.created_contract is not None
            token = receipt.created_contract
            with pytest.raises(MempoolRejected) as rejected:
                await client.submit(ALICE.sign(tx))
            assert rejected.value.reason_code in {"duplicate", "nonce_too_low"}
            with pytest.raises(ContractError) as failed:
                await client.call_contract(ALICE, token, "transfer",
                                           BOB.address + _amount(1), zone="pay")
            assert (failed.value.code, failed.value.message) == ("aborted",
                                                                 "insufficient balance")

    asyncio.run(scenario())


def test_concurrent_nonces(node: FakeNode) -> None:
    async def scenario() -> None:
        async with AsyncClient(node.endpoint, retry=NO_BACKOFF) as client:
            token = (await client.deploy(ALICE, b"\0asm", _init_args(),
                                         zone="pay")).created_contract
            assert token is not None
            await asyncio.gather(*(
                client.call_contract(ALICE, token, "mint", BOB.address + _amount(n + 1),
                                     zone="pay")
                for n in range(20)))
            assert await client.account_nonce(ALICE.address) == 21
            result = await client.query(token, "balance_of", BOB.address)
            assert result.return_data == _amount(sum(range(1, 21)))

    asyncio.run(scenario())


def test_contract_proxy_verified_read_and_streams(node: FakeNode, tmp_path: Path) -> None:
    (tmp_path / "token.wasm").write_bytes(b"\0asm")
    shutil.copy(TOKEN_ABI_PATH, tmp_path / "token.abi.json")
    verifier = Verifier.from_public_keys(
        CHAIN_ID, [(key.public_key, 1) for key in node.chain.validator_keys])

    async def scenario() -> None:
        async with AsyncClient(node.endpoint, verifier=verifier) as client:
            token = await deploy_async(client, ALICE, tmp_path, "Fake", "FK", 2, zone="pay")
            outcome = await token.mint(BOB.address, 9)
            assert [event.name for event in outcome.events] == ["mint"]
            assert await token.balance_of(BOB.address) == 9
            with pytest.raises(AbiArgumentError):
                await token.mint(BOB.address, -9)
            value = await client.read_state(account_key(ALICE.address), verify=True)
            assert value.verified
            topics = [record.event.topic async for record in client.stream_events(1)]
            assert topics == [b"mint"]
            heights = [info.block.height async for info in client.stream_blocks(2)]
            assert heights == [2]
            block = await client.get_block()
            assert block is not None and block.block.height == 2
            info = await client.get_transaction(outcome.receipt.tx_hash)
            assert info is not None and info.height == 2

    asyncio.run(scenario())


def test_submit_many(node: FakeNode) -> None:
    txs = [ALICE.sign(build_deploy(chain_id=CHAIN_ID, sender=ALICE, nonce=n, code=b"\0asm",
                                   init_args=_init_args(), zone="z")) for n in range(3)]

    async def scenario() -> list[bool]:
        async with AsyncClient(node.endpoint) as client:
            return [result.accepted for result in await client.submit_many([*txs, txs[1]])]

    assert asyncio.run(scenario()) == [True, True, True, False]


def test_stream_errors_are_translated(node: FakeNode) -> None:
    node.fail("StreamEvents", grpc.StatusCode.UNAVAILABLE)

    async def scenario() -> None:
        async with AsyncClient(node.endpoint) as client:
            async for _ in client.stream_events(1):
                pass

    with pytest.raises(ConnectionFailed):
        asyncio.run(scenario())
