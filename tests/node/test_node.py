"""The node process in this interpreter: restart, start-up failures, CLI doors, block sync."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node.test_node_support import (
    running_node,
    token_artifact,
    wait_until,
    write_single_validator_network,
)
from zonechain.node.accounts import account_key
from zonechain.node.cli import main
from zonechain.node.config import (
    GenesisAccount,
    HostPort,
    JsonValue,
    load_genesis,
    load_node_config,
    save_genesis,
    save_node_config,
)
from zonechain.node.consensus import Validator, ValidatorSet
from zonechain.node.crypto import PrivateKey, sign_vote
from zonechain.node.ledger import Genesis, Ledger
from zonechain.node.node import Node, NodeStartError
from zonechain.node.p2p.errors import PeerUnavailable
from zonechain.node.permissions.genesis import load_template, template_account_names
from zonechain.node.sync import BlockSync, SyncError, verify_synced
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit, CommitSignature
from zonechain.node.types.vote import VoteType
from zonechain.proto import services_pb2
from zonechain.sdk import Client, Key
from zonechain.sdk.contract import init_arguments
from zonechain.sdk.errors import MempoolRejected
from zonechain.sdk.transactions import build_deploy
from zonechain.sdk.verify import Verifier

CHAIN_ID = "sync-chain"
KEYS = tuple(PrivateKey.from_seed(bytes([index + 1]) * 32) for index in range(4))
VALIDATORS = ValidatorSet(Validator(key.public_key, 1) for key in KEYS)


# ---- the node process ----------------------------------------------------------------


def test_restart_keeps_the_chain_and_proofs_still_verify(tmp_path: Path) -> None:
    home = write_single_validator_network(tmp_path / "net")
    with running_node(home) as (node, _):
        wait_until(lambda: node.ledger.height >= 3, what="height 3")
    with running_node(home) as (node, log):
        restarted_at = node.ledger.height
        assert restarted_at >= 3
        genesis = load_genesis(home / "genesis.json")
        verifier = Verifier.from_public_keys(
            genesis.chain_id, [(v.public_key, v.power) for v in genesis.validators])
        with Client([f"127.0.0.1:{node.client_port}"], verifier=verifier) as client:
            value = client.read_state(account_key(b"\x01" * 20), verify=True)
            assert value.verified and value.value is None
            wait_until(lambda: client.status().height > restarted_at + 1, what="new blocks")
        assert '"event": "node_started"' in log.getvalue()


def test_a_taken_port_fails_start_and_releases_the_store(tmp_path: Path) -> None:
    home = write_single_validator_network(tmp_path / "net")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        path = home / "config.toml"
        config = load_node_config(path)
        save_node_config(dataclasses.replace(
            config, metrics_listen=HostPort("127.0.0.1", taken.getsockname()[1])), path)
        node = Node(home)
        with pytest.raises(NodeStartError, match="metrics"):
            node.start()
    save_node_config(dataclasses.replace(load_node_config(path),
                                         metrics_listen=HostPort("127.0.0.1", 0)), path)
    with running_node(home) as (again, _):  # the store was closed: it opens again
        assert again.ledger.height >= 0


def test_node_command_with_a_bad_home_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "--home", str(tmp_path / "missing")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("zonechain node:") and error.count("\n") == 1


def test_devnet_command_refuses_a_bad_validator_count(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devnet", "--validators", "0"]) == 2
    assert "--validators" in capsys.readouterr().err


# ---- block sync -----------------------------------------------------------------------


def certify(block: Block, keys: tuple[PrivateKey, ...] = KEYS) -> Commit:
    votes = [sign_vote(key, VoteType.PRECOMMIT, CHAIN_ID, block.height, 0, block.hash)
             for key in keys]
    return Commit.from_signatures(block.height, 0, block.hash,
                                  (CommitSignature(v.validator, v.signature) for v in votes))


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Block, Commit]]:
    return certified_chain(tmp_path_factory.mktemp("sync") / "db")


def certified_chain(path: Path) -> list[tuple[Block, Commit]]:
    """Three empty blocks with certificates signed by all of KEYS."""
    pairs: list[tuple[Block, Commit]] = []
    with Ledger.open(path, Genesis(CHAIN_ID, 1_000)) as ledger:
        for height in range(1, 4):
            last = pairs[-1][1] if pairs else None
            block = ledger.propose_block([], 1_000 + height, KEYS[height % 4], last_commit=last,
                                         validator_set_hash=VALIDATORS.hash)
            commit = certify(block)
            ledger.apply_block(block, commit)
            pairs.append((block, commit))
    return pairs


def test_verify_synced_accepts_a_certified_block(chain: list[tuple[Block, Commit]]) -> None:
    for block, commit in chain:
        verify_synced(block, commit, VALIDATORS, CHAIN_ID)


def test_verify_synced_refuses_bad_certificates(chain: list[tuple[Block, Commit]]) -> None:
    (first, first_commit), (second, _) = chain[0], chain[1]
    too_few = certify(first, KEYS[:2])
    with pytest.raises(SyncError, match="2/3"):
        verify_synced(first, too_few, VALIDATORS, CHAIN_ID)
    with pytest.raises(SyncError, match="not for block"):
        verify_synced(second, first_commit, VALIDATORS, CHAIN_ID)
    with pytest.raises(SyncError, match="chain"):
        verify_synced(first, first_commit, VALIDATORS, "another-chain")
    strangers = ValidatorSet(Validator(PrivateKey.from_seed(bytes([50 + i]) * 32).public_key, 1)
                             for i in range(4))
    with pytest.raises(SyncError, match="not a validator"):
        verify_synced(first, first_commit, strangers, CHAIN_ID)


class FakePeer:
    """A peer that serves ``pairs`` (possibly tampered) and reports ``height``."""

    def __init__(self, pairs: list[tuple[Block, Commit]], *, up: bool = True) -> None:
        self.pairs = pairs
        self.up = up
        self.asked: list[tuple[int, int]] = []

    def status(self, timeout_s: float = 5.0) -> services_pb2.PeerStatusResponse:
        if not self.up:
            raise PeerUnavailable("down")
        return services_pb2.PeerStatusResponse(chain_id=CHAIN_ID, height=len(self.pairs))

    def sync_blocks(self, from_height: int, to_height: int = 0,
                    timeout_s: float = 60.0) -> Iterator[tuple[Block, Commit]]:
        self.asked.append((from_height, to_height))
        yield from self.pairs[from_height - 1:to_height or None]


def make_sync(peers: dict[str, FakePeer], delivered: list[Block],
              events: list[str]) -> BlockSync:
    return BlockSync(
        chain_id=CHAIN_ID, peers=lambda: peers, local_height=lambda: len(delivered),
        validators_at=lambda height: VALIDATORS,
        deliver=lambda block, commit: delivered.append(block),
        wait_height=lambda height, timeout_s: len(delivered) >= height,
        on_event=lambda event, fields: events.append(event), one_ahead_grace_s=0.0)


def test_block_sync_skips_a_lying_peer_and_takes_verified_blocks(
        chain: list[tuple[Block, Commit]]) -> None:
    forged = [(block, certify(block, KEYS[:1])) for block, _ in chain]
    peers = {"a-down": FakePeer(chain, up=False), "b-liar": FakePeer(forged),
             "c-honest": FakePeer(chain)}
    delivered: list[Block] = []
    events: list[str] = []
    sync = make_sync(peers, delivered, events)
    assert sync.sync_once() == 3
    assert [block.hash for block in delivered] == [block.hash for block, _ in chain]
    assert "sync_peer_failed" in events and "sync_batch" in events
    assert peers["c-honest"].asked == [(1, 3)]
    assert sync.sync_once() == 0  # caught up: nothing more to fetch
    assert not sync.catching_up


def test_bad_tls_files_fail_construction_and_release_the_store(tmp_path: Path) -> None:
    home = write_single_validator_network(tmp_path / "net")
    certificate = home / "tls" / "node.crt"
    original = certificate.read_bytes()
    certificate.write_bytes(b"not a certificate")
    with pytest.raises(NodeStartError):
        Node(home)
    certificate.write_bytes(original)
    with running_node(home) as (node, _):  # the store lock was released
        wait_until(lambda: node.ledger.height >= 1, what="a block")


def test_zone_policies_from_genesis_are_enforced(tmp_path: Path) -> None:
    """Genesis with the pilot template: members deploy, strangers are refused at the door."""
    home = write_single_validator_network(tmp_path / "net")
    template = load_template()
    keys = {name: Key.generate() for name in template_account_names(template)}
    listed = template["organisations"]
    zones = template["zones"]
    assert isinstance(listed, list) and isinstance(zones, list)
    organisations: list[JsonValue] = []
    for entry in listed:
        organisation = dict(entry)
        if organisation["id"] == "central-bank":
            organisation["validators"] = ["node0"]
        organisations.append(organisation)
    genesis = dataclasses.replace(
        load_genesis(home / "genesis.json"),
        accounts=tuple(GenesisAccount(name, key.public_key) for name, key in keys.items()),
        zones=tuple(zones), organisations=tuple(organisations))
    save_genesis(genesis, home / "genesis.json")
    artifact = token_artifact()
    code, init = artifact.code, init_arguments(artifact.abi, ("Z", "Z", 0), {})
    with running_node(home) as (node, _), \
            Client([f"127.0.0.1:{node.client_port}"]) as client:
        stranger = Key.generate()
        refused = stranger.sign(build_deploy(chain_id=client.chain_id, sender=stranger, nonce=0,
                                             code=code, init_args=init, zone="manufacturing",
                                             gas_limit=50_000_000))
        with pytest.raises(MempoolRejected) as denied:
            client.submit(refused)
        member = keys["central-bank-ops"]
        receipt = client.deploy(member, code, init, zone="manufacturing", gas_limit=50_000_000,
                                timeout_s=60)
    assert denied.value.reason_code == "not_permitted"
    assert receipt.created_contract is not None
