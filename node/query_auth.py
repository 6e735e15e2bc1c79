"""Who may read a zone's contracts through a node's ``Query`` door: signed queries.

Guarantees:
- In a permissioned network (a network record in state), a view call of a
  contract, or a raw read of a contract's storage (keys ``b"s" + contract +
  ...``, with or without a proof), in a zone whose read policy is not open is
  answered only for a reader that ``authorize(state, "read", zone, reader,
  contract)`` admits, proven by a signature over the query. Anything else is
  refused with ``ReadRefused(code, message)``, the message naming the rule.
- Open, answered unsigned: a network without a network record (``zonechain
  init --permissions none``); a zone whose read policy is the bare ``ANY``
  (no role filter, no organisation list: every organisation of the
  consortium reads it, and a node's client port is reachable by the
  consortium only); keys that are not contract storage (accounts and nonces,
  contract metadata, code, the governance records), which every validator
  organisation holds and which clients need to build transactions; a
  contract that does not exist (there is nothing to read).
- ``Simulate`` of a call returns the call's return data, so it is a read
  too (``check_simulation``): a dry run of a call of a guarded contract must
  be signed (an unsigned dry run could claim any sender) and its sender must
  pass the read policy; the executor then checks the signature and the call
  policy as for any transaction.
- Blocks, receipts, transactions and events (GetBlock, GetReceipt,
  StreamBlocks, StreamEvents) are consensus data that every validator
  organisation holds in full; they are not guarded here
  (docs/GOVERNANCE.md, "Who may read").

The signed bytes (integers little-endian, ``bytes``/``string`` with a u32
length prefix, as vm/encoding.py):

    "zonechain/query/v1"        domain (18 bytes, no length prefix)
    string  chain_id
    fixed32 reader public key
    u64     time_ms             the client's clock when it signed
    u64     height              the request's height (0 = latest)
    u8      prove               0 or 1
    u8      kind                1 state key | 2 view call
    kind 1: bytes key
    kind 2: fixed20 contract, string method, bytes args, u64 gas_limit

Replay: the node accepts a signature only while ``|now - time_ms| <=
QUERY_SIGNATURE_AGE_MS_MAX``; the chain id and every request field are
signed, so a captured signature reads the same thing, on the same chain, for
a few minutes at most. Reads change nothing, so a replay in that window
tells its sender no more than the captured answer did.

Not consensus-critical: a node's door decision, never part of a block. The
clock is the node's wall clock (``Node.now_ms``).
"""

from __future__ import annotations

from typing import Final

from zonechain.node.crypto import PrivateKey, verify_signature
from zonechain.node.permissions.authorize import authorize
from zonechain.node.permissions.errors import PermissionDenied
from zonechain.node.permissions.policy import Policy, RuleKind
from zonechain.node.permissions.store import NETWORK_KEY, load_contract_metadata, load_zone
from zonechain.node.types.address import account_address, format_address
from zonechain.node.types.hashing import QUERY_SIGNING_DOMAIN
from zonechain.node.types.limits import PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from zonechain.node.types.transaction import CallPayload, SignedTransaction
from zonechain.proto import services_pb2
from zonechain.vm.encoding import EncodeError, Writer
from zonechain.vm.state import ADDRESS_BYTES, PREFIX_CONTRACT_STORAGE, StateReader

QUERY_SIGNATURE_AGE_MS_MAX: Final = 5 * 60 * 1000
"""A signed query is accepted within 5 minutes either side of the node's clock:
wide enough for unsynchronised office clocks and retries, short enough that a
captured signature is soon worthless."""

KIND_STATE_KEY: Final = 1
KIND_VIEW_CALL: Final = 2

# ReadRefused codes (stable: clients may match on them). authorize's own codes
# (not_permitted, unknown_zone, zone_mismatch) pass through unchanged.
UNSIGNED_QUERY: Final = "unsigned_query"
UNSIGNED_SIMULATION: Final = "unsigned_simulation"
BAD_QUERY_SIGNATURE: Final = "bad_query_signature"
STALE_QUERY: Final = "stale_query"


class ReadRefused(PermissionDenied):
    """The reader may not read what the query asks for (PERMISSION_DENIED at the door)."""


def query_signing_bytes(chain_id: str, request: services_pb2.QueryRequest) -> bytes:
    """The canonical bytes a reader signs (module docstring); ValueError if unencodable."""
    reader = request.reader
    kind = request.WhichOneof("query")
    try:
        writer = (Writer().string(chain_id).fixed(reader.public_key, PUBLIC_KEY_BYTES)
                  .u64(reader.time_ms).u64(request.height).bool(request.prove))
        if kind == "state_key":
            writer.u8(KIND_STATE_KEY).bytes(request.state_key.key)
        elif kind == "view_call":
            call = request.view_call
            writer.u8(KIND_VIEW_CALL).fixed(call.contract, ADDRESS_BYTES)
            writer.string(call.method).bytes(call.args).u64(call.gas_limit)
        else:
            raise ValueError("query: set either state_key or view_call")
    except EncodeError as error:
        raise ValueError(f"query cannot be signed: {error}") from None
    return QUERY_SIGNING_DOMAIN + bytes(writer)


