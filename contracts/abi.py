"""Contract ABI files, and the codec that turns Python values into call bytes and back.

An ABI file (``NAME.abi.json``) describes what a contract offers: its methods
(name, whether it is read-only, typed parameters, a result type or none) and
its events (name = topic, typed fields). The SDK, the CLI and the test harness
build calls from it; the toolchain exports exactly its methods.

Guarantees:
- ``load_abi`` / ``parse_abi`` either return a fully validated ``ContractAbi``
  or raise ``AbiError`` naming the file, the JSON path (``methods[2].params[0]
  .type``) and what is wrong. Nothing half-checked escapes.
- Every value is type-checked before a byte is produced: a negative ``u128``,
  a 19-byte ``address``, a ``bool`` passed as an integer, a missing or extra
  argument each raise ``AbiError`` naming the method and parameter.
- The bytes are exactly vm/encoding.py's canonical encoding (docs/ABI-encoding.md
  holds test vectors): a method's arguments are its parameters encoded one
  after the other with no header; a result is the single value of the
  ``returns`` type (no result: empty bytes); an event's data is its fields one
  after the other. Decoding is strict (no trailing bytes).

Python values: integers are ``int`` (never ``bool``), ``bool`` is ``bool``,
``address``/``hash``/``bytes`` are ``bytes`` (``bytearray`` accepted),
``string`` is ``str``, ``list<T>`` is a ``list`` (``tuple`` accepted), and
``optional<T>`` is ``None`` or a value of ``T``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from zonechain.vm.abi import INIT_METHOD, METHOD_NAME_PATTERN
from zonechain.vm.encoding import DecodeError, EncodeError, Reader, Writer
from zonechain.vm.limits import EVENT_TOPIC_BYTES_MAX, EXPORTS_MAX

ABI_VERSION: Final = 1
"""The ``abi_version`` field an ABI file must carry; bumped on a format change."""

ADDRESS_BYTES: Final = 20
HASH_BYTES: Final = 32

INTEGER_RANGES: Final[dict[str, tuple[int, int]]] = {
    "u8": (0, (1 << 8) - 1),
    "u16": (0, (1 << 16) - 1),
    "u32": (0, (1 << 32) - 1),
    "u64": (0, (1 << 64) - 1),
    "u128": (0, (1 << 128) - 1),
    "i32": (-(1 << 31), (1 << 31) - 1),
    "i64": (-(1 << 63), (1 << 63) - 1),
}
FIXED_SIZES: Final[dict[str, int]] = {"address": ADDRESS_BYTES, "hash": HASH_BYTES}
SCALAR_TYPES: Final = frozenset({*INTEGER_RANGES, *FIXED_SIZES, "bool", "bytes", "string"})

TYPE_NESTING_MAX: Final = 8
"""``list<optional<list<...>>>`` deeper than this is a mistake, not a design."""

PARAMS_MAX: Final = 32
EVENT_FIELDS_MAX: Final = 32
NAME_PATTERN: Final = METHOD_NAME_PATTERN
"""Parameter, field and event names follow the method-name rule: they become
identifiers in generated proxies."""


class AbiError(ValueError):
    """A bad ABI file, or a value that does not fit the ABI. The message says where."""


# --- types ---------------------------------------------------------------------


@dataclass(frozen=True)
class AbiType:
    """A parsed type: a scalar (``item`` None) or ``list``/``optional`` of ``item``."""

    kind: str
    item: AbiType | None = None

    def __str__(self) -> str:
        return self.kind if self.item is None else f"{self.kind}<{self.item}>"


def parse_type(text: object, where: str = "type") -> AbiType:
    """Parse ``u128``, ``list<address>``, ``optional<list<bytes>>``... or raise AbiError."""
    if not isinstance(text, str):
        raise AbiError(f"{where}: a type must be a string, got {type(text).__name__}")
    return _parse_type(text.replace(" ", ""), where, depth=0)


def _parse_type(text: str, where: str, depth: int) -> AbiType:
    if depth > TYPE_NESTING_MAX:
        raise AbiError(f"{where}: type nested deeper than {TYPE_NESTING_MAX}")
    if text in SCALAR_TYPES:
        return AbiType(text)
    for kind in ("list", "optional"):
        if text.startswith(kind + "<") and text.endswith(">"):
            return AbiType(kind, _parse_type(text[len(kind) + 1 : -1], where, depth + 1))
    known = ", ".join(sorted(SCALAR_TYPES)) + ", list<T>, optional<T>"
    raise AbiError(f"{where}: unknown type {text!r} (known: {known})")


# --- values -> bytes -------------------------------------------------------------


def encode_value(writer: Writer, abi_type: AbiType, value: object, where: str) -> None:
    """Check ``value`` against ``abi_type`` and append its canonical encoding."""
    kind = abi_type.kind
    if kind in INTEGER_RANGES:
        _encode_integer(writer, kind, value, where)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise AbiError(f"{where}: expected bool, got {_describe(value)}")
        writer.bool(value)
    elif kind in FIXED_SIZES:
        raw = _as_bytes(value, kind, where)
        if len(raw) != FIXED_SIZES[kind]:
            raise AbiError(f"{where}: {kind} must be exactly {FIXED_SIZES[kind]} bytes, "
                           f"got {len(raw)}")
        writer.fixed(raw, len(raw))
    elif kind == "bytes":
        _wrap_encode(lambda: writer.bytes(_as_bytes(value, kind, where)), where)
    elif kind == "string":
        if not isinstance(value, str):
            raise AbiError(f"{where}: expected str, got {_describe(value)}")
        _wrap_encode(lambda: writer.string(value), where)
    elif kind == "list":
        _encode_list(writer, abi_type, value, where)
    else:  # optional
        assert abi_type.item is not None
        if value is None:
            writer.u8(0)
        else:
            writer.u8(1)
            encode_value(writer, abi_type.item, value, where)


def _encode_integer(writer: Writer, kind: str, value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AbiError(f"{where}: expected {kind} (an int), got {_describe(value)}")
    low, high = INTEGER_RANGES[kind]
    if not low <= value <= high:
        raise AbiError(f"{where}: {value} is out of range for {kind} [{low}, {high}]")
    getattr(writer, kind)(value)


def _encode_list(writer: Writer, abi_type: AbiType, value: object, where: str) -> None:
    assert abi_type.item is not None
    if not isinstance(value, list | tuple):
        raise AbiError(f"{where}: expected a list, got {_describe(value)}")
    item_type = abi_type.item
    items: Sequence[object] = value
    _wrap_encode(lambda: writer.u32(len(items)), where)
    for index, item in enumerate(items):
        encode_value(writer, item_type, item, f"{where}[{index}]")


def _as_bytes(value: object, kind: str, where: str) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise AbiError(f"{where}: expected {kind} as bytes, got {_describe(value)}")
    return bytes(value)


def _wrap_encode(action: Callable[[], object], where: str) -> None:
    try:
        action()
    except EncodeError as error:
        raise AbiError(f"{where}: {error}") from None


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


# --- bytes -> values -------------------------------------------------------------


def decode_value(reader: Reader, abi_type: AbiType, where: str) -> Any:
    """Read one value of ``abi_type``; raises DecodeError naming ``where``."""
    kind = abi_type.kind
    if kind in INTEGER_RANGES:
        return getattr(reader, kind)(where)
    if kind == "bool":
        return reader.bool(where)
    if kind in FIXED_SIZES:
        return reader.fixed(FIXED_SIZES[kind], where)
    if kind == "bytes":
        return reader.bytes(where)
    if kind == "string":
        return reader.string(where)
    item_type = abi_type.item
    assert item_type is not None
    if kind == "list":
        count = 0

        def read_item(inner: Reader) -> Any:
            nonlocal count
            count += 1
            return decode_value(inner, item_type, f"{where}[{count - 1}]")

        return reader.list(read_item, where)
    return reader.optional(lambda inner: decode_value(inner, item_type, where), where)


def encode_single(abi_type: AbiType | str, value: object, where: str = "value") -> bytes:
    """The canonical encoding of one value (parses ``abi_type`` if given as text)."""
    parsed = parse_type(abi_type, where) if isinstance(abi_type, str) else abi_type
    writer = Writer()
    encode_value(writer, parsed, value, where)
    return bytes(writer)


def decode_single(abi_type: AbiType | str, data: bytes, where: str = "value") -> Any:
    """Strictly decode exactly one value of ``abi_type`` from ``data`` (AbiError if not)."""
    parsed = parse_type(abi_type, where) if isinstance(abi_type, str) else abi_type
    reader = Reader(data)
    try:
        value = decode_value(reader, parsed, where)
        reader.finish(where)
    except DecodeError as error:
        raise AbiError(f"cannot decode {where} as {parsed}: {error}") from None
    return value


# --- the ABI itself --------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    type: AbiType


def _encode_fields(owner: str, fields: tuple[Param, ...], args: Sequence[object],
                   kwargs: Mapping[str, object]) -> bytes:
    values = _bind(owner, fields, args, kwargs)
    writer = Writer()
    for field, value in zip(fields, values, strict=True):
        encode_value(writer, field.type, value, f"{owner} argument {field.name!r}")
    return bytes(writer)


def _bind(owner: str, fields: tuple[Param, ...], args: Sequence[object],
          kwargs: Mapping[str, object]) -> list[object]:
    if len(args) > len(fields):
        raise AbiError(f"{owner} takes {len(fields)} arguments, got {len(args)}")
    names = [field.name for field in fields]
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        raise AbiError(f"{owner} has no parameter {unknown[0]!r} (parameters: {names})")
    values: list[object] = list(args)
    for field in fields[len(args):]:
        if field.name not in kwargs:
            raise AbiError(f"{owner} is missing argument {field.name!r}")
        values.append(kwargs[field.name])
    for field in fields[: len(args)]:
        if field.name in kwargs:
            raise AbiError(f"{owner} got argument {field.name!r} twice")
    return values


def _decode_fields(owner: str, fields: tuple[Param, ...], data: bytes) -> dict[str, Any]:
    reader = Reader(data)
    out: dict[str, Any] = {}
    try:
        for field in fields:
            out[field.name] = decode_value(reader, field.type, field.name)
        reader.finish(owner)
    except DecodeError as error:
        raise AbiError(f"cannot decode {owner}: {error}") from None
    return out


@dataclass(frozen=True)
class Method:
    name: str
    readonly: bool
    params: tuple[Param, ...]
    returns: AbiType | None

    def encode_args(self, *args: object, **kwargs: object) -> bytes:
        """Positional and/or keyword arguments -> the call's input bytes."""
        return _encode_fields(f"method {self.name!r}", self.params, args, kwargs)

    def decode_args(self, data: bytes) -> dict[str, Any]:
        """Input bytes -> ``{param name: value}`` (strict)."""
        return _decode_fields(f"arguments of {self.name!r}", self.params, data)

    def encode_result(self, value: object) -> bytes:
        if self.returns is None:
            if value is not None:
                raise AbiError(f"method {self.name!r} returns nothing, got {_describe(value)}")
            return b""
        return encode_single(self.returns, value, f"result of {self.name!r}")

    def decode_result(self, data: bytes) -> Any:
        """Return-data bytes -> a Python value (None for a method without a result)."""
        if self.returns is None:
            if data:
                raise AbiError(f"method {self.name!r} returns nothing, got {len(data)} bytes")
            return None
        return decode_single(self.returns, data, f"result of {self.name!r}")


