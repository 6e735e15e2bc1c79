"""`zonechain keys|deploy|call|query|tx|events`: the SDK for people who don't write Python.

    zonechain keys new NAME [--dir D] [--passphrase-env VAR]
    zonechain keys show NAME [--dir D]
    zonechain deploy PATH --key K --zone Z [--init-args JSON] [--abi F]
    zonechain call CONTRACT METHOD [ARGS_JSON] --abi F --key K --zone Z
    zonechain query CONTRACT METHOD [ARGS_JSON] --abi F [--key K] [--prove --genesis G]
    zonechain tx HASH
    zonechain events CONTRACT --abi F [--from-height H | --cursor C] [--follow]
    zonechain governance propose|approve|show|list ...   (sdk/governance_cli.py)

Common options: ``--node host:port`` (repeatable; default ``$ZONECHAIN_NODES``,
comma-separated, else the first devnet node's client port), ``--tls-ca FILE``,
``--timeout S`` (per request), ``--json`` (one JSON object per result or
event on stdout).

Guarantees:
- Every command is a thin layer over zonechain.sdk: what the SDK checks
  (ABI arguments, key files, receipts, proofs) the CLI checks the same way.
- Exit codes mean one thing each (``EXIT_CODES`` maps EVERY SDK exception
  class; a test fails when a new class is left unmapped): 0 ok; 1 the
  transaction or call failed (contract error, out of gas, permission denied,
  mempool rejection); 2 bad usage or input (bad JSON, an ABI argument error
  naming the parameter, a missing key file, a wrong passphrase, no such
  contract or transaction); 3 the node is unreachable, timed out, busy or
  broken; 4 verification failed; 130 interrupted.
- No traceback for any of these: one line on stderr (``zonechain CMD: ...``)
  and, with ``--json``, an ``{"error": ...}`` object on stdout.
- ``--key`` also takes an account file that ``zonechain init`` wrote
  (DIR/accounts/NAME.key, unencrypted: devnet accounts); no passphrase is asked.
- A private key is never printed; passphrases come from the terminal
  (getpass) or, for scripts, from the environment variable ``--passphrase-env``.

JSON arguments: ``ARGS_JSON`` is an array (positional) or an object (by
parameter name). ``address`` values are ``zc...`` text (or ``0x`` + hex),
``bytes``/``hash`` are ``0x`` + hex, integers are JSON numbers (or decimal
strings, for u128 values that other tools cannot hold). Results and events
are written back in the same forms.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from zonechain.contracts.abi import INTEGER_RANGES, AbiType, ContractAbi, Method
from zonechain.node.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UserError
from zonechain.node.config import KEY_FILE_TYPE as INIT_KEY_FILE_TYPE
from zonechain.node.config import (
    ConfigError,
    GenesisError,
    load_genesis,
    load_key_seed,
    parse_host_port,
)
from zonechain.node.init_cli import BASE_PORT_DEFAULT, CLIENT_PORT_OFFSET
from zonechain.node.types.address import account_address, format_address
from zonechain.node.types.receipt import Receipt
from zonechain.sdk.client import DEFAULT_TIMEOUT_S, DEFAULT_WAIT_TIMEOUT_S, Client
from zonechain.sdk.contract import (
    decode_events,
    decode_result,
    encode_call,
    init_arguments,
    locate_artifacts,
    resolve_abi,
)
from zonechain.sdk.errors import (
    AbiArgumentError,
    ConnectionFailed,
    ContractError,
    InvalidRequest,
    InvalidTransaction,
    KeyFileError,
    MempoolRejected,
    NodeBusy,
    NodeError,
    NotFound,
    OutOfGas,
    PermissionDenied,
    QueryFailed,
    RequestRejected,
    Timeout,
    TransactionFailed,
    TransportError,
    Unauthorized,
    Unsupported,
    VerificationFailed,
    WrongPassphrase,
    ZonechainError,
)
from zonechain.sdk.keys import KEY_FILE_BYTES_MAX, KEY_FILE_KIND, Key, load_key, save_key
from zonechain.sdk.responses import EventRecord
from zonechain.sdk.transactions import DEFAULT_GAS_LIMIT, to_address
from zonechain.sdk.verify import Verifier
from zonechain.vm.state import contract_meta_key

EXIT_NODE: Final = 3
"""The node could not be asked: unreachable, too slow, busy, or it misbehaved."""
EXIT_VERIFICATION: Final = 4
"""A proof or commit certificate did not check out."""

EXIT_CODES: Final[dict[type[ZonechainError], int]] = {
    ZonechainError: EXIT_FAILED,
    TransportError: EXIT_NODE,
    ConnectionFailed: EXIT_NODE,
    Timeout: EXIT_NODE,
    RequestRejected: EXIT_FAILED,
    MempoolRejected: EXIT_FAILED,
    InvalidRequest: EXIT_USAGE,
    NotFound: EXIT_USAGE,
    Unauthorized: EXIT_FAILED,
    Unsupported: EXIT_NODE,
    NodeBusy: EXIT_NODE,
    NodeError: EXIT_NODE,
    TransactionFailed: EXIT_FAILED,
    ContractError: EXIT_FAILED,
    OutOfGas: EXIT_FAILED,
    PermissionDenied: EXIT_FAILED,
    QueryFailed: EXIT_FAILED,
    VerificationFailed: EXIT_VERIFICATION,
    InvalidTransaction: EXIT_USAGE,
    KeyFileError: EXIT_USAGE,
    WrongPassphrase: EXIT_USAGE,
    AbiArgumentError: EXIT_USAGE,
}
"""The exit code of every SDK exception class (explicit: no class inherits one by accident)."""

NODES_ENV: Final = "ZONECHAIN_NODES"
KEYS_DIR_ENV: Final = "ZONECHAIN_KEYS_DIR"
ZONE_ENV: Final = "ZONECHAIN_ZONE"
GENESIS_ENV: Final = "ZONECHAIN_GENESIS"
DEFAULT_NODE: Final = f"127.0.0.1:{BASE_PORT_DEFAULT + CLIENT_PORT_OFFSET}"
"""node0 of a default `zonechain devnet` (docs/OPERATIONS.md, Ports)."""
DEFAULT_KEYS_DIR: Final = Path("~/.zonechain/keys")
KEY_FILE_SUFFIX: Final = ".key.json"
KEYS_DIR_MODE: Final = 0o700
EVENT_POLL_S: Final = 0.25
"""How often the events loop wakes to notice Ctrl-C while the stream is quiet."""
EVENTS_QUIET_S: Final = 1.0
"""Without --follow: a live stream that sends nothing for this long has delivered
everything the node had (history comes back-to-back; only the tip waits)."""
FOLLOW_RECONNECT_S: Final = 1.0
"""With --follow: the pause before re-opening a stream that ended or broke."""
reconnect_pause: Callable[[float], None] = time.sleep
"""The seam tests replace to stop a --follow loop (a Ctrl-C) without waiting."""


def exit_code(error: ZonechainError) -> int:
    """The exit code of ``error``: its own class's, else its nearest mapped base's."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_FAILED


