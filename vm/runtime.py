"""Running contracts: deploy, call and query, metered, buffered, deterministic.

``VirtualMachine`` is the API the ledger executor and the test harness use.
Every entry point returns an ``Outcome``; it raises only ``NodeFault`` (a bug or
I/O problem in the node, never to be recorded) or ``ValueError`` for a caller's
programming mistake (a negative gas limit).

Guarantees:
- state changes are buffered in an ``Overlay`` over the given ``StateReader``
  and returned as ``Outcome.writes`` only when the call succeeds; a failure
  returns ``writes == {}`` and no events;
- gas: Wasm instructions burn wasmtime fuel, host functions charge vm/gas.py
  costs from the same meter; running out anywhere ends the call with
  ``OutOfGas`` and ``gas_used == gas_limit``;
- one live instance per contract code is kept and reused; after every call its
  memory is restored to the image taken at instantiation (zeroed, then the
  image's non-zero pages copied back: the same bytes as a full copy, without
  reading the image's zero pages) and its mutable globals are reset from their
  saved values (an instance whose memory grew is dropped instead), so nothing
  a call leaves in memory or globals is visible to the next one
  (tests/vm/test_runtime_reset.py);
- cross-contract calls (host ``call_contract``) run in nested overlays, with
  bounded depth (``CALL_DEPTH_MAX``) and no re-entrancy.

Determinism: results depend only on the code, the arguments, the
``CallContext`` and the state read; errors carry fixed messages
(vm/traps.py). The hot path uses wasmtime's raw C API (vm/wasm_ffi.py).
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import wasmtime

from zonechain.vm import abi, gas, limits, wasm_ffi
from zonechain.vm.cache import CompileFailed, ModuleCache, PreparedCode
from zonechain.vm.engine import shared_engine
from zonechain.vm.errors import ContractError, DeployError, NodeFault
from zonechain.vm.host import (
    IMPLEMENTATIONS,
    INTERNAL_FUNCTIONS,
    INTERNAL_IMPLEMENTATIONS,
    make_callback,
)
from zonechain.vm.host.frame import (
    CallContext,
    Event,
    Frame,
    gas_left,
    memory_view,
    set_gas_left,
)
from zonechain.vm.host.internal import WASM_PAGE_BYTES
from zonechain.vm.metadata import ContractMetadata
from zonechain.vm.overlay import Overlay
from zonechain.vm.state import (
    PREFIX_CONTRACT_STORAGE,
    StateReader,
    code_key,
    contract_meta_key,
)
from zonechain.vm.traps import (
    OUT_OF_GAS_MESSAGE,
    CodeRejected,
    ContractExists,
    ContractFrozen,
    ContractNotFound,
    InstantiationFailed,
    LimitExceeded,
    MethodNotFound,
    OutOfGas,
    classify_trap,
)

__all__ = ["CallContext", "Event", "Outcome", "VirtualMachine"]

GAS_LIMIT_MAX: Final = (1 << 63) - 1
"""Fuel is a u64 in wasmtime; gas values stay within a signed i64 (``gas_left``)."""

Prepare = Callable[[bytes], PreparedCode]

_func_call_unchecked = wasm_ffi.func_call_unchecked
_get_fuel = wasm_ffi.context_get_fuel
_set_fuel = wasm_ffi.context_set_fuel
_memory_data_size = wasm_ffi.memory_data_size
_global_set = wasm_ffi.global_set
_memset = ctypes.memset

_RESET_PAGE_BYTES: Final = 4096
"""Granularity of the image's non-zero runs (an OS page; any size would be exact)."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    gas_used: int
    return_data: bytes
    events: tuple[Event, ...]
    error: ContractError | None
    writes: dict[bytes, bytes | None] = field(default_factory=dict)
    """Net state changes in sorted key order (None = deleted); {} on failure."""


@dataclass(slots=True)
class _Result:
    ok: bool
    gas_used: int
    return_data: bytes = b""
    events: list[Event] = field(default_factory=list)
    error: ContractError | None = None


def _failure(error: ContractError, gas_used: int) -> _Result:
    return _Result(ok=False, gas_used=gas_used, error=error)


