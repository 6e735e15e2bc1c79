"""A running node answers view calls and verified state reads at every past height,
before and after a restart (the value history is on disk: nothing in memory is needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.test_node_support import (
    running_node,
    token_artifact,
    wait_until,
    write_single_validator_network,
)
from zonechain.node.accounts import AccountRecord, account_key
from zonechain.node.config import load_genesis
from zonechain.sdk import Client, Key
from zonechain.sdk.contract import Contract, init_arguments
from zonechain.sdk.errors import InvalidRequest
from zonechain.sdk.verify import Verifier

ZONE = "payments"
DEPLOY_GAS = 50_000_000
MINTS = (100, 200, 300)

Answers = list[tuple[int, int, int | None, bool]]
"""Per height: (height, alice's balance, alice's nonce record or None, verified)."""


def read_every_height(client: Client, token: Contract, alice: Key, heights: range) -> Answers:
    method = token.abi.method("balance_of")
    answers: Answers = []
    for height in heights:
        result = client.query(token.address, "balance_of", method.encode_args(alice.address),
                              height=height)
        assert result.height == height
        record = client.read_state(account_key(alice.address), height=height, verify=True)
        assert record.height == height
        nonce = None if record.value is None else AccountRecord.decode(record.value).nonce
        answers.append((height, method.decode_result(result.return_data), nonce,
                        record.verified))
    return answers


def test_a_node_serves_every_past_height_also_after_a_restart(tmp_path: Path) -> None:
    home = write_single_validator_network(tmp_path / "net")
    genesis = load_genesis(home / "genesis.json")
    verifier = Verifier.from_public_keys(
        genesis.chain_id, [(v.public_key, v.power) for v in genesis.validators])
    alice = Key.from_seed(b"\x0a" * 32)
    with running_node(home) as (node, _):
        endpoint = f"127.0.0.1:{node.client_port}"
        with Client([endpoint], timeout_s=10, verifier=verifier) as client:
            artifact = token_artifact()
            receipt = client.deploy(
                alice, artifact.code, init_arguments(artifact.abi, ("Token", "TOK", 2), {}),
                zone=ZONE, gas_limit=DEPLOY_GAS)
            assert receipt.created_contract is not None
            token = Contract(client, receipt.created_contract, artifact.abi, key=alice,
                             zone=ZONE)
            heights = []
            for amount in MINTS:
                minted = token.mint(alice.address, amount).receipt
                located = client.get_transaction(minted.tx_hash)
                assert located is not None and located.height is not None
                heights.append(located.height)
            # Every mint's height must be provable: header H + 1 must be committed.
            wait_until(lambda: client.status().height > heights[-1], what="one more block")
            span = range(heights[0] - 1, heights[-1] + 1)
            before = read_every_height(client, token, alice, span)
    by_height = {height: (balance, nonce) for height, balance, nonce, _ in before}
    assert by_height[heights[0] - 1][0] == 0  # before the first mint
    for index, height in enumerate(heights):
        assert by_height[height][0] == sum(MINTS[:index + 1])
        assert by_height[height][1] == 2 + index  # deploy, then one nonce per mint
    assert all(verified for *_, verified in before)
    with running_node(home) as (node, _):
        endpoint = f"127.0.0.1:{node.client_port}"
        with Client([endpoint], timeout_s=10, verifier=verifier) as client:
            assert client.status().height >= heights[-1] + 1
            assert read_every_height(client, token_at(client, token), alice, span) == before
            latest = client.status().height
            with pytest.raises(InvalidRequest, match="this node serves heights 1"):
                client.read_state(account_key(alice.address), height=latest + 5)
            with pytest.raises(InvalidRequest, match="this node serves heights 1"):
                client.query(token.address, "name", height=latest + 5)


def token_at(client: Client, token: Contract) -> Contract:
    return Contract(client, token.address, token.abi, zone=ZONE)