# --- registration ----------------------------------------------------------------------


def register(subparsers: Any) -> None:
    network = _network_options()
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="one JSON object per result")
    _register_keys(subparsers, output)
    _register_deploy(subparsers, network)
    _register_call(subparsers, network)
    _register_query(subparsers, network)
    tx = subparsers.add_parser("tx", parents=[network], help="a transaction's status and receipt")
    tx.add_argument("hash", help="transaction hash (64 hex digits)")
    tx.set_defaults(handler=_guarded(run_tx))
    _register_events(subparsers, network)
    from zonechain.sdk.governance_cli import register_governance

    register_governance(subparsers, network)


def _network_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--node", action="append", metavar="HOST:PORT",
                        help=f"node endpoint, repeatable (default ${NODES_ENV} or {DEFAULT_NODE})")
    common.add_argument("--tls-ca", type=Path, metavar="FILE",
                        help="CA certificate (PEM) to reach the node over TLS")
    common.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"per-request deadline in seconds (default {DEFAULT_TIMEOUT_S})")
    common.add_argument("--json", action="store_true", help="one JSON object per result")
    return common


def _signer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, metavar="K",
                        help=f"key name (in ${KEYS_DIR_ENV} or {DEFAULT_KEYS_DIR}) or file")
    parser.add_argument("--passphrase-env", metavar="VAR",
                        help="read the key's passphrase from this environment variable")
    parser.add_argument("--zone", default=os.environ.get(ZONE_ENV), metavar="Z",
                        help=f"zone of the transaction (default ${ZONE_ENV})")
    parser.add_argument("--gas-limit", type=int, default=DEFAULT_GAS_LIMIT, metavar="G")
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT_TIMEOUT_S, metavar="S",
                        help="how long to wait for the receipt (default "
                             f"{DEFAULT_WAIT_TIMEOUT_S} s)")


