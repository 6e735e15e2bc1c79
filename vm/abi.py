"""Host interface v1: the exact imports a contract may use and the exports it must have.

This table is the single source of truth. The gatekeeper admits an import only
if its module, name and signature match an entry here exactly; the runtime
implements every entry (``vm/host/``); docs/ABI.md describes each one; the
author library (contracts/lib) declares them. Changing an entry is a protocol
change: add a new name (or a new interface version), never alter one.

Conventions (see docs/ABI.md for the full text):
- pointers and lengths are i32 offsets into the contract's exported ``memory``;
  every (pointer, length) pair is bounds-checked by the host, and an out-of-
  bounds pair is a deterministic trap (ContractError ``memory_out_of_bounds``);
- "read into a buffer" functions take (dst_ptr, dst_cap), copy
  min(length, dst_cap) bytes and return the full length, so a contract can
  retry with a larger buffer; -1 means "absent";
- addresses are 20 bytes, hashes 32 bytes; heights and times are i64;
- a method is an exported function of type [] -> [], named by the method; it
  reads its arguments with ``input_read`` and sets its result with
  ``return_data``. ``init``, if exported, runs once at deploy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ValueType = Literal["i32", "i64"]

HOST_MODULE = "zonechain"
"""The only import module a deployed contract may name."""

INTERNAL_MODULE = "zonechain_internal"
"""Imports injected by our own instrumentation (vm/instrument.py); a deployed
contract that names this module is rejected by the gatekeeper."""

MEMORY_EXPORT = "memory"
INIT_METHOD = "init"
METHOD_NAME_PATTERN = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")
"""Exported method names: lower-case identifiers, at most 64 bytes."""

RESERVED_EXPORT_PREFIX = "__zc_"
"""Export names our instrumentation adds (e.g. mutable-global handles); never
allowed in deployed code."""


@dataclass(frozen=True)
class HostFunction:
    name: str
    params: tuple[ValueType, ...]
    results: tuple[ValueType, ...]
    family: str
    summary: str


def _fn(
    family: str, name: str, params: str, results: str, summary: str
) -> HostFunction:
    def types(text: str) -> tuple[ValueType, ...]:
        out: list[ValueType] = []
        for word in text.split():
            if word not in ("i32", "i64"):
                raise ValueError(word)
            out.append("i32" if word == "i32" else "i64")
        return tuple(out)

    return HostFunction(name, types(params), types(results), family, summary)


HOST_FUNCTIONS_V1: tuple[HostFunction, ...] = (
    # input and output -------------------------------------------------------
    _fn("io", "input_read", "i32 i32", "i32",
        "(dst_ptr, dst_cap) -> length of the call's argument bytes; copies min(length, dst_cap)"),
    _fn("io", "return_data", "i32 i32", "",
        "(ptr, len): set the call's return data (the last call wins)"),
    _fn("io", "abort", "i32 i32", "",
        "(msg_ptr, msg_len): end the call with a contract error carrying this UTF-8 message"),
    # storage ---------------------------------------------------------------
    _fn("storage", "storage_read", "i32 i32 i32 i32", "i32",
        "(key_ptr, key_len, dst_ptr, dst_cap) -> value length, or -1 if absent"),
    _fn("storage", "storage_write", "i32 i32 i32 i32", "",
        "(key_ptr, key_len, value_ptr, value_len)"),
    _fn("storage", "storage_remove", "i32 i32", "", "(key_ptr, key_len)"),
    _fn("storage", "storage_has", "i32 i32", "i32", "(key_ptr, key_len) -> 1 present, 0 absent"),
    _fn("storage", "storage_next_key", "i32 i32 i32 i32 i32 i32", "i32",
        "(prefix_ptr, prefix_len, after_ptr, after_len, dst_ptr, dst_cap) -> length of the "
        "smallest key with the prefix and > after (after_len = -1: from the start), -1 at end"),
    # events ----------------------------------------------------------------
    _fn("events", "emit_event", "i32 i32 i32 i32", "",
        "(topic_ptr, topic_len, data_ptr, data_len)"),
    # call context ----------------------------------------------------------
    _fn("context", "caller", "i32", "", "(dst_ptr): the 20-byte address of the immediate caller"),
    _fn("context", "origin", "i32", "", "(dst_ptr): the 20-byte address that signed the tx"),
    _fn("context", "self_address", "i32", "", "(dst_ptr): this contract's 20-byte address"),
    _fn("context", "zone", "i32 i32", "i32", "(dst_ptr, dst_cap) -> length of the zone name"),
    _fn("context", "block_height", "", "i64", "height of the block being executed"),
    _fn("context", "block_time_ms", "", "i64", "block time from the header, ms since epoch"),
    _fn("context", "tx_hash", "i32", "", "(dst_ptr): the 32-byte hash of the transaction"),
    _fn("context", "gas_left", "", "i64", "gas remaining to this call"),
    # cross-contract calls ----------------------------------------------------
    _fn("calls", "call_contract", "i32 i32 i32 i32 i32 i64", "i32",
        "(address_ptr, method_ptr, method_len, args_ptr, args_len, gas) -> 0 ok, 1 callee "
        "failed (its state reverted); result or error via call_result_read"),
    _fn("calls", "call_result_read", "i32 i32", "i32",
        "(dst_ptr, dst_cap) -> length of the last cross-contract call's result or error"),
    # crypto ----------------------------------------------------------------
    _fn("crypto", "sha256", "i32 i32 i32", "", "(ptr, len, dst_ptr): 32-byte digest"),
    _fn("crypto", "blake2b256", "i32 i32 i32", "", "(ptr, len, dst_ptr): 32-byte digest"),
    _fn("crypto", "ed25519_verify", "i32 i32 i32 i32", "i32",
        "(public_key_ptr, msg_ptr, msg_len, signature_ptr) -> 1 valid, 0 invalid"),
)

HOST_FUNCTIONS_BY_NAME: dict[str, HostFunction] = {f.name: f for f in HOST_FUNCTIONS_V1}
