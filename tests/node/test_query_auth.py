"""Who may read: the zone read guard at the Query door (node/query_auth.py).

Unit tests run ``check_read`` over the pilot genesis state; the service tests
start one pilot validator in this process and read through the real SDK: a
member reads, a non-member is refused with the rule named, a forged or an
absent signature is refused, an open zone reads unsigned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.node.test_node_support import FAST_TIMEOUTS, running_node, token_artifact
from zonechain.node.config import HostPort, load_key_seed, load_node_config, save_node_config
from zonechain.node.init_cli import InitOptions, init_network
from zonechain.node.node import Node
from zonechain.node.permissions.genesis import writes_for_genesis
from zonechain.node.query_auth import (
    BAD_QUERY_SIGNATURE,
    QUERY_SIGNATURE_AGE_MS_MAX,
    STALE_QUERY,
    UNSIGNED_QUERY,
    UNSIGNED_SIMULATION,
    ReadRefused,
    check_read,
    query_signing_bytes,
    sign_query,
)
from zonechain.node.types.address import account_address
from zonechain.node.types.hashing import QUERY_SIGNING_DOMAIN
from zonechain.node.types.receipt import ReceiptStatus
from zonechain.node.types.transaction import Transaction
from zonechain.proto import services_pb2
from zonechain.sdk import Client, Key
from zonechain.sdk.contract import Contract, encode_call, init_arguments
from zonechain.sdk.errors import Unauthorized
from zonechain.sdk.transactions import build_call
from zonechain.vm.metadata import ContractMetadata
from zonechain.vm.state import DictState, contract_meta_key, contract_storage_key

CHAIN = "reads-1"
GUARDED = "healthcare"            # read: ANY of health-commission,regulator
GUARDED_RULE = "ANY of health-commission,regulator"
OPEN = "trade-finance"            # read: ANY (the open read policy)
NOW_MS = 1_800_000_000_000
DEPLOY_GAS = 50_000_000
CONTRACT = bytes(range(1, 21))


def account(out: Path, name: str) -> Key:
    seed, _ = load_key_seed(out / "accounts" / f"{name}.key")
    return Key.from_seed(seed)


def pilot_network(out: Path) -> Path:
    """A one-validator pilot network under ``out`` with port-0 listeners; node0's home."""
    init_network(InitOptions(out=out, validators=1, chain_id=CHAIN, permissions="pilot"))
    path = out / "node0" / "config.toml"
    config = load_node_config(path)
    any_port = HostPort("127.0.0.1", 0)
    save_node_config(dataclasses.replace(
        config, consensus=FAST_TIMEOUTS, client_listen=any_port, metrics_listen=any_port,
        p2p=dataclasses.replace(config.p2p, listen=any_port)), path)
    return out / "node0"


# ---- check_read over the pilot genesis state ---------------------------------------------


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> tuple[DictState, Path]:
    out = tmp_path_factory.mktemp("pilot") / "net"
    genesis = init_network(InitOptions(out=out, validators=1, chain_id=CHAIN,
                                       permissions="pilot"))
    writes = dict(writes_for_genesis(genesis))
    deployer = account(out, "health-commission-ops").address
    writes[contract_meta_key(CONTRACT)] = ContractMetadata(bytes(32), GUARDED, deployer).encode()
    return DictState(writes), out


def view(contract: bytes = CONTRACT) -> services_pb2.QueryRequest:
    return services_pb2.QueryRequest(view_call=services_pb2.ViewCallQuery(
        contract=contract, method="balance_of", args=b"\x01", gas_limit=7))


def test_signing_bytes_are_domain_separated_and_cover_every_field() -> None:
    key = Key.from_seed(b"\x01" * 32)
    base = sign_query(view(), key.private_key, CHAIN, NOW_MS)
    data = query_signing_bytes(CHAIN, base)
    assert data.startswith(QUERY_SIGNING_DOMAIN + len(CHAIN).to_bytes(4, "little") + b"reads-1")
    variants = [services_pb2.QueryRequest() for _ in range(6)]
    for variant in variants:
        variant.CopyFrom(base)
    variants[0].height = 5
    variants[1].view_call.method = "total_supply"
    variants[2].view_call.args = b"\x02"
    variants[3].view_call.gas_limit = 8
    variants[4].reader.time_ms += 1
    variants[5].view_call.contract = bytes(20)
    signed = {query_signing_bytes(CHAIN, variant) for variant in variants}
    assert len(signed | {data}) == 7
    assert query_signing_bytes("other-chain", base) != data
    state_read = services_pb2.QueryRequest(state_key=services_pb2.StateKeyQuery(key=b"s"),
                                           reader=base.reader)
    assert query_signing_bytes(CHAIN, state_read) != data
    with pytest.raises(ValueError, match="state_key or view_call"):
        query_signing_bytes(CHAIN, services_pb2.QueryRequest(reader=base.reader))