def _register_keys(subparsers: Any, output: argparse.ArgumentParser) -> None:
    keys = subparsers.add_parser("keys", help="create and show signing keys")
    commands = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    keys.set_defaults(handler=_keys_usage)
    new = commands.add_parser("new", parents=[output], help="create an encrypted key file")
    show = commands.add_parser("show", parents=[output], help="address and public key")
    for parser in (new, show):
        parser.add_argument("name", help="key name (file NAME.key.json) or a key file path")
        parser.add_argument("--dir", type=Path, metavar="D",
                            help=f"key folder (default ${KEYS_DIR_ENV} or {DEFAULT_KEYS_DIR})")
    new.add_argument("--passphrase-env", metavar="VAR",
                     help="read the passphrase from this environment variable (scripts)")
    new.set_defaults(handler=_guarded(run_keys_new))
    show.set_defaults(handler=_guarded(run_keys_show))


def _register_deploy(subparsers: Any, network: argparse.ArgumentParser) -> None:
    deploy = subparsers.add_parser("deploy", parents=[network], help="deploy a built contract")
    deploy.add_argument("path", type=Path, help="NAME.wasm (ABI beside it) or a build folder")
    deploy.add_argument("--abi", type=Path, metavar="F", help="ABI file, if not beside the code")
    deploy.add_argument("--init-args", default=None, metavar="JSON",
                        help="arguments of the contract's init method (JSON array or object)")
    _signer_options(deploy)
    deploy.set_defaults(handler=_guarded(run_deploy))


def _register_call(subparsers: Any, network: argparse.ArgumentParser) -> None:
    call = subparsers.add_parser("call", parents=[network],
                                 help="send a signed call of a contract method")
    _contract_method_arguments(call)
    _signer_options(call)
    call.set_defaults(handler=_guarded(run_call))


def _register_query(subparsers: Any, network: argparse.ArgumentParser) -> None:
    query = subparsers.add_parser("query", parents=[network],
                                  help="run a read-only contract method")
    _contract_method_arguments(query)
    query.add_argument("--prove", action="store_true",
                       help="prove (Merkle proof + validator signatures) that the contract "
                            "exists; the view result itself has no proof")
    query.add_argument("--genesis", type=Path, default=None, metavar="G",
                       help=f"genesis file naming the trusted validators (default ${GENESIS_ENV})")
    query.add_argument("--key", default=None, metavar="K",
                       help="sign the query as this reader (needed in a zone whose read "
                            "policy is not open)")
    query.add_argument("--passphrase-env", metavar="VAR",
                       help="read the key's passphrase from this environment variable")
    query.set_defaults(handler=_guarded(run_query))


def _contract_method_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("contract", help="contract address (zc...)")
    parser.add_argument("method", help="method name from the ABI")
    parser.add_argument("args", nargs="?", default=None, metavar="ARGS_JSON",
                        help="arguments: a JSON array (positional) or object (by name)")
    parser.add_argument("--abi", type=Path, required=True, metavar="F", help="the ABI file")


def _register_events(subparsers: Any, network: argparse.ArgumentParser) -> None:
    events = subparsers.add_parser("events", parents=[network],
                                   help="a contract's events, decoded with its ABI")
    events.add_argument("contract", help="contract address (zc...)")
    events.add_argument("--abi", type=Path, required=True, metavar="F", help="the ABI file")
    start = events.add_mutually_exclusive_group()
    start.add_argument("--from-height", type=int, default=1, metavar="H")
    start.add_argument("--cursor", default=None, metavar="C",
                       help="resume where an earlier run stopped (it prints the cursor)")
    events.add_argument("--follow", action="store_true",
                        help="keep printing new events until Ctrl-C")
    events.set_defaults(handler=_guarded(run_events))


def _keys_usage(arguments: argparse.Namespace) -> int:
    raise UserError("a subcommand is required: new or show")


