"""The compiled-module cache: keys, memory LRU, HMAC-verified disk files, cached failures."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from tests.vm.runtime_support import ALICE, TOKEN_WAT, amount, call, deploy, wasm
from zonechain.vm import cache as cache_module
from zonechain.vm import gas, limits
from zonechain.vm.cache import CompileFailed, ModuleCache, module_cache_key
from zonechain.vm.engine import ENGINE_FINGERPRINT, shared_engine
from zonechain.vm.runtime import VirtualMachine
from zonechain.vm.state import DictState


@dataclasses.dataclass(frozen=True)
class Prepared:
    code_hash: bytes
    code: bytes
    methods: tuple[str, ...] = ()
    has_init: bool = False
    global_exports: tuple[str, ...] = ()
    memory_pages_initial: int = 1


def prepared(code: bytes) -> Prepared:
    return Prepared(hashlib.sha256(code).digest(), code)


SMALL = wasm('(module (func (export "run")))')


def test_key_covers_every_version(monkeypatch: pytest.MonkeyPatch) -> None:
    code_hash = b"\x01" * 32
    before = module_cache_key(code_hash)
    assert module_cache_key(b"\x02" * 32) != before
    for name, value in [("GAS_SCHEDULE_VERSION", 99), ("LIMITS_VERSION", 99)]:
        target = gas if name.startswith("GAS") else limits
        with monkeypatch.context() as patch:
            patch.setattr(target, name, value)
            assert module_cache_key(code_hash) != before
    with monkeypatch.context() as patch:
        patch.setattr(cache_module, "ENGINE_FINGERPRINT", ENGINE_FINGERPRINT + ";x")
        assert module_cache_key(code_hash) != before
    with monkeypatch.context() as patch:
        patch.setattr(cache_module, "WASMTIME_VERSION", "0.0.0")
        assert module_cache_key(code_hash) != before


def test_memory_hits_and_cached_failures() -> None:
    modules = ModuleCache(shared_engine())
    first = modules.load(prepared(SMALL))
    assert modules.load(prepared(SMALL)) is first
    assert (modules.compiles, modules.memory_hits) == (1, 1)
    broken = prepared(b"\x00asm\x01\x00\x00\x00\xff")
    for _ in range(2):
        with pytest.raises(CompileFailed, match="could not compile"):
            modules.load(broken)
    assert modules.compiles == 2


def test_lru_evicts_the_oldest() -> None:
    modules = ModuleCache(shared_engine(), capacity=1)
    other = wasm('(module (func (export "other")))')
    modules.load(prepared(SMALL))
    modules.load(prepared(other))
    modules.load(prepared(SMALL))
    assert modules.compiles == 3


def test_disk_cache_is_reused_by_a_new_vm(tmp_path: Path) -> None:
    first = ModuleCache(shared_engine(), tmp_path)
    first.load(prepared(SMALL))
    files = list(tmp_path.glob("*.cwasm"))
    assert len(files) == 1
    assert (tmp_path / cache_module.SECRET_KEY_FILE).stat().st_mode & 0o777 == 0o600
    second = ModuleCache(shared_engine(), tmp_path)
    module = second.load(prepared(SMALL))
    assert (second.disk_hits, second.compiles) == (1, 0)
    assert [e.name for e in module.exports] == ["run"]


def test_tampered_file_is_never_deserialised(tmp_path: Path) -> None:
    ModuleCache(shared_engine(), tmp_path).load(prepared(SMALL))
    (path,) = tmp_path.glob("*.cwasm")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    again = ModuleCache(shared_engine(), tmp_path)
    again.load(prepared(SMALL))
    assert (again.disk_hits, again.compiles) == (0, 1)
    foreign_key = ModuleCache(shared_engine(), tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / path.name).write_bytes(path.read_bytes())
    foreign_key.load(prepared(SMALL))
    assert (foreign_key.disk_hits, foreign_key.compiles) == (0, 1)


def test_vm_with_disk_cache_runs_contracts(tmp_path: Path) -> None:
    state = DictState()
    deploy(VirtualMachine(tmp_path), state, TOKEN_WAT)
    fresh = VirtualMachine(tmp_path)
    assert call(fresh, state, "mint", ALICE + amount(1)).ok
    assert fresh.cache.disk_hits == 1 and fresh.cache.compiles == 0
