"""The same token transfer on py-evm (a peer VM) and on our VM, side by side.

The EVM side is a minimal ERC-20-style ``transfer(address,uint256)``,
assembled here from opcodes (``assemble``; no bytecode copied from anywhere):
balances live in storage at slot = holder address; the function checks the
selector and the sender's balance (revert if short), writes both balances,
logs ``Transfer(from, to, amount)`` and returns true. Overflow of the
receiver's balance is not checked (balances here are far below 2^256). It is
deployed at genesis of a py-evm ``MiningChain`` (London rules) with every
sender funded, and each transfer is a signed transaction applied with
``state.apply_transaction`` (sender recovery from the signature, intrinsic
gas, execution, state journal): py-evm's per-transaction work without block
assembly.

Our side: the zone token (contracts/zones/token) ``transfer`` through
``VirtualMachine.call`` on an in-memory state (execution only), and the same
plus the ed25519 verify of a signed transaction (our equivalent of sender
recovery).

py-evm is the optional extra ``bench``; without it the comparison is
skipped with a note (``available()``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import time
from typing import Any, Final

from zonechain.benchmarks.bench.workloads import contract_build
from zonechain.node.crypto import PrivateKey, sign_transaction, verify_signature
from zonechain.node.types.transaction import CallPayload, Transaction
from zonechain.vm.runtime import CallContext, VirtualMachine
from zonechain.vm.state import DictState

TRANSFER_SELECTOR: Final = 0xA9059CBB
"""First 4 bytes of keccak256("transfer(address,uint256)")."""
TRANSFER_TOPIC: Final = bytes.fromhex(
    "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
"""keccak256("Transfer(address,address,uint256)"), the ERC-20 event topic."""
EVM_GAS_LIMIT: Final = 100_000
OUR_GAS_LIMIT: Final = 200_000
START_BALANCE: Final = 10**12

OPCODES: Final = {
    "STOP": 0x00, "ADD": 0x01, "SUB": 0x03, "LT": 0x10, "EQ": 0x14, "SHR": 0x1C,
    "CALLER": 0x33, "CALLDATALOAD": 0x35, "POP": 0x50, "MSTORE": 0x52, "SLOAD": 0x54,
    "SSTORE": 0x55, "JUMPI": 0x57, "JUMPDEST": 0x5B, "DUP1": 0x80, "DUP2": 0x81,
    "DUP3": 0x82, "SWAP1": 0x90, "LOG3": 0xA3, "RETURN": 0xF3, "REVERT": 0xFD,
}
PUSH1: Final = 0x60
LABEL_BYTES: Final = 2

# Each item: an opcode name, ("PUSH", value, size), ("LABEL", name) or ("JUMP_TO", name).
Item = str | tuple[str, object] | tuple[str, object, int]

ERC20_TRANSFER: Final[tuple[Item, ...]] = (
    # selector = calldata[0:4]
    ("PUSH", 0, 1), "CALLDATALOAD", ("PUSH", 0xE0, 1), "SHR",
    ("PUSH", TRANSFER_SELECTOR, 4), "EQ", ("JUMP_TO", "transfer"), "JUMPI",
    ("LABEL", "fail"), ("PUSH", 0, 1), "DUP1", "REVERT",
    ("LABEL", "transfer"),
    ("PUSH", 0x24, 1), "CALLDATALOAD",                       # [amount]
    "CALLER", "SLOAD",                                       # [amount, from_balance]
    "DUP2", "DUP2", "LT", ("JUMP_TO", "fail"), "JUMPI",      # from_balance < amount: revert
    "DUP2", "SWAP1", "SUB", "CALLER", "SSTORE",              # balance[caller] -= amount
    ("PUSH", 0x04, 1), "CALLDATALOAD", "DUP1", "SLOAD",      # [amount, to, to_balance]
    "DUP3", "ADD", "SWAP1", "SSTORE",                        # balance[to] += amount
    ("PUSH", 0, 1), "MSTORE",                                # memory[0:32] = amount
    ("PUSH", 0x04, 1), "CALLDATALOAD", "CALLER",             # topics: to, from
    ("PUSH", int.from_bytes(TRANSFER_TOPIC, "big"), 32),
    ("PUSH", 32, 1), ("PUSH", 0, 1), "LOG3",
    ("PUSH", 1, 1), ("PUSH", 0, 1), "MSTORE",                # return true
    ("PUSH", 32, 1), ("PUSH", 0, 1), "RETURN",
)


class AssemblyError(ValueError):
    """An item the assembler does not know, or a jump to a missing label."""


def _size(item: Item) -> int:
    if isinstance(item, str):
        return 1
    kind = item[0]
    if kind == "LABEL":
        return 1  # a JUMPDEST
    if kind == "JUMP_TO":
        return 1 + LABEL_BYTES
    if kind == "PUSH" and len(item) == 3:
        size = item[2]
        assert isinstance(size, int)
        return 1 + size
    raise AssemblyError(f"unknown item {item!r}")


def assemble(items: tuple[Item, ...]) -> bytes:
    """EVM bytecode for ``items``; labels become JUMPDESTs, JUMP_TO a PUSH2 of the label."""
    labels: dict[object, int] = {}
    offset = 0
    for item in items:
        if isinstance(item, tuple) and item[0] == "LABEL":
            labels[item[1]] = offset
        offset += _size(item)
    code = bytearray()
    for item in items:
        if isinstance(item, str):
            if item not in OPCODES:
                raise AssemblyError(f"unknown opcode {item}")
            code.append(OPCODES[item])
        elif item[0] == "LABEL":
            code.append(OPCODES["JUMPDEST"])
        elif item[0] == "JUMP_TO":
            if item[1] not in labels:
                raise AssemblyError(f"jump to unknown label {item[1]!r}")
            code.append(PUSH1 + LABEL_BYTES - 1)
            code += labels[item[1]].to_bytes(LABEL_BYTES, "big")
        else:
            value, size = item[1], item[2]  # type: ignore[misc]
            assert isinstance(value, int) and isinstance(size, int)
            code.append(PUSH1 + size - 1)
            code += value.to_bytes(size, "big")
    return bytes(code)


def transfer_calldata(to: bytes, amount: int) -> bytes:
    return (TRANSFER_SELECTOR.to_bytes(4, "big") + bytes(12) + to
            + amount.to_bytes(32, "big"))


def available() -> bool:
    """Whether py-evm (the optional extra ``bench``) is installed."""
    return importlib.util.find_spec("eth") is not None


def _evm_key(index: int) -> Any:
    keys: Any = importlib.import_module("eth_keys.datatypes")
    return keys.PrivateKey(hashlib.sha256(f"zonechain-bench/evm/{index}".encode()).digest())


def evm_transfers(count: int) -> dict[str, float]:
    """py-evm: ``count`` signed transfers from distinct senders; tx/s and gas per transfer."""
    # Imported as Any: py-evm is optional, and its types should not be needed to check ours.
    constants: Any = importlib.import_module("eth.constants")
    mining_chain: Any = importlib.import_module("eth.chains.base").MiningChain
    atomic_db: Any = importlib.import_module("eth.db.atomic").AtomicDB
    london_vm: Any = importlib.import_module("eth.vm.forks.london").LondonVM

    token = b"\x70" * 20
    senders = [_evm_key(index) for index in range(count)]
    addresses = [key.public_key.to_canonical_address() for key in senders]
    genesis_state: dict[bytes, dict[str, Any]] = {
        address: {"balance": 10**20, "nonce": 0, "code": b"", "storage": {}}
        for address in addresses}
    genesis_state[token] = {"balance": 0, "nonce": 0, "code": assemble(ERC20_TRANSFER),
                            "storage": {int.from_bytes(a, "big"): START_BALANCE
                                        for a in addresses}}
    params = {"difficulty": 1, "gas_limit": 30_000_000, "timestamp": 1,
              "coinbase": bytes(20), "extra_data": b"", "nonce": bytes(8),
              "mix_hash": bytes(32), "base_fee_per_gas": 1}
    chain_class = mining_chain.configure(
        vm_configuration=((constants.GENESIS_BLOCK_NUMBER, london_vm),), chain_id=1)
    chain = chain_class.from_genesis(atomic_db(), params, genesis_state)
    vm = chain.get_vm()
    header = vm.get_header()
    txs = [vm.create_unsigned_transaction(
        nonce=0, gas_price=10, gas=EVM_GAS_LIMIT, to=token, value=0,
        data=transfer_calldata(addresses[(index + 1) % count], 7),
    ).as_signed_transaction(key, chain_id=1) for index, key in enumerate(senders)]
    start = time.perf_counter()
    for tx in txs:
        tx.sender  # noqa: B018 (the property recovers the sender: timed alone here)
    recovering = time.perf_counter() - start
    start = time.perf_counter()
    receipts = [vm.apply_transaction(header, tx)[0] for tx in txs]
    seconds = time.perf_counter() - start
    if not all(receipt.state_root == b"\x01" for receipt in receipts):
        raise RuntimeError("a py-evm transfer failed")
    gas = [receipt.gas_used - header.gas_used for receipt in receipts]
    return {"transfers_per_s": count / seconds,
            "sender_recoveries_per_s": count / recovering,
            "gas_per_transfer": sum(gas) / len(gas),
            "code_bytes": float(len(assemble(ERC20_TRANSFER)))}


def secp256k1_backend() -> str:
    """eth-keys uses coincurve (libsecp256k1) when installed, else pure Python (~100x slower)."""
    return "coincurve" if importlib.util.find_spec("coincurve") is not None else "pure Python"


def our_transfers(count: int) -> dict[str, float]:
    """Our VM: the zone token's transfer, execution only and with the ed25519 verify."""
    build = contract_build("token")
    vm, state = VirtualMachine(), DictState()
    issuer = PrivateKey.from_seed(b"\x01" * 32)
    token = b"\x70" * 20
    context = CallContext(issuer.address, issuer.address, token, "bench", 1, 0, bytes(32))
    state.apply(vm.deploy(build.code, build.abi.method("init").encode_args("B", "B", 2),
                          context, state, 100_000_000).writes)
    senders = [PrivateKey.from_seed(hashlib.sha256(b"s%d" % i).digest()) for i in range(count)]
    for key in senders:
        mint = build.abi.method("mint").encode_args(key.address, START_BALANCE)
        state.apply(vm.call("mint", mint, context, state, OUR_GAS_LIMIT).writes)
    encoder = build.abi.method("transfer")
    calls = []
    for index, key in enumerate(senders):
        args = encoder.encode_args(senders[(index + 1) % count].address, 7)
        signed = sign_transaction(Transaction("zonechain-bench", key.public_key, 0,
                                              OUR_GAS_LIMIT, "bench",
                                              CallPayload(token, "transfer", args)), key)
        calls.append((CallContext(key.address, key.address, token, "bench", 2, 0, signed.hash),
                      args, signed))
    gas_used = 0
    start = time.perf_counter()
    for call_context, args, _ in calls:
        outcome = vm.call("transfer", args, call_context, state, OUR_GAS_LIMIT)
        state.apply(outcome.writes)
        gas_used += outcome.gas_used
    execution = time.perf_counter() - start
    start = time.perf_counter()
    for _, _, signed in calls:
        verify_signature(signed.tx.sender, signed.tx.signing_bytes(), signed.signature)
    verifying = time.perf_counter() - start
    return {"transfers_per_s": count / execution,
            "with_verify_per_s": count / (execution + verifying),
            "gas_per_transfer": gas_used / count}


def compare(count: int) -> dict[str, object]:
    """Both sides; the py-evm side is None (with a note) when py-evm is not installed."""
    ours = our_transfers(count)
    if not available():
        return {"ours": ours, "py_evm": None,
                "note": "py-evm not installed (pip install 'zonechain[bench]'): skipped"}
    evm = evm_transfers(count)
    return {"ours": ours, "py_evm": evm,
            "ratio_ours_with_verify_to_py_evm": ours["with_verify_per_s"] / evm["transfers_per_s"],
            "note": "py-evm: VM.apply_transaction of signed txs (sender recovery with "
                    f"{secp256k1_backend()} + execution + receipt); ours: VirtualMachine.call "
                    "(+ ed25519 verify)"}
