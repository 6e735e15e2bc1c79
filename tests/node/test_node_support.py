"""Helpers for the node, service and devnet tests (no tests here).

``single_node(tmp_path)`` writes a one-validator network with every port 0
(the OS picks free ones) and short timeouts, and starts its ``Node`` in this
process; the chain commits on its own. ``token_artifact()`` builds the token
contract once per process. ``wait_until`` polls a condition with a deadline
(never a bare sleep as synchronisation).
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from zonechain.node import tls
from zonechain.node.config import HostPort, encode_key_file, load_node_config, save_node_config
from zonechain.node.crypto import PrivateKey
from zonechain.node.init_cli import InitOptions, init_network
from zonechain.node.node import Node
from zonechain.node.node_cli import DEVNET_TIMEOUTS
from zonechain.sdk.testing.artifacts import Artifact, load_contract

REPOSITORY = Path(__file__).resolve().parents[2]
TOKEN_SOURCE = REPOSITORY / "contracts" / "zones" / "token"
FAST_TIMEOUTS = dataclasses.replace(DEVNET_TIMEOUTS, commit_ms=100, block_interval_ms=0)
"""A lone in-process validator commits as fast as it can (tests wait for heights)."""
WAIT_S = 60.0
POLL_S = 0.02

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float = WAIT_S, what: str = "") -> T:
    """Poll ``condition`` until it returns something truthy; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or condition}")
        time.sleep(POLL_S)  # polling interval of a deadline wait


def token_artifact() -> Artifact:
    return load_contract(TOKEN_SOURCE)


def write_single_validator_network(root: Path) -> Path:
    """A one-validator network under ``root`` with port-0 listeners; node0's home."""
    init_network(InitOptions(out=root, validators=1))
    path = root / "node0" / "config.toml"
    config = load_node_config(path)
    any_port = HostPort("127.0.0.1", 0)
    config = dataclasses.replace(
        config, consensus=FAST_TIMEOUTS, client_listen=any_port, metrics_listen=any_port,
        p2p=dataclasses.replace(config.p2p, listen=any_port))
    save_node_config(config, path)
    return root / "node0"


@contextmanager
def running_node(home: Path) -> Iterator[tuple[Node, io.StringIO]]:
    """Start the node at ``home`` in this process; stop it (store closed) afterwards."""
    log = io.StringIO()
    node = Node(home, log_stream=log)
    node.start()
    try:
        yield node, log
    finally:
        node.stop()


def give_validator_key(home: Path) -> PrivateKey:
    """An operator's step for a node that has none (a full node): a fresh validator key
    in ``keys/validator.key``, named by its config.toml. Its certificate still names
    no key (``issue_validator_certificate`` re-issues it)."""
    key = PrivateKey.generate()
    path = home / "keys" / "validator.key"
    tls.write_private_key(path, encode_key_file(key.seed, key.public_key))
    config_path = home / "config.toml"
    config = load_node_config(config_path)
    save_node_config(dataclasses.replace(
        config, paths=dataclasses.replace(config.paths, validator_key=path)), config_path)
    return key
