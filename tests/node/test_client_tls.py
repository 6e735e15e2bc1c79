"""Client-service TLS: a node started with ``client.tls_*`` serves the SDK over TLS.

The SDK connects with ``tls_root_cert=`` the network CA, and refuses a server
whose certificate comes from another CA; a plaintext client gets nothing from
a TLS port. Without the keys (the devnet default) the port stays plaintext.
Bad TLS material stops the node at start with one line naming the file.
"""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest

from tests.node.test_node_support import FAST_TIMEOUTS, running_node
from zonechain.node import tls
from zonechain.node.cli import main
from zonechain.node.config import (
    ConfigError,
    HostPort,
    load_node_config,
    parse_node_config,
    save_node_config,
)
from zonechain.node.init_cli import InitOptions, init_network
from zonechain.node.node import Node, NodeStartError
from zonechain.sdk import Client
from zonechain.sdk.client import RetryPolicy
from zonechain.sdk.errors import ConnectionFailed

CALL_TIMEOUT_S = 5.0
NO_RETRY = RetryPolicy(attempts=1, backoff_initial_s=0.0)


def tls_network(root: Path) -> Path:
    """A one-validator network with client TLS and port-0 listeners; node0's home."""
    init_network(InitOptions(out=root, validators=1, client_tls=True))
    path = root / "node0" / "config.toml"
    config = load_node_config(path)
    any_port = HostPort("127.0.0.1", 0)
    save_node_config(dataclasses.replace(
        config, consensus=FAST_TIMEOUTS, client_listen=any_port, metrics_listen=any_port,
        p2p=dataclasses.replace(config.p2p, listen=any_port)), path)
    return root / "node0"


def test_init_client_tls_writes_key_pair_and_config(tmp_path: Path) -> None:
    assert main(["init", "--validators", "1", "--full-nodes", "1", "--client-tls",
                 "--out", str(tmp_path / "net")]) == 0
    for node_id in ("node0", "node1"):
        home = tmp_path / "net" / node_id
        config = load_node_config(home / "config.toml")
        assert config.client_tls is not None
        assert config.client_tls.certificate == home / "tls" / "client.crt"
        assert config.client_tls.key == home / "tls" / "client.key"
        assert stat.S_IMODE(config.client_tls.key.stat().st_mode) == tls.PRIVATE_KEY_FILE_MODE
        certificate = tls.load_certificate(config.client_tls.certificate)
        authority = tls.load_certificate(tmp_path / "net" / "ca" / "ca.crt")
        assert certificate.issuer == authority.subject
        assert certificate.public_key() != tls.load_certificate(
            config.paths.tls_certificate).public_key()


def test_default_init_keeps_client_port_plaintext(tmp_path: Path) -> None:
    init_network(InitOptions(out=tmp_path / "net", validators=1))
    path = tmp_path / "net" / "node0" / "config.toml"
    assert load_node_config(path).client_tls is None
    assert "tls_certificate" not in path.read_text(encoding="utf-8").split("[client]")[1] \
        .split("[")[0]


def test_sdk_connects_with_network_ca_and_refuses_others(tmp_path: Path) -> None:
    home = tls_network(tmp_path / "net")
    wrong = tls.create_network_ca("some other CA")
    (tmp_path / "wrong.crt").write_bytes(wrong.certificate_pem)
    with running_node(home) as (node, _):
        endpoint = f"127.0.0.1:{node.client_port}"
        with Client(endpoint, timeout_s=CALL_TIMEOUT_S,
                    tls_root_cert=home / "tls" / "ca.crt") as client:
            status = client.status()
            assert status.chain_id == node.chain_id
        with Client(endpoint, timeout_s=CALL_TIMEOUT_S, retry=NO_RETRY,
                    tls_root_cert=tmp_path / "wrong.crt") as client, \
                pytest.raises(ConnectionFailed):
            client.status()
        with Client(endpoint, timeout_s=CALL_TIMEOUT_S, retry=NO_RETRY) as plaintext, \
                pytest.raises(ConnectionFailed):
            plaintext.status()


def test_config_requires_both_tls_keys(tmp_path: Path) -> None:
    home = tls_network(tmp_path / "net")
    text = (home / "config.toml").read_text(encoding="utf-8")
    without_key = "\n".join(line for line in text.splitlines()
                            if not line.startswith("tls_key = \"tls/client.key\""))
    with pytest.raises(ConfigError, match=r"client\.tls_key: missing"):
        parse_node_config(without_key, home / "config.toml")
    typo = text.replace("tls_key = \"tls/client.key\"", "tls_keyfile = \"tls/client.key\"")
    with pytest.raises(ConfigError, match=r"client\.tls_keyfile: unknown key"):
        parse_node_config(typo, home / "config.toml")


@pytest.mark.parametrize("damage", ["missing", "not_pem", "wrong_key"])
def test_bad_client_tls_material_stops_the_node_at_start(tmp_path: Path, damage: str) -> None:
    home = tls_network(tmp_path / "net")
    certificate, key = home / "tls" / "client.crt", home / "tls" / "client.key"
    if damage == "missing":
        certificate.unlink()
        expected = "cannot read"
    elif damage == "not_pem":
        certificate.write_bytes(b"not a certificate\n")
        expected = "not a PEM certificate"
    else:
        key.write_bytes((home / "tls" / "node.key").read_bytes())
        expected = "is not the key of"
    node = Node(home)
    with pytest.raises(NodeStartError, match=expected):
        node.start()
    # start undid what it had started: the store is closed and can be opened again.
    Node(home).ledger.close()