# --- errors -------------------------------------------------------------------------------


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``handler`` with every SDK error turned into its message and exit code."""
    def run(arguments: argparse.Namespace) -> int:
        try:
            return handler(arguments)
        except ZonechainError as error:
            return _report(arguments, error)
        except UserError as error:
            if getattr(arguments, "json", False):
                _emit_json({"error": {"kind": "UsageError", "message": str(error),
                                      "exit_code": EXIT_USAGE}})
            raise

    return run


def _report(arguments: argparse.Namespace, error: ZonechainError) -> int:
    code = exit_code(error)
    print(f"zonechain {arguments.command}: {type(error).__name__}: {error}", file=sys.stderr)
    tx_hash = getattr(error, "tx_hash", None)
    if isinstance(error, Timeout) and tx_hash:
        print(f"  it may still commit; check with: zonechain tx {tx_hash.hex()}", file=sys.stderr)
    if arguments.json:
        _emit_json({"error": _error_json(error, code)})
    return code


def _error_json(error: ZonechainError, code: int) -> dict[str, Any]:
    document: dict[str, Any] = {"kind": type(error).__name__, "message": str(error),
                                "exit_code": code}
    for name in ("code", "reason_code", "parameter"):
        value = getattr(error, name, None)
        if value is not None:
            document[name] = value
    if isinstance(error, TransactionFailed):
        document["message"] = error.message
        document["gas_used"] = error.receipt.gas_used
    tx_hash = getattr(error, "tx_hash", None)
    if isinstance(tx_hash, bytes):
        document["tx_hash"] = tx_hash.hex()
    return document


# --- output -------------------------------------------------------------------------------


def _emit_json(document: dict[str, Any]) -> None:
    print(json.dumps(document, sort_keys=True), flush=True)


def _print_fields(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    Console(file=sys.stdout, width=100).print(table)


def value_to_json(abi_type: AbiType | None, value: Any) -> Any:
    """A decoded ABI value as JSON: addresses as zc text, bytes and hashes as 0x hex."""
    if value is None or abi_type is None:
        return value
    kind = abi_type.kind
    if kind == "address":
        return format_address(value)
    if kind in ("hash", "bytes"):
        return "0x" + bytes(value).hex()
    if kind == "list":
        return [value_to_json(abi_type.item, item) for item in value]
    if kind == "optional":
        return value_to_json(abi_type.item, value)
    return value


def _display(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --- JSON arguments -----------------------------------------------------------------------


def parse_json_arguments(text: str | None, what: str) -> tuple[list[Any], dict[str, Any]]:
    """``ARGS_JSON`` as (positional, named); UserError if it is not an array or object."""
    if text is None:
        return [], {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{what} is not valid JSON: {error}") from None
    if isinstance(document, list):
        return document, {}
    if isinstance(document, dict):
        return [], document
    raise UserError(f"{what} must be a JSON array (positional) or object (by parameter name)")


def method_arguments(method: Method, text: str | None,
                     what: str = "ARGS_JSON") -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The JSON arguments of ``method`` as Python values of its parameter types."""
    positional, named = parse_json_arguments(text, what)
    by_name = {param.name: param for param in method.params}
    converted = [
        value_from_json(method.params[index].type, value, method.params[index].name)
        if index < len(method.params) else value
        for index, value in enumerate(positional)
    ]
    converted_named = {
        name: value_from_json(by_name[name].type, value, name) if name in by_name else value
        for name, value in named.items()
    }
    return tuple(converted), converted_named


def value_from_json(abi_type: AbiType, value: Any, parameter: str) -> Any:
    """A JSON value as the Python value of ``abi_type``; what does not fit is left to the ABI."""
    kind = abi_type.kind
    if kind in ("address", "hash", "bytes") and isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            raise AbiArgumentError(f"argument {parameter!r}: {value!r} is not 0x + hex",
                                   parameter) from None
    if kind in INTEGER_RANGES and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if kind == "list" and isinstance(value, list) and abi_type.item is not None:
        return [value_from_json(abi_type.item, item, parameter) for item in value]
    if kind == "optional" and value is not None and abi_type.item is not None:
        return value_from_json(abi_type.item, value, parameter)
    return value


# --- keys ---------------------------------------------------------------------------------


