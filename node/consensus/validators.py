"""Validator sets: voting power, quorum thresholds and proposer rotation.

Guarantees:
- A ``ValidatorSet`` holds 1..VALIDATORS_MAX validators, sorted by address,
  no address twice, each address derived from its public key, every power
  >= 1 and the total at most VOTING_POWER_TOTAL_MAX.
- ``has_quorum(power)`` is "more than 2/3 of the total power" (2f+1 when
  n = 3f+1 with equal powers) and ``has_one_honest(power)`` is "more than
  1/3" (f+1): at least one correct validator is among the signers.
  Both are integer comparisons (``3 * power > 2 * total``), no fractions.
- ``proposer(height, round)`` is a deterministic weighted round-robin, the
  proposer-priority rule of CometBFT: at each step every validator's
  priority grows by its power, the highest priority proposes (ties: lowest
  address) and pays back the total power. Over any ``total_power``
  consecutive steps each validator proposes exactly ``power`` times, spread
  evenly ("smooth weighted round-robin"). Step number
  ``(height - initial_height) + round`` is used, so the proposer changes
  both with each height and with each failed round.
- ``hash`` commits to the set (addresses, public keys, powers, in address
  order): it is the header's ``validator_set_hash``.

Determinism: integers only; iteration in address order; the proposer
sequence depends only on the set, the height and the round.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final

from zonechain.node.consensus.errors import InvalidValidatorSet
from zonechain.node.types.address import account_address
from zonechain.node.types.hashing import domain_hash
from zonechain.node.types.limits import PUBLIC_KEY_BYTES, VALIDATORS_MAX
from zonechain.vm.encoding import Writer
from zonechain.vm.state import ADDRESS_BYTES

VALIDATOR_SET_HASH_DOMAIN: Final = b"zonechain/validator-set/v1"
"""Validator-set hash: sha256(domain + canonical set). Not a prefix of any
domain in zonechain.node.types.hashing, nor they of it."""

VOTING_POWER_TOTAL_MAX: Final = 1 << 20
"""Total power of a set (~1M): 256 validators of power 4096 fit, which is far
more resolution than a consortium's stake weights need. The proposer
sequence is periodic with period ``total_power``; it is memoised lazily (one
small int per step reached), so this bounds that memory to a few MiB."""


@dataclass(frozen=True, slots=True)
class Validator:
    """One validator: ed25519 public key, its account address, its voting power."""

    public_key: bytes
    power: int
    address: bytes = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_BYTES:
            raise InvalidValidatorSet(f"a validator's public key is {PUBLIC_KEY_BYTES} bytes")
        if isinstance(self.power, bool) or not isinstance(self.power, int):
            raise InvalidValidatorSet("a validator's power must be an int")
        if not 1 <= self.power <= VOTING_POWER_TOTAL_MAX:
            raise InvalidValidatorSet(
                f"validator power {self.power} is outside 1..{VOTING_POWER_TOTAL_MAX}"
            )
        object.__setattr__(self, "address", account_address(self.public_key))


class ValidatorSet:
    """An immutable set of validators with quorum arithmetic and proposer rotation."""

    __slots__ = ("_by_address", "_hash", "_initial_height", "_proposers", "_state",
                 "total_power", "validators")

    def __init__(self, validators: Iterable[Validator], *, initial_height: int = 1) -> None:
        ordered = tuple(sorted(validators, key=lambda v: v.address))
        if not ordered:
            raise InvalidValidatorSet("a validator set needs at least one validator")
        if len(ordered) > VALIDATORS_MAX:
            raise InvalidValidatorSet(f"more than {VALIDATORS_MAX} validators")
        for before, after in pairwise(ordered):
            if before.address == after.address:
                raise InvalidValidatorSet(f"validator {before.address.hex()} appears twice")
        if initial_height < 1:
            raise InvalidValidatorSet("initial_height must be at least 1")
        self.validators: tuple[Validator, ...] = ordered
        self.total_power: int = sum(v.power for v in ordered)
        if self.total_power > VOTING_POWER_TOTAL_MAX:
            raise InvalidValidatorSet(f"total power is more than {VOTING_POWER_TOTAL_MAX}")
        self._by_address = {v.address: v for v in ordered}
        self._initial_height = initial_height
        self._hash: bytes | None = None
        self._proposers: list[int] = []
        self._state: list[int] = [0] * len(ordered)

    def __len__(self) -> int:
        return len(self.validators)

    def __contains__(self, address: object) -> bool:
        return address in self._by_address

    def get(self, address: bytes) -> Validator | None:
        return self._by_address.get(address)

    def power_of(self, addresses: Iterable[bytes]) -> int:
        """Total power of the distinct members among ``addresses`` (strangers count 0)."""
        return sum(self._by_address[a].power for a in set(addresses) if a in self._by_address)

    def has_quorum(self, power: int) -> bool:
        """More than 2/3 of the total power: enough to commit or lock."""
        return 3 * power > 2 * self.total_power

    def has_one_honest(self, power: int) -> bool:
        """More than 1/3 of the total power: at least one correct validator among them."""
        return 3 * power > self.total_power

    @property
    def hash(self) -> bytes:
        if self._hash is None:
            writer = Writer()
            writer.list(self.validators, _write_validator)
            self._hash = domain_hash(VALIDATOR_SET_HASH_DOMAIN, bytes(writer))
        return self._hash

    def proposer(self, height: int, round: int) -> Validator:
        """The proposer of ``round`` at ``height`` (see the module docstring)."""
        if height < self._initial_height or round < 0:
            raise ValueError(f"no proposer for height {height}, round {round}")
        # The smooth round-robin returns to its start after `total_power` steps.
        step = ((height - self._initial_height) + round) % self.total_power
        while len(self._proposers) <= step:
            self._proposers.append(self._advance())
        return self.validators[self._proposers[step]]

    def _advance(self) -> int:
        return advance_priorities(self.validators, self.total_power, self._state)


def _write_validator(writer: Writer, validator: Validator) -> None:
    writer.fixed(validator.address, ADDRESS_BYTES).fixed(validator.public_key, PUBLIC_KEY_BYTES)
    writer.u64(validator.power)


def advance_priorities(
    validators: Sequence[Validator], total_power: int, priorities: list[int]
) -> int:
    """One step of the weighted round-robin; returns the chosen index, updates ``priorities``."""
    chosen = 0
    for index, validator in enumerate(validators):
        priorities[index] += validator.power
        if priorities[index] > priorities[chosen]:
            chosen = index  # strict: ties go to the lowest address (earliest index)
    priorities[chosen] -= total_power
    return chosen