def test_a_member_the_read_policy_admits_reads(pilot: tuple[DictState, Path]) -> None:
    state, out = pilot
    regulator = account(out, "regulator-ops")
    request = sign_query(view(), regulator.private_key, CHAIN, NOW_MS)
    assert check_read(state, request, CHAIN, NOW_MS + 1_000) == regulator.address
    storage = services_pb2.QueryRequest(prove=True, state_key=services_pb2.StateKeyQuery(
        key=contract_storage_key(CONTRACT, b"balance")))
    signed = sign_query(storage, regulator.private_key, CHAIN, NOW_MS)
    assert check_read(state, signed, CHAIN, NOW_MS) == regulator.address


def refusal(state: DictState, request: services_pb2.QueryRequest,
            now_ms: int = NOW_MS) -> ReadRefused:
    with pytest.raises(ReadRefused) as raised:
        check_read(state, request, CHAIN, now_ms)
    return raised.value


def test_a_member_outside_the_policy_is_refused_with_the_rule(
        pilot: tuple[DictState, Path]) -> None:
    state, out = pilot
    denied = refusal(state, sign_query(view(), account(out, "bank-a-ops").private_key,
                                       CHAIN, NOW_MS))
    assert denied.code == "not_permitted"
    assert GUARDED_RULE in denied.message and "organisation bank-a" in denied.message
    stranger = Key.from_seed(b"\x07" * 32)
    denied = refusal(state, sign_query(view(), stranger.private_key, CHAIN, NOW_MS))
    assert denied.code == "not_permitted" and "not a member" in denied.message


def test_unsigned_forged_stale_and_replayed_reads_are_refused(
        pilot: tuple[DictState, Path]) -> None:
    state, out = pilot
    regulator = account(out, "regulator-ops")
    unsigned = refusal(state, view())
    assert unsigned.code == UNSIGNED_QUERY and GUARDED_RULE in unsigned.message
    storage = services_pb2.QueryRequest(state_key=services_pb2.StateKeyQuery(
        key=contract_storage_key(CONTRACT, b"x")))
    assert refusal(state, storage).code == UNSIGNED_QUERY
    forged = sign_query(view(), regulator.private_key, CHAIN, NOW_MS)
    forged.view_call.method = "other"  # the signature no longer covers the request
    assert refusal(state, forged).code == BAD_QUERY_SIGNATURE
    impostor = sign_query(view(), Key.from_seed(b"\x09" * 32).private_key, CHAIN, NOW_MS)
    impostor.reader.public_key = regulator.public_key  # claims the regulator's key
    assert refusal(state, impostor).code == BAD_QUERY_SIGNATURE
    truncated = sign_query(view(), regulator.private_key, CHAIN, NOW_MS)
    truncated.reader.signature = truncated.reader.signature[:10]
    assert refusal(state, truncated).code == BAD_QUERY_SIGNATURE
    other_chain = sign_query(view(), regulator.private_key, "other-chain", NOW_MS)
    assert refusal(state, other_chain).code == BAD_QUERY_SIGNATURE
    old = sign_query(view(), regulator.private_key, CHAIN, NOW_MS)
    later = NOW_MS + QUERY_SIGNATURE_AGE_MS_MAX + 1
    assert refusal(state, old, later).code == STALE_QUERY
    assert refusal(state, old, NOW_MS - QUERY_SIGNATURE_AGE_MS_MAX - 1).code == STALE_QUERY
    assert check_read(state, old, CHAIN, NOW_MS + QUERY_SIGNATURE_AGE_MS_MAX) is not None


def test_open_reads_need_no_signature(pilot: tuple[DictState, Path]) -> None:
    state, out = pilot
    assert check_read(state, view(bytes(20)), CHAIN, NOW_MS) is None  # no such contract
    for key in (contract_meta_key(CONTRACT), b"a" + bytes(20), b"gn", b"s\x01"):
        request = services_pb2.QueryRequest(state_key=services_pb2.StateKeyQuery(key=key))
        assert check_read(state, request, CHAIN, NOW_MS) is None, key
    metadata = contract_meta_key(CONTRACT)
    no_network = DictState({metadata: state.get(metadata) or b""})
    assert check_read(no_network, view(), CHAIN, NOW_MS) is None  # an open chain
    deployer = account(out, "bank-a-ops").address
    in_open_zone = DictState({**state.items, metadata: ContractMetadata(
        bytes(32), OPEN, deployer).encode()})
    assert check_read(in_open_zone, view(), CHAIN, NOW_MS) is None


# ---- through the node's Query door ---------------------------------------------------------