def key_path(name: str, folder: Path | None = None) -> Path:
    """The key file of ``name``: a path as given, else ``NAME.key.json`` in the key folder."""
    if os.sep in name or name.endswith(".json"):
        return Path(name).expanduser()
    base = folder or Path(os.environ.get(KEYS_DIR_ENV) or DEFAULT_KEYS_DIR)
    return base.expanduser() / f"{name}{KEY_FILE_SUFFIX}"


def read_passphrase(variable: str | None, prompt: str, *, confirm: bool = False) -> str:
    if variable:
        value = os.environ.get(variable)
        if value is None:
            raise UserError(f"environment variable {variable} (--passphrase-env) is not set")
        return value
    try:
        passphrase = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat the passphrase: ") != passphrase:
            raise UserError("the two passphrases differ")
    except EOFError:
        raise UserError("no passphrase given (use --passphrase-env VAR in scripts)") from None
    return passphrase


def run_keys_new(arguments: argparse.Namespace) -> int:
    path = key_path(arguments.name, arguments.dir)
    if path.exists():
        raise UserError(f"{path} exists; choose another name (a key is never overwritten)")
    passphrase = read_passphrase(arguments.passphrase_env, f"Passphrase for {path.name}: ",
                                 confirm=True)
    if not passphrase:
        raise UserError("the passphrase must not be empty")
    key = Key.generate()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=KEYS_DIR_MODE)
        save_key(key, path, passphrase)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot write {path}: {error}") from None
    _show_key(arguments, path, key.address_text, key.public_key.hex())
    return EXIT_OK


def run_keys_show(arguments: argparse.Namespace) -> int:
    path = key_path(arguments.name, arguments.dir)
    address, public_key = read_public_fields(path)
    _show_key(arguments, path, address, public_key)
    return EXIT_OK


def read_public_fields(path: Path) -> tuple[str, str]:
    """The address and public key a key file states (no passphrase needed), checked consistent."""
    try:
        raw = path.read_bytes()[: KEY_FILE_BYTES_MAX + 1]
        document = json.loads(raw)
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read key file: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{path}: not a JSON key file") from None
    if not isinstance(document, dict) or document.get("kind") != KEY_FILE_KIND:
        raise KeyFileError(f"{path}: not a zonechain key file")
    address, public_key = document.get("address"), document.get("public_key")
    try:
        derived = format_address(account_address(bytes.fromhex(str(public_key))))
    except ValueError:
        raise KeyFileError(f"{path}: the public key is not 32 bytes of hex") from None
    if derived != address:
        raise KeyFileError(f"{path}: the address does not belong to the public key")
    return derived, str(public_key)


def _show_key(arguments: argparse.Namespace, path: Path, address: str, public_key: str) -> None:
    if arguments.json:
        _emit_json({"name": arguments.name, "file": str(path), "address": address,
                    "public_key": public_key})
        return
    _print_fields(f"key {arguments.name}", [("address", address), ("public key", public_key),
                                            ("file", str(path))])


def load_signer(arguments: argparse.Namespace) -> Key:
    path = key_path(arguments.key)
    if not path.is_file():
        raise KeyFileError(f"{path}: no such key file (create one: zonechain keys new NAME)")
    account = _init_account_key(path)
    if account is not None:
        return account
    passphrase = read_passphrase(arguments.passphrase_env, f"Passphrase for {path.name}: ")
    return load_key(path, passphrase)


def _init_account_key(path: Path) -> Key | None:
    """The key of an account file ``zonechain init`` wrote (DIR/accounts/NAME.key), else None.

    Those files are unencrypted (mode 0600, like the validator keys): a devnet's
    accounts, never a business's key. Anything else is left to ``load_key``.
    """
    try:
        if path.stat().st_size > KEY_FILE_BYTES_MAX:
            return None
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("type") != INIT_KEY_FILE_TYPE:
        return None
    try:
        seed, public_key = load_key_seed(path)
    except ConfigError as error:
        raise KeyFileError(str(error)) from None
    key = Key.from_seed(seed)
    if key.public_key != public_key:
        raise KeyFileError(f"{path}: the seed does not give the stored public key")
    return key


# --- connecting -----------------------------------------------------------------------------


def endpoints(arguments: argparse.Namespace) -> list[str]:
    listed = arguments.node or [
        item.strip() for item in (os.environ.get(NODES_ENV) or DEFAULT_NODE).split(",")
        if item.strip()]
    for endpoint in listed:
        try:
            parse_host_port(endpoint)
        except ValueError as error:
            raise UserError(f"--node: {error}") from None
    return listed