class _LiveInstance:
    """One instantiated contract code in its own Store, reset after every call."""

    def __init__(
        self, engine: wasmtime.Engine, linker: wasmtime.Linker, module: wasmtime.Module,
        prepared: PreparedCode,
    ) -> None:
        self.store = wasmtime.Store(engine)
        self.store.set_limits(memory_size=limits.MEMORY_PAGES_MAX * WASM_PAGE_BYTES)
        try:
            instance = linker.instantiate(self.store, module)
        except (wasmtime.Trap, wasmtime.WasmtimeError):
            raise InstantiationFailed("the module could not be instantiated") from None
        self.context = wasm_ffi.address_of(self.store._context())
        exports = instance.exports(self.store)
        self.functions: dict[str, int] = {}
        self._keep: list[object] = []
        for name in (*prepared.methods, *([abi.INIT_METHOD] if prepared.has_init else [])):
            function = exports.get(name)
            if isinstance(function, wasmtime.Func):
                handle = function._func
                self._keep.append(handle)
                self.functions[name] = ctypes.addressof(handle)
        memory = exports.get(abi.MEMORY_EXPORT)
        self.memory = memory._memory if isinstance(memory, wasmtime.Memory) else None
        self.memory_handle = ctypes.addressof(self.memory) if self.memory is not None else 0
        self.initial_bytes = self.memory_bytes()
        self.base = self.memory_base()
        self.view = memory_view(self.base, self.initial_bytes)
        self.image = self.view.tobytes()
        self.image_runs = _nonzero_runs(self.image)
        self.globals: list[tuple[int, int]] = []
        """(global, saved value) addresses; the objects behind them are kept in ``_keep``."""
        for name in prepared.global_exports:
            handle_global = exports.get(name)
            if isinstance(handle_global, wasmtime.Global):
                saved = wasm_ffi.WasmtimeValue()
                raw = handle_global._global
                self._keep.extend((raw, saved))
                self.globals.append((ctypes.addressof(raw), ctypes.addressof(saved)))
                wasm_ffi.global_get(self.context, *self.globals[-1])
        self.arguments = (wasm_ffi.RawValues * 1)()
        self.arguments_address = ctypes.addressof(self.arguments)

    def memory_bytes(self) -> int:
        if not self.memory_handle:
            return 0
        return int(wasm_ffi.memory_data_size(self.context, self.memory_handle))

    def memory_base(self) -> int:
        if not self.memory_handle:
            return 0
        return int(wasm_ffi.memory_data(self.context, self.memory_handle) or 0)

    def reset(self) -> bool:
        """Restore memory and globals as instantiated; False if memory grew (drop me)."""
        context = self.context
        if self.memory_handle and _memory_data_size(
                context, self.memory_handle) != self.initial_bytes:
            return False
        # Zero everything, then copy back the image's non-zero pages: the same
        # bytes as copying the whole image, without reading the image's zero
        # pages (the image is cold in the cache by the next call; reading it
        # cost more than the writes).
        if self.initial_bytes:
            _memset(self.base, 0, self.initial_bytes)
        view = self.view
        for start, data in self.image_runs:
            view[start:start + len(data)] = data
        for raw, saved in self.globals:
            if _global_set(context, raw, saved):
                raise NodeFault("cannot restore a mutable global")
        return True


@dataclass
class _LoadedCode:
    prepared: PreparedCode
    module: wasmtime.Module
    idle: list[_LiveInstance] = field(default_factory=list)


def _default_prepare(code: bytes) -> PreparedCode:
    from zonechain.vm import gatekeeper  # type: ignore[attr-defined, unused-ignore]

    prepared: PreparedCode = gatekeeper.prepare(code)
    return prepared


