"""Turning what a test names ("contracts/zones/token", a .wasm file, bytes + ABI) into code + ABI.

``load_contract(source)`` accepts:
- a contract folder or a ``.zig`` / ``.c`` source file: built with the
  toolchain (contracts/toolchain.py), once per process for the same source
  text (the cache key is the path and a hash of every file beside the source);
- a built ``NAME.wasm`` file: its ABI is the ``NAME.abi.json`` beside it;
- a ``BuildResult`` from the toolchain;
- a ``(wasm bytes, abi)`` pair, the ABI as a ``ContractAbi`` or a path to
  an ABI file.

Every failure is ``ContractSourceError`` with the toolchain's or the ABI
loader's message; nothing is cached for a failed build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from zonechain.contracts.abi import AbiError, ContractAbi, load_abi
from zonechain.contracts.toolchain import ABI_SUFFIX, BuildError, BuildResult, build_contract
from zonechain.sdk.testing.errors import ContractSourceError

WASM_SUFFIX: Final = ".wasm"

ContractSource = str | Path | BuildResult | tuple[bytes, ContractAbi | str | Path]
"""Anything ``Chain.deploy`` can deploy."""


@dataclass(frozen=True)
class Artifact:
    """Deployable code and the ABI that describes it."""

    name: str
    code: bytes
    abi: ContractAbi

    @property
    def code_hash(self) -> str:
        return hashlib.sha256(self.code).hexdigest()


_built: dict[tuple[str, str], Artifact] = {}
"""Builds of this process, keyed by (resolved path, hash of the folder's files)."""


def load_contract(source: ContractSource) -> Artifact:
    """The code and ABI ``source`` names; see the module docstring for the forms."""
    if isinstance(source, BuildResult):
        return Artifact(source.name, source.code, source.abi)
    if isinstance(source, tuple):
        return _from_pair(source)
    if isinstance(source, str | Path):
        path = Path(source)
        if path.suffix == WASM_SUFFIX:
            return _from_wasm_file(path)
        return _build(path)
    raise ContractSourceError(
        f"cannot deploy a {type(source).__name__}: give a contract folder, a source or .wasm "
        "file, a BuildResult, or (wasm bytes, abi)")


def resolve_abi(abi: ContractAbi | str | Path) -> ContractAbi:
    """``abi`` itself, or the ABI file it names (ContractSourceError if it is not one)."""
    return abi if isinstance(abi, ContractAbi) else _load_abi(Path(abi))


def _from_pair(pair: tuple[bytes, ContractAbi | str | Path]) -> Artifact:
    if len(pair) != 2 or not isinstance(pair[0], bytes | bytearray):
        raise ContractSourceError("a contract given as a tuple must be (wasm bytes, abi)")
    code, abi_source = pair
    abi = resolve_abi(abi_source)
    return Artifact(abi.contract, bytes(code), abi)


def _from_wasm_file(path: Path) -> Artifact:
    abi_path = path.with_name(path.name[: -len(WASM_SUFFIX)] + ABI_SUFFIX)
    try:
        code = path.read_bytes()
    except OSError as error:
        raise ContractSourceError(f"{path}: cannot read: {error.strerror}") from None
    if not abi_path.is_file():
        raise ContractSourceError(f"{path}: the ABI file {abi_path.name} is missing beside it")
    abi = _load_abi(abi_path)
    return Artifact(abi.contract, code, abi)


def _load_abi(path: Path) -> ContractAbi:
    try:
        return load_abi(path)
    except AbiError as error:
        raise ContractSourceError(str(error)) from None


def _build(path: Path) -> Artifact:
    if not path.exists():
        raise ContractSourceError(f"{path}: no such file or directory")
    resolved = path.resolve()
    key = (str(resolved), _fingerprint(resolved if resolved.is_dir() else resolved.parent))
    cached = _built.get(key)
    if cached is not None:
        return cached
    try:
        result = build_contract(resolved)
    except BuildError as error:
        raise ContractSourceError(str(error)) from None
    artifact = Artifact(result.name, result.code, result.abi)
    _built[key] = artifact
    return artifact


def _fingerprint(folder: Path) -> str:
    """A hash of the names and contents of the files directly in ``folder``."""
    digest = hashlib.sha256()
    for file in sorted(folder.iterdir()):
        if file.is_file():
            digest.update(file.name.encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()