def connect(arguments: argparse.Namespace, verifier: Verifier | None = None) -> Client:
    if arguments.timeout <= 0:
        raise UserError("--timeout must be positive")
    certificate: bytes | None = None
    if arguments.tls_ca is not None:
        try:
            certificate = arguments.tls_ca.read_bytes()
        except OSError as error:
            raise UserError(f"--tls-ca {arguments.tls_ca}: {error.strerror}") from None
    return Client(endpoints(arguments), timeout_s=arguments.timeout,
                  tls_root_cert=certificate, verifier=verifier)


def _zone(arguments: argparse.Namespace) -> str:
    if not arguments.zone:
        raise UserError(f"--zone is required (or set ${ZONE_ENV})")
    return str(arguments.zone)


def _contract_address(text: str) -> bytes:
    try:
        return to_address(text, "contract")
    except InvalidTransaction as error:
        raise UserError(str(error)) from None


# --- deploy, call, query ----------------------------------------------------------------------


def run_deploy(arguments: argparse.Namespace) -> int:
    code, abi = locate_artifacts(arguments.path, arguments.abi)
    if arguments.init_args is not None and "init" in abi.method_names:
        args, kwargs = method_arguments(abi.method("init"), arguments.init_args, "--init-args")
    else:
        positional, kwargs = parse_json_arguments(arguments.init_args, "--init-args")
        args = tuple(positional)
    init_args = init_arguments(abi, args, kwargs)
    zone = _zone(arguments)
    key = load_signer(arguments)
    with connect(arguments) as client:
        receipt = client.deploy(key, code, init_args, zone=zone, gas_limit=arguments.gas_limit,
                                timeout_s=arguments.wait)
    address = format_address(receipt.created_contract or b"")
    if arguments.json:
        _emit_json({"contract": address, "abi": abi.contract, **_receipt_json(receipt)})
    else:
        print(f"deployed {abi.contract} at {address}")
        print(f"  tx {receipt.tx_hash.hex()}  gas used {receipt.gas_used}")
    return EXIT_OK


def run_call(arguments: argparse.Namespace) -> int:
    address = _contract_address(arguments.contract)
    abi = resolve_abi(arguments.abi)
    method = _method(abi, arguments.method)
    if method.readonly:
        raise UserError(f"{method.name!r} is read-only: use `zonechain query`")
    args, kwargs = method_arguments(method, arguments.args)
    _, encoded = encode_call(abi, method.name, args, kwargs)
    zone = _zone(arguments)
    key = load_signer(arguments)
    with connect(arguments) as client:
        receipt = client.call_contract(key, address, method.name, encoded, zone=zone,
                                       gas_limit=arguments.gas_limit, timeout_s=arguments.wait)
    result = value_to_json(method.returns, decode_result(method, receipt.return_data))
    events = [_event_json(abi, event.name, event.fields)
              for event in decode_events(abi, address, receipt.events)]
    if arguments.json:
        _emit_json({"result": result, "events": events, **_receipt_json(receipt)})
        return EXIT_OK
    print(f"{method.name}: ok  (tx {receipt.tx_hash.hex()}, gas used {receipt.gas_used})")
    if method.returns is not None:
        print(f"result: {_display(result)}")
    for event in events:
        print(f"event {event['event']}: {_fields_text(event['fields'])}")
    return EXIT_OK


def run_query(arguments: argparse.Namespace) -> int:
    address = _contract_address(arguments.contract)
    abi = resolve_abi(arguments.abi)
    method = _method(abi, arguments.method)
    if not method.readonly:
        raise UserError(f"{method.name!r} changes state: use `zonechain call`")
    args, kwargs = method_arguments(method, arguments.args)
    _, encoded = encode_call(abi, method.name, args, kwargs)
    verifier = _verifier(arguments) if arguments.prove else None
    reader = load_signer(arguments) if arguments.key else None
    with connect(arguments, verifier) as client:
        client.key = reader  # signs the view call and the proven read of the contract record
        height = _proven_height(client, address) if verifier is not None else None
        answer = client.query(address, method.name, encoded)
    result = value_to_json(method.returns, decode_result(method, answer.return_data))
    if arguments.json:
        _emit_json({"result": result, "height": answer.height,
                    "contract_proven_at": height})
    else:
        print(_display(result))
        if height is not None:
            print(f"(the contract's record is proven at height {height} under a state root "
                  "signed by > 2/3 of the genesis validators; the result, at height "
                  f"{answer.height}, is computed by the node: view calls have no proof)",
                  file=sys.stderr)
    return EXIT_OK


