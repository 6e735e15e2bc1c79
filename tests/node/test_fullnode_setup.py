"""``zonechain add-full-node``: one more full node written into an existing network.

The new directory is a full node of THAT network (same genesis, certificate
from its CA, no validator key, the genesis validators as peers, the next
ports); a wrong CA key or a directory that is not a network writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from zonechain.node import tls
from zonechain.node.cli import UserError
from zonechain.node.config import load_genesis, load_node_config
from zonechain.node.init_cli import (
    PORT_STRIDE,
    AddFullNodeOptions,
    InitOptions,
    add_full_node,
    init_network,
    register,
)

BASE_PORT = 31_000


@pytest.fixture
def network(tmp_path: Path) -> Path:
    init_network(InitOptions(out=tmp_path / "net", validators=2, full_nodes=1,
                             base_port=BASE_PORT))
    return tmp_path / "net"


def entries(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


def test_added_node_is_a_full_node_of_the_network(network: Path) -> None:
    home = add_full_node(AddFullNodeOptions(network=network, hosts=("full.example.org",)))
    assert home == network / "node3"
    genesis = load_genesis(network / "genesis.json")
    config = load_node_config(home / "config.toml")
    assert config.node_id == "node3" and not config.is_validator
    assert not (home / "keys").exists()
    assert load_genesis(config.paths.genesis).hash == genesis.hash
    assert [(peer.node_id, peer.address) for peer in config.p2p.peers] == \
        [(validator.name, validator.p2p_address) for validator in genesis.validators]
    assert config.p2p.listen.port == BASE_PORT + 3 * PORT_STRIDE
    assert config.client_tls is None
    certificate = tls.load_certificate(config.paths.tls_certificate)
    identity = tls.peer_identity(certificate)
    assert identity.node_id == "node3" and not identity.is_validator
    authority = tls.check_ca_fingerprint(config.paths.tls_ca, genesis.ca_fingerprint)
    assert certificate.issuer == authority.subject
    assert "full.example.org" in str(certificate.extensions)
    assert add_full_node(AddFullNodeOptions(network=network, client_tls=True)) == \
        network / "node4"
    assert load_node_config(network / "node4" / "config.toml").client_tls is not None
    assert not any(name.startswith(".") for name in entries(network))  # no staging left


def test_command_line_writes_the_node(network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    arguments = parser.parse_args(["add-full-node", "--network", str(network),
                                   "--base-port", "32000"])
    assert arguments.handler(arguments) == 0
    assert "full node node3" in capsys.readouterr().out
    assert load_node_config(network / "node3" / "config.toml").p2p.listen.port == 32_030


def test_wrong_ca_key_writes_nothing(network: Path, tmp_path: Path) -> None:
    other = tls.create_network_ca("another network")
    tls.save_authority(other, tmp_path / "other")
    before = entries(network)
    with pytest.raises(UserError, match="is not the key of the network CA"):
        add_full_node(AddFullNodeOptions(network=network, ca_key=tmp_path / "other" / "ca.key"))
    with pytest.raises(UserError, match="cannot read the CA key"):
        add_full_node(AddFullNodeOptions(network=network, ca_key=tmp_path / "absent.key"))
    with pytest.raises(UserError, match="not a DNS name"):
        add_full_node(AddFullNodeOptions(network=network, hosts=("bad host",)))
    assert entries(network) == before


def test_directory_without_a_network_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--network"):
        add_full_node(AddFullNodeOptions(network=tmp_path))
    assert entries(tmp_path) == set()


def test_devnet_command_refuses_a_bad_full_node_count(tmp_path: Path) -> None:
    from zonechain.node.cli import main

    assert main(["devnet", "--full-nodes", "65", "--dir", str(tmp_path / "net")]) == 2
    assert not (tmp_path / "net").exists()


def test_node_refuses_a_store_of_another_schema_version(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The upgrade check docs/OPERATIONS.md describes: exit 2, one line, nothing written."""
    from tests.node.test_store_open_errors import raw_put
    from zonechain.node.cli import main
    from zonechain.node.node import Node
    from zonechain.node.store import SCHEMA_VERSION
    from zonechain.node.store.layout import CF_META, META_SCHEMA_VERSION

    init_network(InitOptions(out=tmp_path / "net", validators=1))
    home = tmp_path / "net" / "node0"
    Node(home).ledger.close()  # creates the store at genesis
    newer = SCHEMA_VERSION + 1
    raw_put(home / "data", CF_META, META_SCHEMA_VERSION, newer.to_bytes(4, "big"))
    assert main(["node", "--home", str(home)]) == 2
    error = capsys.readouterr().err
    assert f"store schema version {newer} is newer than the version {SCHEMA_VERSION}" in error
    assert len(error.strip().splitlines()) == 1
