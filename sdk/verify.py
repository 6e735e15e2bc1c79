"""Verified reads: check a node's answer against a root that the validators signed.

``Verifier(chain_id, validators)`` holds what the client trusts: the chain id
and the genesis validator set. ``verify_state(value)`` accepts a
``StateValue`` (a ``Query`` with ``prove``) only when ALL of these hold,
and raises ``VerificationFailed`` saying which did not:

1. the answer carries a header, its commit certificate and a proof;
2. the header is for this chain and for ``value.height + 1`` (docs/PROTOCOL.md
   state-root rule: header H+1 carries the state root after block H);
3. the certificate is for that header (same height, block hash = header hash);
4. the header names the validator set in force at its height, as followed
   from genesis through the governed validator-set changes by the
   light-client trust chain (``zonechain.sdk.trust.TrustChain``: each change
   read from the certified blocks and receipts that executed it, checked
   against headers the previous set certified);
5. the certificate is signed by more than 2/3 of that set's voting power
   (``zonechain.node.consensus.certificate.verify_commit``);
6. the proof (``zonechain.node.state.proof``) shows that under the header's
   ``last_state_root`` the key holds exactly ``value.value`` (or is absent).

Following a change fetches blocks, receipts and a proposal record (a hint),
so it needs a ``source`` (``verify_state(value, source=client)``;
``Client.read_state(..., verify=True)`` passes itself). The trusted sets are
cached in the Verifier (thread-safe), so only reads past the last trusted
height fetch anything: one ``get_block`` hint for the new height, plus
O(log n) blocks and the receipts of two blocks per set change. Without a
source, a read whose header is signed by a set not yet followed fails with a
clear message. The trust assumption is the one of sdk/trust.py.

``await verify_state_async(value, source)`` is the same check for an asyncio
source (``AsyncClient.read_state(..., verify=True)`` passes itself): the walk
and the signature checks run in a worker thread (``asyncio.to_thread``) whose
fetches go back to the event loop (``trust.ThreadedSource``), so the loop is
never blocked. Mixing the two on one Verifier is safe from threads, but do not
call the synchronous ``verify_state`` on the event loop's thread while an async
walk may be in flight: it would wait for the trust-chain lock there.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable

from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.sdk.errors import VerificationFailed
from zonechain.sdk.responses import StateValue
from zonechain.sdk.trust import (
    AsyncChainSource,
    ChainSource,
    ThreadedSource,
    TrustChain,
    check_proof,
)


class Verifier:
    """Checks proofs against headers certified by the trusted validator set."""

    __slots__ = ("chain_id", "trust", "validators")

    def __init__(self, chain_id: str, validators: ValidatorSet, *,
                 initial_height: int = 1) -> None:
        self.chain_id = chain_id
        self.validators = validators  # the genesis set; trust.changes: the sets followed since
        self.trust = TrustChain(chain_id, validators, initial_height=initial_height)

    @classmethod
    def from_public_keys(
        cls, chain_id: str, keys_and_powers: Iterable[tuple[bytes, int]]
    ) -> Verifier:
        """A verifier trusting validators given as (32-byte public key, voting power)."""
        return cls(chain_id, ValidatorSet(Validator(key, power) for key, power in keys_and_powers))

    def verify_state(self, value: StateValue, source: ChainSource | None = None) -> StateValue:
        """``value`` marked verified, or VerificationFailed (see the module docstring)."""
        header, commit = value.header, value.commit
        if header is None or commit is None or not value.proof:
            raise VerificationFailed("the node sent no header, certificate or proof to check")
        if header.height != value.height + 1:
            raise VerificationFailed(f"a value after height {value.height} is proven by header "
                                     f"{value.height + 1}, got header {header.height}")
        self.trust.verify_header(header, commit, source)
        check_proof(header, value, f"key {value.key.hex()}")
        return dataclasses.replace(value, verified=True)

    async def verify_state_async(self, value: StateValue,
                                 source: AsyncChainSource) -> StateValue:
        """``verify_state`` following set changes through an asyncio ``source``, off the loop."""
        threaded = ThreadedSource(source, asyncio.get_running_loop())
        return await asyncio.to_thread(self.verify_state, value, threaded)
