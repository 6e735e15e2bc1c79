"""Compiled-module cache: compile each contract once, and never load bytes we did not write.

A module is looked up by ``module_cache_key``: the sha256 of (code hash,
wasmtime version, gas schedule version, limits version, engine fingerprint).
A change to any of them is a different key, so a stale compilation is never
reused (CosmWasm's ``MODULE_SERIALIZATION_VERSION``, NEAR's ``vm_hash``).

Two levels:
- memory: an LRU of ``wasmtime.Module`` objects, and of compile failures (a
  module that fails to compile fails the same way next time, without work);
- disk (optional): ``Module.serialize()`` output in ``<dir>/<key>.cwasm``.
  Deserialising bytes is unsafe unless they are our own, so each file starts
  with an HMAC-SHA256 of its contents under a per-node secret key
  (``<dir>/node-secret.key``, created once with mode 0600). A file whose HMAC
  does not verify is deleted and the module recompiled.

Crash safety: a file is written under a temporary name and renamed into place;
a crash before the rename leaves only a temporary file that is never read, a
crash after it leaves a complete, verifiable file.

Determinism: the cache changes only speed. Compilation of the same bytes under
the same key gives the same behaviour, and compile failures are reported with
a fixed message, not wasmtime's text.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Final, Protocol

import wasmtime

from zonechain.vm import gas, limits
from zonechain.vm.engine import ENGINE_FINGERPRINT, WASMTIME_VERSION
from zonechain.vm.errors import DeployError, NodeFault

MEMORY_CACHE_ENTRIES: Final = 256
"""Compiled modules kept in memory (a few hundred KiB to a few MiB each)."""

SECRET_KEY_FILE: Final = "node-secret.key"
SECRET_KEY_BYTES: Final = 32
MODULE_FILE_SUFFIX: Final = ".cwasm"
HMAC_BYTES: Final = 32


class PreparedCode(Protocol):
    """What the gatekeeper (vm/gatekeeper.py ``prepare``) returns; read-only view."""

    @property
    def code_hash(self) -> bytes: ...
    @property
    def code(self) -> bytes: ...
    @property
    def methods(self) -> tuple[str, ...]: ...
    @property
    def has_init(self) -> bool: ...
    @property
    def global_exports(self) -> tuple[str, ...]: ...
    @property
    def memory_pages_initial(self) -> int: ...


class CompileFailed(DeployError):
    code = "compile_failed"


COMPILE_FAILED_MESSAGE: Final = "the engine could not compile the module"


def module_cache_key(code_hash: bytes) -> str:
    """Hex key naming one compilation of ``code_hash`` under this exact VM."""
    material = b"\x00".join((
        code_hash,
        WASMTIME_VERSION.encode(),
        str(gas.GAS_SCHEDULE_VERSION).encode(),
        str(limits.LIMITS_VERSION).encode(),
        ENGINE_FINGERPRINT.encode(),
    ))
    return hashlib.sha256(material).hexdigest()


class ModuleCache:
    """Memory LRU + optional HMAC-verified disk cache of compiled modules."""

    def __init__(
        self, engine: wasmtime.Engine, directory: Path | None = None,
        capacity: int = MEMORY_CACHE_ENTRIES,
    ) -> None:
        self.engine = engine
        self.directory = directory
        self.capacity = capacity
        self._entries: collections.OrderedDict[str, wasmtime.Module | CompileFailed] = (
            collections.OrderedDict()
        )
        self._secret = self._load_secret() if directory is not None else b""
        self.compiles = 0
        self.disk_hits = 0
        self.memory_hits = 0

    def load(self, prepared: PreparedCode) -> wasmtime.Module:
        """The compiled module for ``prepared``; raises ``CompileFailed`` (cached too)."""
        key = module_cache_key(prepared.code_hash)
        entry = self._entries.get(key)
        if entry is not None:
            self.memory_hits += 1
            self._entries.move_to_end(key)
        else:
            entry = self._load_from_disk(key)
            if entry is None:
                entry = self._compile(key, prepared.code)
            else:
                self.disk_hits += 1
            self._remember(key, entry)
        if isinstance(entry, CompileFailed):
            raise CompileFailed(entry.message)
        return entry

    def _remember(self, key: str, entry: wasmtime.Module | CompileFailed) -> None:
        self._entries[key] = entry
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def _compile(self, key: str, code: bytes) -> wasmtime.Module | CompileFailed:
        self.compiles += 1
        try:
            module = wasmtime.Module(self.engine, code)
        except wasmtime.WasmtimeError:
            return CompileFailed(COMPILE_FAILED_MESSAGE)
        self._save_to_disk(key, module)
        return module

    # --- disk -------------------------------------------------------------------
    def _load_secret(self) -> bytes:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / SECRET_KEY_FILE
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            secret = path.read_bytes()
            if len(secret) != SECRET_KEY_BYTES:
                raise NodeFault(f"module cache key file {path} is damaged") from None
            return secret
        secret = secrets.token_bytes(SECRET_KEY_BYTES)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        return secret

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / (key + MODULE_FILE_SUFFIX)

    def _load_from_disk(self, key: str) -> wasmtime.Module | None:
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        tag, body = data[:HMAC_BYTES], data[HMAC_BYTES:]
        expected = hmac.new(self._secret, body, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, expected):
            path.unlink(missing_ok=True)  # not ours, or damaged: never deserialise it
            return None
        return wasmtime.Module.deserialize(self.engine, body)

    def _save_to_disk(self, key: str, module: wasmtime.Module) -> None:
        if self.directory is None:
            return
        body = bytes(module.serialize())
        tag = hmac.new(self._secret, body, hashlib.sha256).digest()
        path = self._path(key)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(tag + body)
            os.replace(temporary, path)
        except OSError as error:
            raise NodeFault(f"cannot write the module cache: {error}") from error
