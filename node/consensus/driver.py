"""The seams around the state machine, and the runner that carries out its effects.

    Clock        now_ms(); schedule(delay_ms, timeout): deliver ``timeout`` to the
                 runner after delay_ms (a real timer, or a simulated event queue)
    Transport    broadcast(message) to every other validator (gRPC, or a simulated network)
    Application  validate(block) -> bool (the node executes / checks it: Alg.1
                 ``valid(v)``); commit(block, commit) once decided
The signer store (the write-ahead record of what was signed) is the fourth
seam; it lives in signer.py because the signer, not the runner, writes it.

``ConsensusRunner`` feeds events to a ``ConsensusCore`` and performs the
effects in the order the core produced them; the verdict of ``validate`` is
fed straight back as ``BlockValidated``. It is single-threaded: callers must
serialise ``handle`` calls (one event at a time), as a real node does with
one consensus task.

Determinism: the runner adds no choices of its own; effects run in order.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from zonechain.node.consensus.events import (
    BlockValidated,
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    ConsensusMessage,
    Effect,
    Event,
    ProposalMessage,
    RecordEvidence,
    ScheduleTimeout,
    Timeout,
    ValidateBlock,
    VoteMessage,
)
from zonechain.node.consensus.state_machine import ConsensusCore
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def schedule(self, delay_ms: int, timeout: Timeout) -> None: ...


class Transport(Protocol):
    def broadcast(self, message: ConsensusMessage) -> None: ...


class Application(Protocol):
    def validate(self, block: Block) -> bool: ...

    def commit(self, block: Block, commit: Commit) -> None: ...


class ConsensusRunner:
    """Drives one ConsensusCore: events in, effects out through the seams."""

    def __init__(
        self, core: ConsensusCore, clock: Clock, transport: Transport, application: Application
    ) -> None:
        self.core = core
        self._clock = clock
        self._transport = transport
        self._application = application

    def start(self) -> None:
        self._perform(self.core.start())

    def handle(self, event: Event) -> None:
        self._perform(self.core.handle(event))

    def _perform(self, effects: list[Effect]) -> None:
        queue = deque(effects)
        while queue:
            effect = queue.popleft()
            if isinstance(effect, BroadcastProposal):
                self._transport.broadcast(ProposalMessage(effect.proposal, effect.block))
            elif isinstance(effect, BroadcastVote):
                self._transport.broadcast(VoteMessage(effect.vote))
            elif isinstance(effect, ScheduleTimeout):
                self._clock.schedule(effect.delay_ms, effect.timeout)
            elif isinstance(effect, ValidateBlock):
                verdict = self._application.validate(effect.block)
                queue.extend(self.core.handle(BlockValidated(effect.block.hash, verdict)))
            elif isinstance(effect, CommitBlock):
                self._application.commit(effect.block, effect.commit)
            elif isinstance(effect, RecordEvidence):
                pass  # already in core.evidence; the block builder reads it from there