def _method(abi: ContractAbi, name: str) -> Method:
    if name not in abi.method_names or name == "init":
        raise AbiArgumentError(f"contract {abi.contract!r} has no callable method {name!r} "
                               f"(methods: {[m for m in abi.method_names if m != 'init']})")
    return abi.method(name)


def _verifier(arguments: argparse.Namespace) -> Verifier:
    path = arguments.genesis or os.environ.get(GENESIS_ENV)
    if not path:
        raise UserError(f"--prove needs the network's genesis file (--genesis or ${GENESIS_ENV}): "
                        "it names the validators whose signatures are checked")
    try:
        genesis = load_genesis(Path(path))
    except GenesisError as error:
        raise UserError(str(error)) from None
    return Verifier.from_public_keys(
        genesis.chain_id, [(validator.public_key, validator.power)
                           for validator in genesis.validators])


def _proven_height(client: Client, address: bytes) -> int:
    """The newest provable height, at which the contract's record is proven to exist.

    A contract record is never deleted (addresses are not reused), so a contract
    proven at that height still exists at the later height the view call runs at.
    """
    record = client.read_state(contract_meta_key(address), verify=True)
    if record.value is None:
        raise NotFound(f"contract {format_address(address)} does not exist at height "
                       f"{record.height} (its absence is proven)")
    return record.height


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {"tx_hash": receipt.tx_hash.hex(), "status": receipt.status.name.lower(),
            "gas_used": receipt.gas_used}


