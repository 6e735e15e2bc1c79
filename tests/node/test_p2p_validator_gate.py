"""A peer's certificate identity against the validator set (docs/OPERATIONS.md,
"Certificates and peer identity"): only peers whose certificate names a key of
the current or next validator set may send proposals and votes; any other
CA-signed peer is a full node (it syncs and gossips, its consensus messages
are dropped and counted); a node whose validator key differs from its
certificate's refuses to start."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from tests.node.test_node_support import give_validator_key
from tests.node.test_p2p_transport import (
    DEADLINE_S,
    LOOPBACK,
    Inbox,
    Network,
    _batch,
    _vote,
    build_network,
)
from zonechain.node import tls
from zonechain.node.config import (
    HostPort,
    PeerAddress,
    load_node_config,
    save_node_config,
)
from zonechain.node.crypto import PrivateKey, sign_transaction
from zonechain.node.init_cli import InitOptions, init_network, issue_validator_certificate
from zonechain.node.node import Node, NodeStartError
from zonechain.node.p2p import PeerServer
from zonechain.node.p2p.messages import TransactionsMessage
from zonechain.node.p2p.peer import PeerConnection
from zonechain.node.tls import PeerIdentity
from zonechain.node.types import CallPayload, Transaction


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    return build_network(tmp_path_factory.mktemp("gate") / "net")


def test_server_drops_consensus_messages_of_non_validator_peers(network: Network) -> None:
    inbox = Inbox()
    allowed = {network.keys["node0"].public_key}
    server = PeerServer(chain_id=network.genesis.chain_id, tls=network.tls["node1"],
                        inbox=inbox,
                        consensus_senders=lambda peer: peer.validator_public_key in allowed)
    port = server.start(HostPort(LOOPBACK, 0))
    address = PeerAddress("node1", HostPort(LOOPBACK, port))
    validator = PeerConnection(address, network.tls["node0"], chain_id=network.genesis.chain_id)
    full = PeerConnection(address, network.tls["node2"], chain_id=network.genesis.chain_id)
    try:
        validator.start()
        full.start()
        # The full node relays a validator's correctly signed vote: still refused,
        # because the SENDER is not a validator; its transactions are accepted.
        full.send(_vote(network, "node0", 1))
        full.send(_batch(network, "node0"))
        validator.send(_vote(network, "node0", 2))
        assert inbox.wait_for(2)
        with inbox._condition:
            assert inbox._condition.wait_for(lambda: server.consensus_refused == 1, DEADLINE_S)
    finally:
        validator.close()
        full.close()
        server.stop()
    kinds = sorted((sender.node_id, type(message).__name__) for sender, message in inbox.received)
    assert kinds == [("node0", "VoteMessage"), ("node2", "TransactionsMessage")]
    assert server.consensus_refused == 1


def _single_validator_home(root: Path) -> Path:
    init_network(InitOptions(out=root, validators=1, full_nodes=1))
    any_port = HostPort(LOOPBACK, 0)
    for node_id in ("node0", "node1"):
        path = root / node_id / "config.toml"
        config = load_node_config(path)
        save_node_config(dataclasses.replace(
            config, client_listen=any_port, metrics_listen=any_port,
            p2p=dataclasses.replace(config.p2p, listen=any_port)), path)
    return root / "node0"


def test_node_accepts_consensus_only_from_its_validator_set(tmp_path: Path) -> None:
    home = _single_validator_home(tmp_path / "net")
    node = Node(home, log_stream=io.StringIO())
    try:
        own = node.key
        assert own is not None
        assert node._is_consensus_sender(PeerIdentity("node0", own.public_key))
        assert not node._is_consensus_sender(PeerIdentity("node1", tls.NO_VALIDATOR_KEY))
        stranger = PrivateKey.generate().public_key  # CA-signed, but not in any set
        assert not node._is_consensus_sender(PeerIdentity("node9", stranger))
        assert node.metrics._counters["consensus_messages_refused_total"] == 2
    finally:
        node.ledger.close()


def test_validator_key_must_match_the_certificate(tmp_path: Path) -> None:
    root = tmp_path / "net"
    _single_validator_home(root)
    home = root / "node1"  # the full node: its certificate names no validator key
    key = give_validator_key(home)
    with pytest.raises(NodeStartError, match="names validator key"):
        Node(home, log_stream=io.StringIO())
    issue_validator_certificate(root, home, key.public_key)
    node = Node(home, log_stream=io.StringIO())
    try:
        assert node.transport.identity == PeerIdentity("node1", key.public_key)
        assert not node.is_validator  # a key alone does not make a member of the set
    finally:
        node.ledger.close()


def test_txs_from_full_nodes_are_relayed_and_from_validators_are_not(tmp_path: Path) -> None:
    home = _single_validator_home(tmp_path / "net")
    node = Node(home, log_stream=io.StringIO())
    try:
        own = node.key
        assert own is not None

        def batch(nonce: int) -> TransactionsMessage:
            key = PrivateKey.from_seed(bytes([nonce + 40]) * 32)
            tx = Transaction(node.chain_id, key.public_key, 0, 50_000, "payments",
                             CallPayload(bytes(20), "transfer", b""))
            return TransactionsMessage((sign_transaction(tx, key),))

        from_validator, from_full_node = batch(1), batch(2)
        node._inbox(PeerIdentity("node0", own.public_key), from_validator)
        node._inbox(PeerIdentity("node1", tls.NO_VALIDATOR_KEY), from_full_node)
        admitted = [message.txs[0].hash for message in (from_validator, from_full_node)]
        assert all(tx_hash in node.mempool for tx_hash in admitted)
        assert [tx.hash for tx in node._gossip_batch] == [from_full_node.txs[0].hash]
        node._inbox(PeerIdentity("node1", tls.NO_VALIDATOR_KEY), from_full_node)  # again
        assert len(node._gossip_batch) == 1  # a duplicate is not admitted, so not relayed
        assert node.metrics._counters["txs_relayed_total"] == 1
    finally:
        node.ledger.close()
