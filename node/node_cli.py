"""`zonechain node` and `zonechain devnet`, and the ``Devnet`` Python API they share.

    zonechain node --home DIR
        Run one node from DIR/config.toml until SIGTERM or SIGINT; exit 0 after
        a clean stop (store closed), 1 after a node fault, 2 if it cannot start.

    zonechain devnet [--validators N] [--full-nodes M] [--dir D] [--reset] [--base-port P]
                     [--permissions pilot|none|FILE]
        A local network of N validator (and M full-node) PROCESSES on 127.0.0.1: runs ``init``
        into D (default .zonechain/devnet) unless D already holds a network
        (data persists across runs; ``--reset`` starts from a fresh genesis),
        starts one ``zonechain node`` per node (logs in D/nodeK/node.log),
        waits until every node has committed a block, prints each node's
        client gRPC, p2p and metrics endpoints, and stops them all on Ctrl-C
        or SIGTERM.

Python API (the demo, the SDK's integration tests and the benchmark use it)::

    with Devnet(directory, validators=4, reset=True) as devnet:   # start() ... stop()
        client = Client(devnet.client_endpoints)
        devnet.kill(1); devnet.start_node(1)                       # fault injection
        devnet.start_node(devnet.add_full_node())                  # a full node, later

Guarantees: ``start`` either returns with every node committing or stops
what it started and raises ``DevnetError`` carrying the tail of the failing
node's log. ``stop`` sends SIGTERM, waits ``STOP_WAIT_S``, then SIGKILLs a
node that did not exit, so no process outlives the Devnet. ``--reset``
deletes D only if it holds a network (genesis.json), like ``init --force``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Final

import grpc

from zonechain.node.cli import EXIT_FAILED, EXIT_OK, UserError
from zonechain.node.config import (
    ConsensusTimeouts,
    NodeConfig,
    load_genesis,
    load_node_config,
    save_node_config,
)
from zonechain.node.init_cli import (
    BASE_PORT_DEFAULT,
    FULL_NODES_MAX,
    GENESIS_FILE,
    PORT_STRIDE,
    AddFullNodeOptions,
    InitOptions,
    add_full_node,
    init_network,
)
from zonechain.proto import services_pb2, services_pb2_grpc

DEVNET_DIR_DEFAULT: Final = Path(".zonechain") / "devnet"
VALIDATORS_DEFAULT: Final = 4
CONFIG_FILE: Final = "config.toml"
LOG_FILE: Final = "node.log"

DEVNET_TIMEOUTS: Final = ConsensusTimeouts(
    propose_ms=1_000, propose_delta_ms=250, prevote_ms=500, prevote_delta_ms=250,
    precommit_ms=500, precommit_delta_ms=250, commit_ms=300,
)
"""Loopback rounds: messages arrive in about a millisecond, so timeouts a third
of production's still exceed the delay bound many times over; an idle devnet
commits an empty block about every 300 ms (``commit_ms``)."""

START_WAIT_S: Final = 90.0
"""How long ``start`` waits for every node to commit: process start-up (imports,
opening RocksDB) takes a few seconds per node on a loaded 2-core machine."""

STOP_WAIT_S: Final = 30.0
"""SIGTERM grace per node before SIGKILL: a commit in flight finishes first."""

PIPED_TABLE_WIDTH: Final = 160
"""Columns of the endpoint table when stdout is not a terminal (a log, a pipe)."""

POLL_S: Final = 0.1
STATUS_CALL_TIMEOUT_S: Final = 2.0
LOG_TAIL_LINES: Final = 20
PORT_SEARCH_ATTEMPTS: Final = 50
PORT_RANGE: Final = (20_000, 60_000)


class DevnetError(Exception):
    """The devnet could not start (a node exited or did not commit in time)."""


@dataclass
class DevnetNode:
    """One node of the devnet: its home, endpoints and process (None while stopped)."""

    node_id: str
    home: Path
    client: str
    p2p: str
    metrics: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = (self.home / LOG_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def node_status(endpoint: str, timeout_s: float = STATUS_CALL_TIMEOUT_S,
                ) -> services_pb2.StatusResponse | None:
    """A node's Status, or None if it does not answer."""
    with grpc.insecure_channel(endpoint) as channel:
        stub = services_pb2_grpc.ClientStub(channel)  # type: ignore[no-untyped-call]
        try:
            response: services_pb2.StatusResponse = stub.Status(
                services_pb2.StatusRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return None
        return response


def _ports_free(base_port: int, nodes: int) -> bool:
    for index in range(nodes):
        for offset in range(3):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind(("127.0.0.1", base_port + PORT_STRIDE * index + offset))
                except OSError:
                    return False
    return True


def find_base_port(nodes: int, preferred: int | None = None) -> int:
    """A base port whose 3 ports per node are all free now (``preferred`` first)."""
    if preferred is not None and _ports_free(preferred, nodes):
        return preferred
    chooser = random.Random()
    for _ in range(PORT_SEARCH_ATTEMPTS):
        base = chooser.randrange(PORT_RANGE[0], PORT_RANGE[1] - PORT_STRIDE * nodes, PORT_STRIDE)
        if _ports_free(base, nodes):
            return base
    raise DevnetError(f"no free block of ports for {nodes} nodes")


class Devnet:
    """N validator processes on loopback; see the module docstring."""

    def __init__(self, directory: str | Path = DEVNET_DIR_DEFAULT,
                 validators: int = VALIDATORS_DEFAULT, *, reset: bool = False,
                 base_port: int | None = None,
                 timeouts: ConsensusTimeouts = DEVNET_TIMEOUTS,
                 python: str = sys.executable,
                 environment: Mapping[str, str] | None = None,
                 full_nodes: int = 0, permissions: str = "none") -> None:
        self.directory = Path(directory).resolve()
        self.validators = validators
        self.full_nodes = full_nodes
        """Non-voting nodes when creating the network; they follow ``nodes[validators:]``."""
        self.permissions = permissions
        """``zonechain init --permissions`` when creating the network: pilot, none or a file."""
        self.reset = reset
        self.base_port = base_port
        self.timeouts = timeouts
        self.python = python
        self.environment = dict(environment or {})
        """Extra environment variables of every node process (tests: fail-points, faults)."""
        self.nodes: list[DevnetNode] = []

    # ---- preparing the directory -------------------------------------------------

    def prepare(self) -> bool:
        """Write the network if needed; True if it was (re)initialised."""
        genesis_path = self.directory / GENESIS_FILE
        if self.reset and self.directory.exists():
            if not genesis_path.exists() and any(self.directory.iterdir()):
                raise DevnetError(f"{self.directory} is not a devnet directory; not deleting it")
            shutil.rmtree(self.directory)
        created = not genesis_path.exists()
        if created:
            base = find_base_port(self.validators + self.full_nodes,
                                  self.base_port or BASE_PORT_DEFAULT)
            init_network(InitOptions(out=self.directory, validators=self.validators,
                                     full_nodes=self.full_nodes, base_port=base, force=True,
                                     permissions=self.permissions))
            for node_id in self._node_ids():
                path = self.directory / node_id / CONFIG_FILE
                config = load_node_config(path)
                save_node_config(dataclasses.replace(config, consensus=self.timeouts), path)
        self.nodes = [self._describe(node_id) for node_id in self._node_ids()]
        return created

    def _node_ids(self) -> list[str]:
        """Validators in genesis order, then the full nodes init wrote after them."""
        genesis = load_genesis(self.directory / GENESIS_FILE)
        names = [validator.name for validator in genesis.validators]
        index = len(names)
        while (self.directory / f"node{index}" / CONFIG_FILE).is_file():
            names.append(f"node{index}")
            index += 1
        return names

    def add_full_node(self) -> int:
        """Write one more full node into the network (``add-full-node``); its index.

        It is not started (``start_node``); the running nodes are not told of it:
        it dials the validators and follows the chain by block sync."""
        home = add_full_node(AddFullNodeOptions(network=self.directory))
        path = home / CONFIG_FILE
        save_node_config(dataclasses.replace(load_node_config(path), consensus=self.timeouts),
                         path)
        self.nodes.append(self._describe(home.name))
        return len(self.nodes) - 1

    def _describe(self, node_id: str) -> DevnetNode:
        config: NodeConfig = load_node_config(self.directory / node_id / CONFIG_FILE)
        return DevnetNode(node_id, config.home, str(config.client_listen),
                          str(config.p2p.listen), str(config.metrics_listen))

    # ---- processes ---------------------------------------------------------------

    @property
    def client_endpoints(self) -> list[str]:
        return [node.client for node in self.nodes]

    def start(self, wait_s: float = START_WAIT_S) -> Devnet:
        """Prepare, start every node, wait until each committed a block."""
        self.prepare()
        try:
            for index in range(len(self.nodes)):
                self.start_node(index)
            self.wait_for_height(1, wait_s)
        except BaseException:
            self.stop()
            raise
        return self

    def start_node(self, index: int, environment: Mapping[str, str] | None = None) -> None:
        """Start node ``index``'s process (its log is appended to home/node.log).

        ``environment``: extra variables for this start only, over ``self.environment``
        (e.g. ``ZONECHAIN_FAILPOINTS`` for one crash test)."""
        node = self.nodes[index]
        if node.running:
            return
        variables = {**os.environ, **self.environment, **(environment or {})}
        with (node.home / LOG_FILE).open("ab") as log:
            node.process = subprocess.Popen(
                [self.python, "-m", "zonechain.node.cli", "node", "--home", str(node.home)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env=variables)

    def kill(self, index: int) -> None:
        """SIGKILL node ``index`` (a crash: no clean shutdown) and reap it."""
        process = self.nodes[index].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def terminate(self, index: int, timeout_s: float = STOP_WAIT_S) -> int | None:
        """SIGTERM node ``index``; its exit code (None if it had to be killed)."""
        process = self.nodes[index].process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return None
        return process.returncode

    def stop(self, timeout_s: float = STOP_WAIT_S) -> dict[str, int | None]:
        """Stop every node (SIGTERM, then SIGKILL after ``timeout_s``); exit codes by node."""
        for node in self.nodes:
            if node.running and node.process is not None:
                node.process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            process = node.process
            if process is None:
                continue
            try:
                codes[node.node_id] = process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                codes[node.node_id] = None
        return codes

    def status(self, index: int) -> services_pb2.StatusResponse | None:
        return node_status(self.nodes[index].client)

    def heights(self) -> list[int | None]:
        """Each node's committed height (None: not answering)."""
        answers = [self.status(index) for index in range(len(self.nodes))]
        return [None if answer is None else answer.height for answer in answers]

    def wait_for_height(self, height: int, timeout_s: float,
                        nodes: list[int] | None = None) -> None:
        """Poll Status until every node in ``nodes`` (default all) reached ``height``."""
        chosen = list(range(len(self.nodes))) if nodes is None else nodes
        deadline = time.monotonic() + timeout_s
        while True:
            for index in chosen:
                process = self.nodes[index].process
                if process is not None and process.poll() is not None:
                    node = self.nodes[index]
                    raise DevnetError(f"{node.node_id} exited with code {process.returncode}:\n"
                                      f"{node.log_tail()}")
            heights = [self.status(index) for index in chosen]
            if all(answer is not None and answer.height >= height for answer in heights):
                return
            if time.monotonic() > deadline:
                seen = [None if answer is None else answer.height for answer in heights]
                raise DevnetError(f"nodes {chosen} did not reach height {height} within "
                                  f"{timeout_s} s (heights {seen})")
            time.sleep(POLL_S)  # polling interval between Status calls, not synchronisation

    def __enter__(self) -> Devnet:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


# ---- the commands --------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = subparsers.add_parser("node", help="run one node from its home directory",
                                 description="Run the node configured in DIR/config.toml "
                                             "until SIGTERM or SIGINT.")
    node.add_argument("--home", type=Path, required=True, metavar="DIR",
                      help="the node's directory (as written by `zonechain init`)")
    node.set_defaults(handler=run_node)
    devnet = subparsers.add_parser(
        "devnet", help="run a local network of validator processes",
        description="Start N validators on 127.0.0.1 (init on first use), print their "
                    "endpoints, stop them on Ctrl-C.")
    devnet.add_argument("--validators", type=int, default=VALIDATORS_DEFAULT, metavar="N",
                        help=f"validators when creating the network (default "
                             f"{VALIDATORS_DEFAULT})")
    devnet.add_argument("--permissions", default="none", metavar="pilot|none|FILE",
                        help="organisations and zones when creating the network (as "
                             "`zonechain init --permissions`; default none)")
    devnet.add_argument("--full-nodes", type=int, default=0, metavar="M",
                        help="non-voting full nodes when creating the network (default 0)")
    devnet.add_argument("--dir", type=Path, default=DEVNET_DIR_DEFAULT, metavar="D",
                        help=f"network directory (default {DEVNET_DIR_DEFAULT})")
    devnet.add_argument("--reset", action="store_true",
                        help="delete the network in D and start from a fresh genesis")
    devnet.add_argument("--base-port", type=int, default=None, metavar="P",
                        help=f"first port when creating the network (default "
                             f"{BASE_PORT_DEFAULT}, or a free block)")
    devnet.set_defaults(handler=run_devnet)


class _StopRequested(Exception):
    pass


def run_node(arguments: argparse.Namespace) -> int:
    from zonechain.node.node import Node, NodeStartError

    try:
        node = Node(arguments.home)
    except NodeStartError as error:
        raise UserError(str(error)) from None
    try:
        node.start()
    except NodeStartError as error:
        print(f"zonechain node: {error}", file=sys.stderr)
        return EXIT_FAILED

    def on_signal(signum: int, frame: FrameType | None) -> None:
        node.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not node.wait(1.0):
        pass
    node.stop()
    return EXIT_FAILED if node.fault is not None else EXIT_OK


def run_devnet(arguments: argparse.Namespace) -> int:
    if not 1 <= arguments.validators <= 64:
        raise UserError("--validators must be in 1..64 for a local devnet")
    if not 0 <= arguments.full_nodes <= FULL_NODES_MAX:
        raise UserError(f"--full-nodes must be in 0..{FULL_NODES_MAX}")
    devnet = Devnet(arguments.dir, arguments.validators, reset=arguments.reset,
                    base_port=arguments.base_port, full_nodes=arguments.full_nodes,
                    permissions=arguments.permissions)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise _StopRequested

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        try:
            created = devnet.prepare()
            print(f"{'created' if created else 'reusing'} devnet in {devnet.directory} "
                  f"({len(devnet.nodes)} nodes); starting nodes...", flush=True)
            devnet.start()
        except DevnetError as error:
            print(f"zonechain devnet: {error}", file=sys.stderr)
            return EXIT_FAILED
        _print_table(devnet)
        _watch(devnet)
    except _StopRequested:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        codes = devnet.stop()
        if codes:
            print(f"stopped {len(codes)} node(s): "
                  + ", ".join(f"{name} exit {code}" for name, code in codes.items()), flush=True)
    return EXIT_OK


def _print_table(devnet: Devnet) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"zonechain devnet ({devnet.directory})")
    for column in ("node", "client gRPC", "p2p", "metrics", "height", "log"):
        table.add_column(column)
    for index, node in enumerate(devnet.nodes):
        status = devnet.status(index)
        table.add_row(node.node_id, node.client, node.p2p, f"http://{node.metrics}/metrics",
                      "?" if status is None else str(status.height),
                      str((node.home / LOG_FILE).relative_to(devnet.directory)))
    # Piped output has no terminal width: keep endpoints whole rather than cut them.
    console = Console(width=None if sys.stdout.isatty() else PIPED_TABLE_WIDTH)
    console.print(table)
    console.print("Press Ctrl-C to stop the devnet.")


def _watch(devnet: Devnet) -> None:
    """Wait for Ctrl-C / SIGTERM; report a node that exits meanwhile."""
    reported: set[str] = set()
    while True:
        for node in devnet.nodes:
            process = node.process
            if process is not None and process.poll() is not None and node.node_id not in reported:
                reported.add(node.node_id)
                print(f"{node.node_id} exited with code {process.returncode}; log tail:\n"
                      f"{node.log_tail()}", file=sys.stderr, flush=True)
        with contextlib.suppress(InterruptedError):
            time.sleep(1.0)  # idle wait for a signal; nothing is synchronised on it
        if os.environ.get("ZONECHAIN_DEVNET_EXIT_AFTER_START") == "1":
            return