@dataclass(frozen=True)
class Event:
    name: str
    fields: tuple[Param, ...]

    def encode(self, *args: object, **kwargs: object) -> bytes:
        return _encode_fields(f"event {self.name!r}", self.fields, args, kwargs)

    def decode(self, data: bytes) -> dict[str, Any]:
        """Event data bytes -> ``{field name: value}`` (strict)."""
        return _decode_fields(f"event {self.name!r}", self.fields, data)


@dataclass(frozen=True)
class ContractAbi:
    contract: str
    methods: tuple[Method, ...]
    events: tuple[Event, ...]

    def method(self, name: str) -> Method:
        for method in self.methods:
            if method.name == name:
                return method
        raise AbiError(f"contract {self.contract!r} has no method {name!r} "
                       f"(methods: {[m.name for m in self.methods]})")

    def event(self, name: str) -> Event:
        for event in self.events:
            if event.name == name:
                return event
        raise AbiError(f"contract {self.contract!r} has no event {name!r} "
                       f"(events: {[e.name for e in self.events]})")

    @property
    def method_names(self) -> tuple[str, ...]:
        """Every method, ``init`` included: exactly the functions the Wasm module exports."""
        return tuple(method.name for method in self.methods)

    def to_json(self) -> dict[str, Any]:
        def params(items: tuple[Param, ...]) -> list[dict[str, str]]:
            return [{"name": p.name, "type": str(p.type)} for p in items]

        return {
            "abi_version": ABI_VERSION,
            "contract": self.contract,
            "methods": [
                {"name": m.name, "readonly": m.readonly, "params": params(m.params),
                 "returns": None if m.returns is None else str(m.returns)}
                for m in self.methods
            ],
            "events": [{"name": e.name, "fields": params(e.fields)} for e in self.events],
        }

    def dumps(self) -> str:
        """The normalised JSON text (stable: same ABI, same bytes)."""
        return json.dumps(self.to_json(), indent=2) + "\n"