class PilotChain:
    """One pilot validator, a token in a guarded zone and one in an open zone."""

    def __init__(self, node: Node, out: Path) -> None:
        self.node, self.out = node, out
        self.endpoint = f"127.0.0.1:{node.client_port}"
        self.client = Client([self.endpoint], timeout_s=10)
        artifact = token_artifact()
        self.abi = artifact.abi
        self.guarded = self._deploy("health-commission-ops", GUARDED)
        self.open = self._deploy("bank-a-ops", OPEN)

    def _deploy(self, deployer: str, zone: str) -> bytes:
        key = account(self.out, deployer)
        artifact = token_artifact()
        receipt = self.client.deploy(
            key, artifact.code, init_arguments(artifact.abi, ("Token", "TOK", 2), {}),
            zone=zone, gas_limit=DEPLOY_GAS)
        assert receipt.created_contract is not None
        Contract(self.client, receipt.created_contract, artifact.abi, key=key,
                 zone=zone).mint(key.address, 1_000)
        return receipt.created_contract


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PilotChain]:
    out = tmp_path_factory.mktemp("reads") / "net"
    home = pilot_network(out)
    with running_node(home) as (node, _):
        made = PilotChain(node, out)
        try:
            yield made
        finally:
            made.client.close()


def test_a_member_reads_a_guarded_zone_through_the_sdk(chain: PilotChain) -> None:
    regulator = account(chain.out, "regulator-ops")
    owner = account(chain.out, "health-commission-ops").address
    proxy = Contract(chain.client, chain.guarded, chain.abi, key=regulator)
    assert proxy.balance_of(owner) == 1_000
    with Client([chain.endpoint], timeout_s=10, key=regulator) as reader:
        value = reader.read_state(contract_storage_key(chain.guarded, b""), prove=True)
        assert value.height >= 1


def test_a_non_member_is_refused_with_the_rule_named(chain: PilotChain) -> None:
    owner = account(chain.out, "health-commission-ops").address
    outsider = Contract(chain.client, chain.guarded, chain.abi,
                        key=account(chain.out, "bank-a-ops"))
    with pytest.raises(Unauthorized, match="not_permitted") as raised:
        outsider.balance_of(owner)
    assert GUARDED_RULE in str(raised.value) and "bank-a" in str(raised.value)


def test_unsigned_and_forged_reads_of_a_guarded_zone_are_refused(chain: PilotChain) -> None:
    owner = account(chain.out, "health-commission-ops").address
    with pytest.raises(Unauthorized, match=UNSIGNED_QUERY) as raised:
        Contract(chain.client, chain.guarded, chain.abi).balance_of(owner)
    assert GUARDED_RULE in str(raised.value)
    with pytest.raises(Unauthorized, match=UNSIGNED_QUERY):
        chain.client.read_state(contract_storage_key(chain.guarded, b"\x00"))
    regulator = account(chain.out, "regulator-ops")
    forged = sign_query(view(chain.guarded), regulator.private_key, CHAIN,
                        chain.node.now_ms())
    forged.view_call.args = b"\x02"  # altered after signing
    stub = chain.client._stubs[0]
    with pytest.raises(grpc.RpcError, match=BAD_QUERY_SIGNATURE):
        stub.Query(forged, timeout=10)


def test_an_open_zone_reads_unsigned(chain: PilotChain) -> None:
    owner = account(chain.out, "bank-a-ops").address
    assert Contract(chain.client, chain.open, chain.abi).balance_of(owner) == 1_000
    nonce = chain.client.account_nonce(account_address(account(chain.out,
                                                               "bank-a-ops").public_key))
    assert nonce >= 2


def dry_run(chain: PilotChain, sender: Key, contract: bytes, zone: str) -> Transaction:
    owner = account(chain.out, "health-commission-ops").address
    args = encode_call(chain.abi, "balance_of", (owner,), {})[1]
    return build_call(chain_id=CHAIN, sender=sender, nonce=chain.client.account_nonce(
        sender.address), contract=contract, method="balance_of", args=args, zone=zone,
        gas_limit=DEPLOY_GAS)


def test_a_dry_run_of_a_guarded_call_is_a_read(chain: PilotChain) -> None:
    regulator = account(chain.out, "regulator-ops")
    with pytest.raises(Unauthorized, match=UNSIGNED_SIMULATION):  # could claim any sender
        chain.client.simulate(dry_run(chain, regulator, chain.guarded, GUARDED))
    bank = account(chain.out, "bank-a-ops")  # may call in healthcare, may not read it
    with pytest.raises(Unauthorized, match="not_permitted") as raised:
        chain.client.simulate(bank.sign(dry_run(chain, bank, chain.guarded, GUARDED)))
    assert GUARDED_RULE in str(raised.value)
    owner = account(chain.out, "health-commission-ops")
    allowed = chain.client.simulate(owner.sign(dry_run(chain, owner, chain.guarded, GUARDED)))
    assert allowed.valid and allowed.receipt is not None
    assert allowed.receipt.status is ReceiptStatus.SUCCESS


def test_a_dry_run_in_an_open_zone_needs_no_signature(chain: PilotChain) -> None:
    bank = account(chain.out, "bank-a-ops")
    result = chain.client.simulate(dry_run(chain, bank, chain.open, OPEN))
    assert result.valid and result.receipt is not None
    assert result.receipt.status is ReceiptStatus.SUCCESS
