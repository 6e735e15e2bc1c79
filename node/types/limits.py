"""Size limits of protocol messages, each with its reason.

Every decoder refuses input over its type's limit before parsing it, and every
constructor refuses fields over their limits, so a peer or client can never
make a node allocate more than these bounds. Units go last in the name.

Determinism: these numbers are consensus rules (a block holding a larger
transaction is invalid on every node). Changing one is a protocol change.
"""

from __future__ import annotations

import re
from typing import Final

from zonechain.vm import limits as vm_limits

U32_MAX: Final = 0xFFFF_FFFF
U64_MAX: Final = 0xFFFF_FFFF_FFFF_FFFF

PUBLIC_KEY_BYTES: Final = 32
"""Ed25519 public key."""

SIGNATURE_BYTES: Final = 64
"""Ed25519 signature."""

HASH_BYTES: Final = 32
"""SHA-256 digests: block, tx, receipt hashes and Merkle roots."""

CHAIN_ID_BYTES_MAX: Final = 64
CHAIN_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""Chain ids are short ASCII names ("zonechain-devnet"): they are inside every
signed transaction and vote, so keep them short and unambiguous."""

ZONE_NAME_BYTES_MAX: Final = vm_limits.ZONE_NAME_BYTES_MAX
"""Same limit the VM applies to the ``zone`` host call."""

METHOD_NAME_BYTES_MAX: Final = 64
"""Matches the ABI's method-name pattern (vm/abi.py METHOD_NAME_PATTERN)."""

DEPLOY_CODE_BYTES_MAX: Final = vm_limits.MODULE_BYTES_MAX
"""A deploy carries at most one maximal Wasm module (1 MiB)."""

CALL_ARGS_BYTES_MAX: Final = vm_limits.INPUT_BYTES_MAX
"""Arguments of a call or of ``init``: what the VM will hand the contract."""

GOVERNANCE_BODY_BYTES_MAX: Final = 64 * 1024
"""Governance actions are small records (a member, a policy); 64 KiB is ample."""

TX_OVERHEAD_BYTES_MAX: Final = 4 * 1024
"""Room for every fixed and short field of a transaction around its payload."""

TX_BYTES_MAX: Final = DEPLOY_CODE_BYTES_MAX + CALL_ARGS_BYTES_MAX + TX_OVERHEAD_BYTES_MAX
"""The largest signed transaction: a maximal deploy with maximal init args.
Checked on canonical bytes and on the protobuf form (ByteSize())."""

BLOCK_TXS_MAX: Final = 10_000
"""Bounds per-block work (signature checks, execution, Merkle root) and the
time a block takes to gossip and verify."""

BLOCK_BYTES_MAX: Final = 8 * 1024 * 1024
"""8 MiB: room for several maximal deploys or ~30k small calls; bounds the
proposal message, block sync messages and a node's memory per block."""

VALIDATORS_MAX: Final = 256
"""Signatures in one commit certificate; BFT latency grows with n^2 messages."""

BLOCK_EVIDENCE_MAX: Final = 64
"""Equivocation evidence per block; more than this is spam."""

CONSENSUS_MESSAGE_BYTES_MAX: Final = 64 * 1024
"""Votes, proposals (without the block), commits and evidence: a commit of
VALIDATORS_MAX signatures is ~21.5 KiB."""

RECEIPT_EVENTS_MAX: Final = vm_limits.EVENTS_PER_CALL_MAX
"""Events in one receipt, all nested calls together (the executor enforces it)."""

RETURN_DATA_BYTES_MAX: Final = vm_limits.RETURN_DATA_BYTES_MAX
EVENT_TOPIC_BYTES_MAX: Final = vm_limits.EVENT_TOPIC_BYTES_MAX
EVENT_DATA_BYTES_MAX: Final = vm_limits.EVENT_DATA_BYTES_MAX

ERROR_CODE_BYTES_MAX: Final = 64
"""Error codes are short stable identifiers ("out_of_gas")."""

ERROR_MESSAGE_BYTES_MAX: Final = 2 * 1024
"""Above the VM's 1 KiB abort message, leaving room for the executor's context."""

RECEIPT_BYTES_MAX: Final = 8 * 1024 * 1024
"""A maximal receipt: RECEIPT_EVENTS_MAX full events (4 MiB) plus return data."""