# --- loading and validation --------------------------------------------------------


def load_abi(path: str | Path) -> ContractAbi:
    """Read and validate an ABI file; every problem is an AbiError naming ``path``."""
    location = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise AbiError(f"{location}: cannot read ABI file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise AbiError(f"{location}: ABI file is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise AbiError(f"{location}: not valid JSON: {error.msg} at line {error.lineno} "
                       f"column {error.colno}") from None
    return parse_abi(document, location)


def parse_abi(document: object, source: str = "<abi>") -> ContractAbi:
    """Validate an already-parsed ABI document."""
    root = _object(document, source, "", {"abi_version", "contract", "methods", "events"},
                   required={"abi_version", "contract", "methods"})
    if root["abi_version"] != ABI_VERSION or isinstance(root["abi_version"], bool):
        raise AbiError(f"{source}: abi_version: expected {ABI_VERSION}, "
                       f"got {root['abi_version']!r}")
    contract = _name(root["contract"], source, "contract")
    methods_raw = _array(root["methods"], source, "methods", EXPORTS_MAX - 1)
    methods = tuple(_parse_method(item, source, f"methods[{i}]")
                    for i, item in enumerate(methods_raw))
    _unique([m.name for m in methods], source, "methods")
    events_raw = _array(root.get("events", []), source, "events", EXPORTS_MAX)
    events = tuple(_parse_event(item, source, f"events[{i}]")
                   for i, item in enumerate(events_raw))
    _unique([e.name for e in events], source, "events")
    return ContractAbi(contract, methods, events)


def _parse_method(item: object, source: str, where: str) -> Method:
    fields = _object(item, source, where, {"name", "readonly", "params", "returns"},
                     required={"name"})
    name = _name(fields["name"], source, f"{where}.name")
    readonly = fields.get("readonly", False)
    if not isinstance(readonly, bool):
        raise AbiError(f"{source}: {where}.readonly: expected true or false, got {readonly!r}")
    if name == INIT_METHOD and readonly:
        raise AbiError(f"{source}: {where}: 'init' runs at deploy and cannot be readonly")
    params = _parse_params(fields.get("params", []), source, f"{where}.params", PARAMS_MAX)
    returns_raw = fields.get("returns")
    returns = None if returns_raw is None else _type(returns_raw, source, f"{where}.returns")
    if name == INIT_METHOD and returns is not None:
        raise AbiError(f"{source}: {where}: 'init' cannot return a value")
    return Method(name, readonly, params, returns)


def _parse_event(item: object, source: str, where: str) -> Event:
    fields = _object(item, source, where, {"name", "fields"}, required={"name"})
    name = _name(fields["name"], source, f"{where}.name")
    if len(name.encode()) > EVENT_TOPIC_BYTES_MAX:
        raise AbiError(f"{source}: {where}.name: longer than {EVENT_TOPIC_BYTES_MAX} bytes")
    return Event(name, _parse_params(fields.get("fields", []), source, f"{where}.fields",
                                     EVENT_FIELDS_MAX))


def _parse_params(raw: object, source: str, where: str, limit: int) -> tuple[Param, ...]:
    items = _array(raw, source, where, limit)
    params: list[Param] = []
    for index, item in enumerate(items):
        spot = f"{where}[{index}]"
        fields = _object(item, source, spot, {"name", "type"}, required={"name", "type"})
        params.append(Param(_name(fields["name"], source, f"{spot}.name"),
                            _type(fields["type"], source, f"{spot}.type")))
    _unique([p.name for p in params], source, where)
    return tuple(params)


def _object(value: object, source: str, where: str, allowed: set[str],
            required: set[str]) -> dict[str, Any]:
    label = where or "top level"
    if not isinstance(value, dict):
        raise AbiError(f"{source}: {label}: expected a JSON object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise AbiError(f"{source}: {label}: unknown field {unknown[0]!r} "
                       f"(allowed: {sorted(allowed)})")
    missing = sorted(required - set(value))
    if missing:
        raise AbiError(f"{source}: {label}: missing field {missing[0]!r}")
    return value


def _array(value: object, source: str, where: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise AbiError(f"{source}: {where}: expected a JSON array, got {type(value).__name__}")
    if len(value) > limit:
        raise AbiError(f"{source}: {where}: {len(value)} entries, at most {limit} allowed")
    return value


def _name(value: object, source: str, where: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise AbiError(f"{source}: {where}: {value!r} is not a valid name "
                       "(lower-case letter, then lower-case letters, digits or '_', "
                       "at most 64)")
    return value


def _type(value: object, source: str, where: str) -> AbiType:
    try:
        return parse_type(value, where)
    except AbiError as error:
        raise AbiError(f"{source}: {error}") from None


def _unique(names: list[str], source: str, where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise AbiError(f"{source}: {where}: duplicate name {name!r}")
        seen.add(name)
