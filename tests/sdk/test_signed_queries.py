"""The SDK signs queries with a reader key (node/query_auth.py), checked by the fake node.

Client(key=), query(key=), read_state(reader=), Contract proxies, AsyncClient and
`zonechain query --key`: the fake node verifies each signature as the node
does and records the reader's address (``FakeServicer.readers``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sdk.fake_node import CHAIN_ID, TOKEN_ABI_PATH, FakeNode
from zonechain.node.accounts import account_key
from zonechain.node.cli import main
from zonechain.node.query_auth import sign_query
from zonechain.proto import services_pb2
from zonechain.sdk import AsyncClient, Client, Contract, Key, Unauthorized, deploy
from zonechain.sdk.keys import SCRYPT_N_MIN, save_key

ALICE = Key.from_seed(b"\x0a" * 32)
READER = Key.from_seed(b"\x0c" * 32)
OTHER = Key.from_seed(b"\x0d" * 32)
PASSPHRASE_ENV = "ZONECHAIN_TEST_PASSPHRASE"
SCRYPT_N_TEST = SCRYPT_N_MIN


@pytest.fixture
def node() -> Iterator[FakeNode]:
    with FakeNode() as running:
        yield running


@pytest.fixture
def token(node: FakeNode, tmp_path: Path) -> Contract:
    (tmp_path / "token.wasm").write_bytes(b"\0asm\x01\0\0\0")
    shutil.copy(TOKEN_ABI_PATH, tmp_path / "token.abi.json")
    with Client(node.endpoint) as client:
        made = deploy(client, ALICE, tmp_path, "Fake", "FK", 2, zone="pay")
        made.mint(ALICE.address, 500)
    return made


def test_unsigned_by_default(node: FakeNode, token: Contract) -> None:
    with Client(node.endpoint) as client:
        client.read_state(account_key(ALICE.address))
        assert Contract(client, token.address, token.abi).balance_of(ALICE.address) == 500
    assert node.servicer.readers == []


def test_client_key_signs_every_query_and_a_call_key_overrides_it(
        node: FakeNode, token: Contract) -> None:
    with Client(node.endpoint, key=READER) as client:
        client.read_state(account_key(ALICE.address), prove=True)
        client.query(token.address, "name")
        client.query(token.address, "name", key=OTHER)
        client.read_state(account_key(ALICE.address), reader=OTHER)
        assert Contract(client, token.address, token.abi).balance_of(ALICE.address) == 500
        assert Contract(client, token.address, token.abi,
                        key=OTHER).balance_of(ALICE.address) == 500
    assert node.servicer.readers == [READER.address, READER.address, OTHER.address,
                                     OTHER.address, READER.address, OTHER.address]


def test_async_client_signs_with_its_key(node: FakeNode, token: Contract) -> None:
    async def scenario() -> None:
        async with AsyncClient(node.endpoint, key=READER) as client:
            await client.query(token.address, "name")
            await client.read_state(account_key(ALICE.address), reader=OTHER)

    asyncio.run(scenario())
    assert node.servicer.readers == [READER.address, OTHER.address]


def test_a_forged_signature_is_unauthorized(node: FakeNode, token: Contract) -> None:
    request = services_pb2.QueryRequest(view_call=services_pb2.ViewCallQuery(
        contract=token.address, method="name"))
    forged = sign_query(request, READER.private_key, CHAIN_ID, 1)
    forged.view_call.method = "symbol"
    with Client(node.endpoint) as client, \
            pytest.raises(Unauthorized, match="bad_query_signature"):
        client._invoke("Query", forged, idempotent=True, timeout_s=5)
    assert node.servicer.readers == []


def test_cli_query_key_signs(node: FakeNode, token: Contract, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    key_file = save_key(READER, tmp_path / "reader.key.json", "correct horse",
                        scrypt_n=SCRYPT_N_TEST)
    code = main(["query", token.address_text, "balance_of", json.dumps([ALICE.address_text]),
                 "--abi", str(TOKEN_ABI_PATH), "--node", node.endpoint, "--json",
                 "--key", str(key_file), "--passphrase-env", PASSPHRASE_ENV])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["result"] == 500
    assert node.servicer.readers == [READER.address]
