"""Reads at past heights through Client and AsyncClient, against the fake node's model
of the node (tests/sdk/fake_node.py): view calls and verified state reads at any
committed height give that height's values; a height above the node's is InvalidRequest."""

from __future__ import annotations

import asyncio

import pytest

from tests.sdk.fake_node import FakeNode
from tests.sdk.test_client import ALICE, BOB, NO_BACKOFF, _amount, deploy_token, verifier_for
from zonechain.node.accounts import account_key
from zonechain.sdk import AsyncClient, Client, InvalidRequest

MINTS = (3, 4, 5)


def balance(data: bytes) -> int:
    return int.from_bytes(data, "little")


def test_client_reads_any_past_height() -> None:
    with FakeNode() as node, Client([node.endpoint], retry=NO_BACKOFF,
                                    verifier=verifier_for(node.chain)) as client:
        token = deploy_token(client)
        heights = []
        for amount in MINTS:
            receipt = client.call_contract(ALICE, token, "mint", BOB.address + _amount(amount),
                                           zone="pay")
            located = client.get_transaction(receipt.tx_hash)
            assert located is not None and located.height is not None
            heights.append(located.height)
        deploy_token(client)  # one more block: the last mint becomes provable
        for index, height in enumerate(heights):
            result = client.query(token, "balance_of", BOB.address, height=height)
            assert result.height == height
            assert balance(result.return_data) == sum(MINTS[:index + 1])
            value = client.read_state(account_key(ALICE.address), height=height, verify=True)
            assert value.verified and value.height == height
        before = client.query(token, "balance_of", BOB.address, height=heights[0] - 1)
        assert balance(before.return_data) == 0
        latest = client.status().height
        with pytest.raises(InvalidRequest, match="serves heights 1"):
            client.query(token, "balance_of", BOB.address, height=latest + 1)
        with pytest.raises(InvalidRequest, match="serves heights 1"):
            client.read_state(account_key(ALICE.address), height=latest, verify=True)


def test_async_client_reads_the_same_past_heights() -> None:
    with FakeNode() as node:
        with Client([node.endpoint], retry=NO_BACKOFF) as client:
            token = deploy_token(client)
            first = client.call_contract(ALICE, token, "mint", BOB.address + _amount(7),
                                         zone="pay")
            located = client.get_transaction(first.tx_hash)
            assert located is not None and located.height is not None
            client.call_contract(ALICE, token, "mint", BOB.address + _amount(1), zone="pay")
            expected = [client.query(token, "balance_of", BOB.address, height=height)
                        for height in range(1, located.height + 2)]

        async def scenario() -> list[bytes]:
            async with AsyncClient(node.endpoint, retry=NO_BACKOFF,
                                   verifier=verifier_for(node.chain)) as aclient:
                answers = [(await aclient.query(token, "balance_of", BOB.address,
                                                height=height)).return_data
                           for height in range(1, located.height + 2)]
                value = await aclient.read_state(account_key(ALICE.address),
                                                 height=located.height, verify=True)
                assert value.verified and value.height == located.height
                return answers

        answers = asyncio.run(scenario())
    assert answers == [result.return_data for result in expected]
    assert [balance(data) for data in answers][-2:] == [7, 8]