class VirtualMachine:
    """Deploys, calls and queries contracts; one per executing thread."""

    def __init__(
        self, cache_dir: Path | None = None, *, prepare: Prepare | None = None,
    ) -> None:
        self.engine = shared_engine()
        self.cache = ModuleCache(self.engine, cache_dir)
        self._prepare = prepare or _default_prepare
        self._prepared: dict[bytes, PreparedCode] = {}
        self._loaded: dict[bytes, _LoadedCode] = {}
        self._metadata: dict[bytes, ContractMetadata] = {}
        self.frames: list[Frame] = []
        self._trap_code = ctypes.c_uint8()
        self.fuel = ctypes.c_uint64()
        """The one cell every fuel read of this VM lands in (one call runs at a time)."""
        self._traps = [ctypes.c_void_p() for _ in range(limits.CALL_DEPTH_MAX + 1)]
        """A trap cell per call depth: a nested call returns while its caller's waits."""
        self._callbacks: list[object] = []
        self.linker = wasmtime.Linker(self.engine)
        self._define_host_functions()

    # --- public API --------------------------------------------------------------
    def deploy(
        self, code: bytes, init_args: bytes, context: CallContext, state: StateReader,
        gas_limit: int,
    ) -> Outcome:
        """Admit, compile and store ``code`` at ``context.contract``; run ``init`` if exported."""
        _check_gas_limit(gas_limit)
        overlay = Overlay(state)
        result = self._deploy(code, init_args, context, overlay, gas_limit)
        return _outcome(result, overlay)

    def call(
        self, method: str, args: bytes, context: CallContext, state: StateReader, gas_limit: int
    ) -> Outcome:
        """Run ``method`` of ``context.contract``; its writes are returned on success."""
        _check_gas_limit(gas_limit)
        overlay = Overlay(state)
        result = self._enter(method, args, context, overlay, gas_limit, read_only=False)
        return _outcome(result, overlay)

    def query(
        self, method: str, args: bytes, context: CallContext, state: StateReader, gas_limit: int
    ) -> Outcome:
        """Like ``call`` but read-only: any write or event is a ``read_only`` error."""
        _check_gas_limit(gas_limit)
        overlay = Overlay(state)
        result = self._enter(method, args, context, overlay, gas_limit, read_only=True)
        return _outcome(result, overlay)

    # --- deploy --------------------------------------------------------------------
    def _deploy(
        self, code: bytes, init_args: bytes, context: CallContext, overlay: Overlay,
        gas_limit: int,
    ) -> _Result:
        cost = gas.GAS_DEPLOY_BASE + gas.GAS_DEPLOY_PER_CODE_BYTE * len(code)
        if cost > gas_limit:
            return _failure(OutOfGas(OUT_OF_GAS_MESSAGE), gas_limit)
        try:
            prepared = self._prepare_code(code)
            if overlay.get(contract_meta_key(context.contract)) is not None:
                return _failure(ContractExists("a contract already exists at this address"), cost)
            self.cache.load(prepared)
        except DeployError as error:
            return _failure(CodeRejected(error), cost)
        if overlay.get(code_key(prepared.code_hash)) is None:
            overlay.put(code_key(prepared.code_hash), bytes(code))
        metadata = ContractMetadata(prepared.code_hash, context.zone, context.origin)
        overlay.put(contract_meta_key(context.contract), metadata.encode())
        if not prepared.has_init:
            return _Result(ok=True, gas_used=cost)
        result = self._enter(abi.INIT_METHOD, init_args, context, overlay, gas_limit - cost,
                             read_only=False, is_init=True)
        result.gas_used += cost
        return result

    def _prepare_code(self, code: bytes) -> PreparedCode:
        code_hash = hashlib.sha256(code).digest()
        prepared = self._prepared.get(code_hash)
        if prepared is None:
            prepared = self._prepare(bytes(code))
            self._prepared[code_hash] = prepared
        return prepared

    # --- calls -----------------------------------------------------------------------
    def _enter(
        self, method: str, args: bytes, context: CallContext, overlay: Overlay, gas_limit: int,
        read_only: bool, is_init: bool = False,
    ) -> _Result:
        """Run one method of ``context.contract`` in ``overlay`` (the caller commits it)."""
        if len(args) > limits.INPUT_BYTES_MAX:
            return _failure(LimitExceeded(
                "input_too_large", f"call input is limited to {limits.INPUT_BYTES_MAX} bytes"), 0)
        try:
            metadata = self._contract(overlay, context.contract)
            if context.zone != metadata.zone:
                # A contract always sees the zone it lives in, never the zone a
                # transaction or a query names (those are checked by the
                # permission layer, not trusted here).
                context = dataclasses.replace(context, zone=metadata.zone)
            if metadata.frozen and not read_only:
                raise ContractFrozen("the contract is frozen")
            loaded = self._load(overlay, metadata.code_hash)
            if (method == abi.INIT_METHOD) != is_init or (
                    not is_init and method not in loaded.prepared.methods):
                raise MethodNotFound(f"the contract exports no method {method[:64]!r}")
            instance = loaded.idle.pop() if loaded.idle else _LiveInstance(
                self.engine, self.linker, loaded.module, loaded.prepared)
        except ContractError as error:
            return _failure(error, 0)
        frame = Frame(self, context, overlay, args, read_only,
                      PREFIX_CONTRACT_STORAGE + context.contract)
        try:
            return self._run(frame, instance, instance.functions[method], gas_limit)
        finally:
            if instance.reset():
                loaded.idle.append(instance)

    def _run(self, frame: Frame, instance: _LiveInstance, function: int, gas_limit: int) -> _Result:
        context = instance.context
        frame.instance = instance
        frame.context_pointer = context
        frame.memory = instance.view
        frame.memory_bytes = instance.initial_bytes
        if _set_fuel(context, gas_limit):
            raise NodeFault("fuel metering is not enabled on this store")
        frames = self.frames
        trap = self._traps[len(frames)]  # left empty (None) after every call
        frames.append(frame)
        try:
            error = _func_call_unchecked(
                context, function, instance.arguments_address, 0, ctypes.addressof(trap))
        finally:
            frames.pop()
        failure = (self._failure_of(frame, error, trap)
                   if error or trap.value or frame.pending is not None else None)
        fuel = self.fuel
        if _get_fuel(context, fuel):
            raise NodeFault("fuel metering is not enabled on this store")
        remaining = int(fuel.value)
        if failure is None and remaining == 0:
            # wasmtime checks fuel at function entries and loop headers, so a
            # straight-line block can finish just past the limit (fuel then reads
            # 0). Rule: a call must end with gas left; at 0 it is out of gas.
            failure = OutOfGas(OUT_OF_GAS_MESSAGE)
        if failure is not None:
            used = gas_limit if isinstance(failure, OutOfGas) else gas_limit - remaining
            return _failure(failure, used)
        return _Result(ok=True, gas_used=gas_limit - remaining,
                       return_data=frame.return_data, events=frame.events)

    def _failure_of(
        self, frame: Frame, error: int | None, trap: ctypes.c_void_p
    ) -> ContractError | None:
        pending, frame.pending = frame.pending, None
        trap_code: ContractError | None = None
        if trap.value:
            known = wasm_ffi.trap_code(trap.value, ctypes.byref(self._trap_code))
            code_value = self._trap_code.value
            wasm_ffi.trap_delete(trap.value)
            trap.value = None
            if pending is None:
                if not known:
                    raise NodeFault("wasm call failed with an uncoded trap")
                trap_code = classify_trap(code_value)
        if error:
            wasm_ffi.error_delete(error)
            if pending is None:
                raise NodeFault("wasmtime reported an error calling a contract")
        if pending is not None:
            if isinstance(pending, ContractError):
                return pending
            if isinstance(pending, NodeFault) or not isinstance(pending, Exception):
                raise pending  # a node fault, or KeyboardInterrupt / SystemExit: as they are
            raise NodeFault(f"host function failed: {pending!r}") from pending
        return trap_code

    def call_nested(
        self, frame: Frame, address: bytes, method_bytes: bytes, args: bytes, gas_limit: int
    ) -> tuple[bool, int, bytes]:
        """A cross-contract call from ``frame``: (ok, gas used, return data or error text)."""
        refusal = self._refuse_nested(address, method_bytes)
        if refusal is not None:
            return False, 0, refusal.encode("utf-8")
        method = method_bytes.decode("ascii")
        try:
            metadata = self._contract(frame.overlay, address)
        except ContractError as error:
            return False, 0, f"{error.code}: {error.message}".encode()
        context = CallContext(
            caller=frame.context.contract, origin=frame.context.origin, contract=address,
            zone=metadata.zone, block_height=frame.context.block_height,
            block_time_ms=frame.context.block_time_ms, tx_hash=frame.context.tx_hash)
        child = frame.overlay.child()
        result = self._enter(method, args, context, child, gas_limit, frame.read_only)
        if not result.ok:
            assert result.error is not None
            return False, result.gas_used, f"{result.error.code}: {result.error.message}".encode()
        if len(frame.events) + len(result.events) > limits.EVENTS_PER_CALL_MAX:
            # The callee's work is paid for even though this ends the whole call.
            set_gas_left(frame, gas_left(frame) - result.gas_used)
            raise LimitExceeded(
                "too_many_events", f"a call may emit at most {limits.EVENTS_PER_CALL_MAX} events")
        child.commit()
        frame.events.extend(result.events)
        return True, result.gas_used, result.return_data

    def _refuse_nested(self, address: bytes, method: bytes) -> str | None:
        if len(self.frames) >= limits.CALL_DEPTH_MAX:
            return f"call_depth_exceeded: calls nest at most {limits.CALL_DEPTH_MAX} deep"
        if any(frame.context.contract == address for frame in self.frames):
            return "reentrancy: the contract is already on the call stack"
        if not method.isascii() or not abi.METHOD_NAME_PATTERN.fullmatch(method.decode("ascii")) \
                or method == abi.INIT_METHOD.encode():
            return "method_not_found: not a callable method name"
        return None

    def grow_memory(self, frame: Frame, delta_pages: int) -> None:
        """Grow the frame's memory (gas already charged by the host function)."""
        instance: _LiveInstance = frame.instance
        previous = ctypes.c_uint64()
        error = wasm_ffi.memory_grow(frame.context_pointer, instance.memory_handle, delta_pages,
                                     ctypes.byref(previous))
        if error:
            wasm_ffi.error_delete(error)
            raise NodeFault("memory.grow within the limit failed")
        base = int(wasm_ffi.memory_data(frame.context_pointer, instance.memory_handle) or 0)
        size = int(wasm_ffi.memory_data_size(frame.context_pointer, instance.memory_handle))
        frame.memory = memory_view(base, size)
        frame.memory_bytes = size

    # --- loading ---------------------------------------------------------------------
    def _contract(self, state: StateReader, address: bytes) -> ContractMetadata:
        encoded = state.get(contract_meta_key(address))
        if encoded is None:
            raise ContractNotFound("no contract at this address")
        metadata = self._metadata.get(encoded)
        if metadata is None:
            try:
                metadata = ContractMetadata.decode(encoded)
            except ValueError as error:
                raise NodeFault(f"damaged contract metadata: {error}") from error
            self._metadata[encoded] = metadata
        return metadata

    def _load(self, state: StateReader, code_hash: bytes) -> _LoadedCode:
        loaded = self._loaded.get(code_hash)
        if loaded is not None:
            return loaded
        code = state.get(code_key(code_hash))
        if code is None:
            raise NodeFault("contract metadata names code that is not in state")
        try:
            prepared = self._prepare_code(code)
            module = self.cache.load(prepared)
        except (DeployError, CompileFailed) as error:
            raise NodeFault(f"stored code no longer passes the gatekeeper: {error}") from error
        loaded = _LoadedCode(prepared, module)
        self._loaded[code_hash] = loaded
        return loaded

    def _define_host_functions(self) -> None:
        tables = (
            (abi.HOST_MODULE, abi.HOST_FUNCTIONS_V1, IMPLEMENTATIONS),
            (abi.INTERNAL_MODULE, INTERNAL_FUNCTIONS, INTERNAL_IMPLEMENTATIONS),
        )
        value_types = {"i32": wasmtime.ValType.i32(), "i64": wasmtime.ValType.i64()}
        linker = wasm_ffi.address_of(self.linker.ptr())
        for module_name, functions, implementations in tables:
            module = module_name.encode()
            for function in functions:
                callback = make_callback(function, implementations[function.name], self.frames)
                function_type = wasmtime.FuncType(
                    [value_types[t] for t in function.params],
                    [value_types[t] for t in function.results])
                self._callbacks.extend((callback, function_type))
                name = function.name.encode()
                error = wasm_ffi.linker_define_func_unchecked(
                    linker, module, len(module), name, len(name),
                    wasm_ffi.address_of(function_type.ptr()), callback, None, None)
                if error:
                    wasm_ffi.error_delete(error)
                    raise NodeFault(f"cannot define host function {function.name}")