def _event_json(abi: ContractAbi, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    spec = abi.event(name)
    types = {field.name: field.type for field in spec.fields}
    return {"event": name,
            "fields": {key: value_to_json(types.get(key), value) for key, value in fields.items()}}


def _fields_text(fields: dict[str, Any]) -> str:
    return " ".join(f"{name}={_display(value)}" for name, value in fields.items())


# --- tx -------------------------------------------------------------------------------------


def run_tx(arguments: argparse.Namespace) -> int:
    try:
        tx_hash = bytes.fromhex(arguments.hash.removeprefix("0x"))
    except ValueError:
        raise UserError(f"{arguments.hash!r} is not a hex transaction hash") from None
    if len(tx_hash) != 32:
        raise UserError(f"a transaction hash is 32 bytes (64 hex digits), got {len(tx_hash)}")
    with connect(arguments) as client:
        info = client.get_transaction(tx_hash)
        receipt = client.get_receipt(tx_hash)
    if info is None and receipt is None:
        raise NotFound(f"the node does not know transaction {tx_hash.hex()}")
    document: dict[str, Any] = {"tx_hash": tx_hash.hex(), "pending": receipt is None}
    if info is not None and not info.pending:
        document.update(height=info.height, index=info.index)
    if receipt is not None:
        document.update(_receipt_document(receipt))
    _show_tx(arguments, document)
    return EXIT_OK if receipt is None or receipt.succeeded else EXIT_FAILED


def _receipt_document(receipt: Receipt) -> dict[str, Any]:
    document = _receipt_json(receipt)
    if receipt.error_code:
        document.update(error_code=receipt.error_code, error_message=receipt.error_message)
    if receipt.created_contract is not None:
        document["created_contract"] = format_address(receipt.created_contract)
    if receipt.return_data:
        document["return_data"] = "0x" + receipt.return_data.hex()
    document["events"] = [
        {"contract": format_address(event.contract),
         "topic": event.topic.decode("utf-8", "replace"), "data": "0x" + event.data.hex()}
        for event in receipt.events]
    return document


def _show_tx(arguments: argparse.Namespace, document: dict[str, Any]) -> None:
    if arguments.json:
        _emit_json(document)
        return
    rows = [(name, _display(value)) for name, value in document.items() if name != "events"]
    rows += [(f"event {index}", f"{event['topic']} from {event['contract']} {event['data']}")
             for index, event in enumerate(document.get("events", []))]
    _print_fields("transaction", rows)


# --- events ---------------------------------------------------------------------------------


@dataclass
class Cursor:
    """Where an events run stands: ``count`` events of ``height`` already printed."""

    height: int
    count: int = 0

    def __str__(self) -> str:
        return f"{self.height}:{self.count}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        height, _, count = text.partition(":")
        if not height.isdigit() or not (count or "0").isdigit() or int(height) < 1:
            raise UserError(f"--cursor {text!r}: expected HEIGHT:COUNT as printed earlier")
        return cls(int(height), int(count or "0"))

    def printed(self, record: EventRecord) -> None:
        if record.height == self.height:
            self.count += 1
        else:
            self.height, self.count = record.height, 1


def run_events(arguments: argparse.Namespace) -> int:
    address = _contract_address(arguments.contract)
    abi = resolve_abi(arguments.abi)
    if arguments.from_height < 1:
        raise UserError("--from-height must be at least 1")
    cursor = Cursor.parse(arguments.cursor) if arguments.cursor else Cursor(arguments.from_height)
    printer = _EventPrinter(arguments, abi, address, cursor)
    with connect(arguments) as client:
        try:
            printer.run(client)
        except KeyboardInterrupt:
            printer.stopped()
            return EXIT_INTERRUPTED
        except ZonechainError:
            printer.stopped()
            raise
    printer.stopped()
    return EXIT_OK


class _EventPrinter:
    """Prints a contract's events from a cursor; with --follow, re-opens the stream there."""

    def __init__(self, arguments: argparse.Namespace, abi: ContractAbi, address: bytes,
                 cursor: Cursor) -> None:
        self.arguments, self.abi, self.address, self.cursor = arguments, abi, address, cursor

    def run(self, client: Client) -> None:
        while True:
            try:
                self.read(client)
            except TransportError as error:
                if not self.arguments.follow:
                    raise
                print(f"zonechain events: {error}; reconnecting", file=sys.stderr, flush=True)
            if not self.arguments.follow:
                return
            reconnect_pause(FOLLOW_RECONNECT_S)

    def read(self, client: Client) -> None:
        """One stream from the cursor; events printed before (``count``) are skipped."""
        height, skip = self.cursor.height, self.cursor.count
        stream = client.stream_events(height, contract=self.address)
        quiet_s = None if self.arguments.follow else EVENTS_QUIET_S
        for record in _background(stream, quiet_s):
            if record.height < height:
                continue
            if record.height == height and skip > 0:
                skip -= 1
                continue
            self.print(record)

    def print(self, record: EventRecord) -> None:
        self.cursor.printed(record)
        decoded = decode_events(self.abi, self.address, (record.event,))
        name = decoded[0].name if decoded else record.event.topic.decode("utf-8", "replace")
        fields = (_event_json(self.abi, name, decoded[0].fields)["fields"] if decoded
                  else {"data": "0x" + record.event.data.hex()})
        if self.arguments.json:
            _emit_json({"height": record.height, "tx_hash": record.tx_hash.hex(),
                        "event_index": record.event_index, "event": name,
                        "fields": fields, "cursor": str(self.cursor)})
        else:
            print(f"height {record.height}  tx {record.tx_hash.hex()[:16]}  {name}  "
                  f"{_fields_text(fields)}", flush=True)

    def stopped(self) -> None:
        """Say where to resume (stderr, so that --json output stays one object per event)."""
        print(f"resume with: --cursor {self.cursor}", file=sys.stderr, flush=True)


_END: Final = object()


def _background(records: Iterator[EventRecord], quiet_s: float | None) -> Iterator[EventRecord]:
    """``records`` read in a daemon thread, so that Ctrl-C is noticed while the stream waits.

    Ends when the stream ends or, with ``quiet_s``, when nothing came for that long;
    an error from the stream is raised here.
    """
    inbox: queue.Queue[object] = queue.Queue()

    def pump() -> None:
        try:
            for record in records:
                inbox.put(record)
        except BaseException as error:  # handed to the reading thread, raised there
            inbox.put(error)
        inbox.put(_END)

    threading.Thread(target=pump, name="zonechain-events", daemon=True).start()
    quiet_since = time.monotonic()
    while True:
        try:
            item = inbox.get(timeout=EVENT_POLL_S)
        except queue.Empty:
            if quiet_s is not None and time.monotonic() - quiet_since >= quiet_s:
                return
            continue
        quiet_since = time.monotonic()
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, EventRecord)
        yield item
