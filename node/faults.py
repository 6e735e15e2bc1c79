"""Test-only fault injection for multi-process tests: partitions, withheld proposals, equivocation.

Guarantee: OFF unless the node's process environment has
``ZONECHAIN_TEST_FAULTS=1`` (``ENVIRONMENT_VARIABLE``). Off, ``FaultInjector.enabled``
is False, the node never looks at a file and every hook is skipped; no
configuration file option turns it on, so a production node cannot run with
it by accident. A node started with it logs ``test_faults_enabled`` first.

On, the node reads ``HOME/faults.json`` (``FAULTS_FILE``), re-reading it
whenever its modification time or size changes, so a test changes faults
while the node runs. No file means no faults. Its keys (all optional)::

    {"isolated_peers": ["node2", "node3"],   # drop consensus and gossip messages
                                             # to and from these peers (a partition)
     "withhold_proposals": true,             # never send our own proposals
     "equivocate": true}                     # Byzantine: after each vote we sign,
                                             # sign and send a second, conflicting
                                             # one for the same height/round/type

What a partition covers: the consensus messages and transaction gossip this
node sends or accepts. Block sync and PeerStatus calls still pass (they carry
only blocks certified by a quorum, so they cannot make a partition commit).

Equivocation bypasses the double-sign guard (``GuardedSigner``) on purpose:
the second vote is signed with the raw key by ``conflicting_vote``. It exists
only so that tests can check that the honest validators stay safe and that
the evidence reaches a block.

Write the file with ``save_plan`` (atomic replace): a node never reads half a
file. A file that does not parse raises ``FaultPlanError`` in the node, a
loud node fault, rather than silently testing nothing.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from zonechain.node.crypto import PrivateKey, sign_vote
from zonechain.node.types.hashing import domain_hash
from zonechain.node.types.vote import Vote

ENVIRONMENT_VARIABLE: Final = "ZONECHAIN_TEST_FAULTS"
ENABLED_VALUE: Final = "1"
FAULTS_FILE: Final = "faults.json"

EQUIVOCATION_HASH_DOMAIN: Final = b"zonechain/test-faults/equivocation/v1"
"""The conflicting vote of a nil vote is for this made-up block hash (no real block has it)."""

_KEYS: Final = frozenset({"isolated_peers", "withhold_proposals", "equivocate"})


class FaultPlanError(ValueError):
    """The faults file is not a valid plan."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The faults a node injects now."""

    isolated_peers: frozenset[str] = field(default_factory=frozenset)
    withhold_proposals: bool = False
    equivocate: bool = False

    def encode(self) -> str:
        return json.dumps({"isolated_peers": sorted(self.isolated_peers),
                           "withhold_proposals": self.withhold_proposals,
                           "equivocate": self.equivocate}, sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> FaultPlan:
        try:
            raw = json.loads(text)
        except ValueError as error:
            raise FaultPlanError(f"{FAULTS_FILE}: not JSON ({error})") from None
        if not isinstance(raw, dict) or not set(raw) <= _KEYS:
            raise FaultPlanError(f"{FAULTS_FILE}: an object with keys among {sorted(_KEYS)}")
        peers = raw.get("isolated_peers", [])
        if not isinstance(peers, list) or not all(isinstance(peer, str) for peer in peers):
            raise FaultPlanError(f"{FAULTS_FILE}: isolated_peers must be a list of node ids")
        flags = [raw.get(name, False) for name in ("withhold_proposals", "equivocate")]
        if not all(isinstance(flag, bool) for flag in flags):
            raise FaultPlanError(f"{FAULTS_FILE}: withhold_proposals/equivocate are booleans")
        return cls(frozenset(peers), flags[0], flags[1])


NO_FAULTS: Final = FaultPlan()


def save_plan(home: Path, plan: FaultPlan) -> None:
    """Write ``plan`` for the node at ``home`` (atomically: write, then rename)."""
    target = home / FAULTS_FILE
    temporary = home / (FAULTS_FILE + ".tmp")
    temporary.write_text(plan.encode(), encoding="utf-8")
    os.replace(temporary, target)


def enabled_in(environment: dict[str, str] | os._Environ[str]) -> bool:
    return environment.get(ENVIRONMENT_VARIABLE) == ENABLED_VALUE


class FaultInjector:
    """The node's view of its faults file; every hook is a no-op when disabled."""

    def __init__(self, home: Path | None) -> None:
        self._path = None if home is None else home / FAULTS_FILE
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._plan = NO_FAULTS

    @classmethod
    def from_environment(cls, home: Path) -> FaultInjector:
        """Enabled only when ``ZONECHAIN_TEST_FAULTS=1`` is set for this process."""
        return cls(home if enabled_in(os.environ) else None)

    @property
    def enabled(self) -> bool:
        return self._path is not None

    def plan(self) -> FaultPlan:
        """The current plan (re-read when the file changed; NO_FAULTS when disabled)."""
        if self._path is None:
            return NO_FAULTS
        with self._lock:
            try:
                status = self._path.stat()
            except FileNotFoundError:
                self._seen, self._plan = None, NO_FAULTS
                return NO_FAULTS
            seen = (status.st_mtime_ns, status.st_size)
            if seen != self._seen:
                self._plan = FaultPlan.decode(self._path.read_text(encoding="utf-8"))
                self._seen = seen
            return self._plan

    def drops(self, peer_id: str) -> bool:
        """Whether messages to or from ``peer_id`` are dropped (a partition)."""
        return self.enabled and peer_id in self.plan().isolated_peers

    def conflicting_vote(self, key: PrivateKey, vote: Vote) -> Vote | None:
        """When equivocating: a second vote by ``key`` for the same slot, another value."""
        if not self.enabled or not self.plan().equivocate or vote.validator != key.address:
            return None
        other = (domain_hash(EQUIVOCATION_HASH_DOMAIN, vote.encode())
                 if vote.block_hash is None else None)
        return sign_vote(key, vote.type, vote.chain_id, vote.height, vote.round, other)


__all__ = ["ENVIRONMENT_VARIABLE", "FAULTS_FILE", "NO_FAULTS", "FaultInjector", "FaultPlan",
           "FaultPlanError", "enabled_in", "save_plan"]