def sign_query(request: services_pb2.QueryRequest, key: PrivateKey, chain_id: str,
               time_ms: int) -> services_pb2.QueryRequest:
    """``request`` with its ``reader`` set: ``key``'s signature at client time ``time_ms``."""
    signed = services_pb2.QueryRequest()
    signed.CopyFrom(request)
    signed.reader.public_key = key.public_key
    signed.reader.time_ms = time_ms
    signed.reader.signature = key.sign(query_signing_bytes(chain_id, signed))
    return signed


def read_target(state: StateReader,
                request: services_pb2.QueryRequest) -> tuple[str, bytes, Policy] | None:
    """(zone, contract, read policy) a query must be authorized for; None when it is open."""
    kind = request.WhichOneof("query")
    if kind == "view_call":
        return contract_target(state, request.view_call.contract)
    if kind == "state_key" and request.state_key.key[:1] == PREFIX_CONTRACT_STORAGE:
        return contract_target(state, request.state_key.key[1:1 + ADDRESS_BYTES])
    return None


def contract_target(state: StateReader, contract: bytes) -> tuple[str, bytes, Policy] | None:
    """(zone, contract, read policy) to authorize a read of ``contract``; None when open."""
    if state.get(NETWORK_KEY) is None:
        return None
    if len(contract) != ADDRESS_BYTES:
        return None  # the service refuses a malformed contract address itself
    metadata = load_contract_metadata(state, contract)
    if metadata is None:
        return None
    zone = load_zone(state, metadata.zone)
    if zone is not None and is_open_read_policy(zone.read):
        return None
    return metadata.zone, contract, zone.read if zone is not None else Policy(RuleKind.FORBIDDEN)


def is_open_read_policy(policy: Policy) -> bool:
    """The bare ``ANY``: every organisation of the network may read (module docstring)."""
    return policy.kind is RuleKind.ANY and not policy.roles and not policy.organisations


def check_read(state: StateReader, request: services_pb2.QueryRequest, chain_id: str,
               now_ms: int) -> bytes | None:
    """None for an open query, the reader's address for an admitted one; ReadRefused else."""
    target = read_target(state, request)
    if target is None:
        return None
    zone, contract, policy = target
    what = f"read of contract {format_address(contract)} in zone {zone} requires {policy.text}"
    if not request.HasField("reader"):
        raise ReadRefused(UNSIGNED_QUERY, f"{what}: the query is unsigned "
                          "(sign it with a member's key: QueryRequest.reader)")
    reader = request.reader
    if len(reader.public_key) != PUBLIC_KEY_BYTES or len(reader.signature) != SIGNATURE_BYTES:
        raise ReadRefused(BAD_QUERY_SIGNATURE, f"{what}: reader.public_key must be "
                          f"{PUBLIC_KEY_BYTES} bytes and reader.signature {SIGNATURE_BYTES}")
    age_ms = now_ms - reader.time_ms
    if abs(age_ms) > QUERY_SIGNATURE_AGE_MS_MAX:
        raise ReadRefused(STALE_QUERY, f"{what}: the signature's time is {age_ms} ms from "
                          f"the node's clock (at most {QUERY_SIGNATURE_AGE_MS_MAX} allowed)")
    if not verify_signature(reader.public_key, query_signing_bytes(chain_id, request),
                            reader.signature):
        raise ReadRefused(BAD_QUERY_SIGNATURE, f"{what}: the reader's signature does not "
                          f"verify for chain {chain_id}")
    address = account_address(reader.public_key)
    try:
        authorize(state, "read", zone, address, contract)
    except PermissionDenied as denial:
        raise ReadRefused(denial.code, denial.message) from None
    return address


def check_simulation(state: StateReader, signed: SignedTransaction, signature_given: bool) -> None:
    """None unless ``signed`` is a dry run of a call of a guarded contract that its
    sender may not read (or an unsigned one): then ``ReadRefused``."""
    payload = signed.tx.payload
    if not isinstance(payload, CallPayload):
        return
    target = contract_target(state, payload.contract)
    if target is None:
        return
    zone, contract, policy = target
    if not signature_given:
        raise ReadRefused(UNSIGNED_SIMULATION, f"a dry run of a call of contract "
                          f"{format_address(contract)} in zone {zone} returns what it reads, "
                          f"which requires {policy.text}: sign the dry run")
    try:
        authorize(state, "read", zone, signed.tx.sender_address, contract)
    except PermissionDenied as denial:
        raise ReadRefused(denial.code, denial.message) from None