def _nonzero_runs(image: bytes) -> tuple[tuple[int, bytes], ...]:
    """The image's maximal runs of pages that hold a non-zero byte: (offset, bytes).

    Every byte of ``image`` outside the runs is zero, so zeroing a memory and
    copying the runs back makes it equal to ``image``.
    """
    runs: list[tuple[int, bytes]] = []
    start: int | None = None
    zero_page = bytes(_RESET_PAGE_BYTES)
    for offset in range(0, len(image) + _RESET_PAGE_BYTES, _RESET_PAGE_BYTES):
        page = image[offset:offset + _RESET_PAGE_BYTES]
        if page and page != zero_page[:len(page)]:
            if start is None:
                start = offset
        elif start is not None:
            runs.append((start, image[start:offset]))
            start = None
    return tuple(runs)


def _check_gas_limit(gas_limit: int) -> None:
    if not 0 <= gas_limit <= GAS_LIMIT_MAX:
        raise ValueError(f"gas limit must be in 0..{GAS_LIMIT_MAX}, got {gas_limit}")


def _outcome(result: _Result, overlay: Overlay) -> Outcome:
    if not result.ok:
        return Outcome(ok=False, gas_used=result.gas_used, return_data=b"", events=(),
                       error=result.error, writes={})
    return Outcome(ok=True, gas_used=result.gas_used, return_data=result.return_data,
                   events=tuple(result.events), error=None, writes=overlay.net_writes())
