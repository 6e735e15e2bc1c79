"""The host table, its implementations and docs/ABI.md agree; the doc's example contract runs."""

from __future__ import annotations

import re
from pathlib import Path

from tests.vm.runtime_support import amount, call, deploy, error_code
from zonechain.vm import abi, gas
from zonechain.vm.host import IMPLEMENTATIONS, INTERNAL_FUNCTIONS, INTERNAL_IMPLEMENTATIONS
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState

ABI_DOC = Path(__file__).resolve().parents[2] / "docs" / "ABI.md"


def doc_text() -> str:
    return ABI_DOC.read_text(encoding="utf-8")


def test_every_host_function_is_implemented_and_nothing_else() -> None:
    assert set(IMPLEMENTATIONS) == {f.name for f in abi.HOST_FUNCTIONS_V1}
    assert set(INTERNAL_IMPLEMENTATIONS) == {f.name for f in INTERNAL_FUNCTIONS}


def test_every_host_function_is_documented_with_its_exact_signature() -> None:
    text = doc_text()
    for function in abi.HOST_FUNCTIONS_V1:
        row = re.search(rf"^\| `{function.name}` \| `\(([^)]*)\)( -> (i32|i64))?", text, re.M)
        assert row is not None, function.name
        documented = tuple(part.split()[-1] for part in row.group(1).split(",") if part.strip())
        assert documented == function.params, function.name
        results = (row.group(3),) if row.group(3) else ()
        assert results == function.results, function.name


def test_documented_gas_figures_match_the_schedule() -> None:
    text = doc_text()
    for name, value in vars(gas).items():
        if name.startswith("GAS_") and name != "GAS_SCHEDULE_VERSION" and f"`{name}`" in text:
            assert f"`{name}` [{value}]" in text, name


def example_contract() -> str:
    section = doc_text().split("## Example contract", 1)[1]
    match = re.search(r"```wat\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_doc_example_contract_runs() -> None:
    vm = VirtualMachine()
    state = DictState()
    assert deploy(vm, state, example_contract()).ok
    first = call(vm, state, "add", amount(5))
    second = call(vm, state, "add", amount(7))
    assert (first.return_data, second.return_data) == (amount(5), amount(12))
    assert [(e.topic, e.data) for e in second.events] == [(b"added", amount(7))]
    assert call(vm, state, "get").return_data == amount(12)
    bad = call(vm, state, "add", b"\x01")
    assert error_code(bad) == "aborted" and bad.error is not None
    assert bad.error.message == "input must be 8 bytes"


def test_caller_context_is_the_store_context() -> None:
    """vm/host relies on this to skip wasmtime_caller_context in every host call."""
    import wasmtime

    from zonechain.vm import wasm_ffi
    from zonechain.vm.engine import shared_engine

    engine = shared_engine()
    linker = wasmtime.Linker(engine)
    seen: list[int] = []

    def callback(_env: int, caller: int, _raw: int, _count: int) -> int:
        seen.append(int(wasm_ffi.caller_context(caller)))
        return 0

    native = wasm_ffi.UncheckedCallback(callback)
    function_type = wasmtime.FuncType([], [])
    error = wasm_ffi.linker_define_func_unchecked(
        wasm_ffi.address_of(linker.ptr()), b"m", 1, b"f", 1,
        wasm_ffi.address_of(function_type.ptr()), native, None, None)
    assert not error
    module = wasmtime.Module(engine, '(module (import "m" "f" (func $f)) '
                                     '(func (export "run") (call $f)))')
    store = wasmtime.Store(engine)
    store.set_fuel(1_000)
    run = linker.instantiate(store, module).exports(store)["run"]
    assert isinstance(run, wasmtime.Func)
    run(store)
    assert seen == [wasm_ffi.address_of(store._context())]
