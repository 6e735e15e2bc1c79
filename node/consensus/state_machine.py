"""The Tendermint consensus state machine of one validator, as a pure event handler.

This is Algorithm 1 of "The latest gossip on BFT consensus" (Buchman, Kwon,
Milosevic, 2018); comments cite its line numbers ("Alg.1 lines 22-27").
``ConsensusCore.handle(event)`` takes one event (a proposal, a vote, a
timeout, a block-validity verdict, a synced block) and returns the effects
to carry out (broadcasts, timeouts to schedule, blocks to validate, a
commit, new evidence). It has no threads, no I/O and no clock: time comes
in as ``Timeout`` events that it asked for; signing goes through the
injected ``ConsensusSigner`` (the double-sign guard, which saves before it
signs); proposals are built by the injected ``BlockBuilder``.

Guarantees (with at most f faulty of n = 3f+1 by power):
- Agreement: it commits a block only with precommits of more than 2/3 of
  the power for that block in one round (Alg.1 line 49), or with a
  verified certificate from block sync; with the locking rules (lines
  22-43) two honest validators never commit different blocks at a height.
- Validity: it prevotes for a block, locks on it and commits it only once
  the node said the block is valid (``BlockValidated``; Alg.1 ``valid(v)``).
- Every counted vote has a valid signature from a member of the set; each
  validator counts once per (round, type); a second, conflicting vote
  becomes ``DuplicateVoteEvidence`` in ``evidence`` (and a
  ``RecordEvidence`` effect), also for the previous height's votes.
- Validators may change with height: given a ``ValidatorSchedule`` instead
  of a ``ValidatorSet``, every quorum, proposer, vote, proposal, certificate
  and late vote is judged with the set of its own height, and this
  validator signs only at heights where it is a member (docs/CONSENSUS.md,
  "Validator-set changes"). With a ValidatorSet nothing changes with height.
- Messages for the next height are kept (at most FUTURE_MESSAGES_MAX of
  them and FUTURE_MESSAGES_BYTES_MAX of encoded bytes) and
  replayed on arrival there; other heights are ignored. Bad messages are
  ignored, never raised: a peer cannot crash the node.

Determinism: the effects depend only on the events, their order, the
injected seams and the construction arguments; integers only, no
unordered iteration.
"""

from __future__ import annotations

from typing import Final, Protocol

from zonechain.node.consensus.certificate import (
    SignatureVerifier,
    commit_from_precommits,
    verify_commit,
)
from zonechain.node.consensus.errors import DoubleSignRefused, InvalidCommit
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
    SyncedBlock,
    Timeout,
    ValidateBlock,
    VoteMessage,
)
from zonechain.node.consensus.evidence import EvidencePool
from zonechain.node.consensus.schedule import ValidatorSchedule
from zonechain.node.consensus.signer import ConsensusSigner
from zonechain.node.consensus.timeouts import Step, TimeoutConfig
from zonechain.node.consensus.validators import Validator, ValidatorSet
from zonechain.node.consensus.votes import HeightVotes, VoteAdded
from zonechain.node.crypto import verify_signature
from zonechain.node.types.block import Block
from zonechain.node.types.commit import Commit
from zonechain.node.types.errors import DecodeError, MalformedMessage
from zonechain.node.types.evidence import DuplicateVoteEvidence
from zonechain.node.types.limits import BLOCK_BYTES_MAX
from zonechain.node.types.vote import Proposal, Vote, VoteType

PROPOSALS_PER_ROUND_MAX: Final = 4
"""Proposals kept per round: an honest proposer sends one; an equivocating
one gets a few counted (so honest validators can follow a POL it split),
and no more."""

ROUNDS_AHEAD_MAX: Final = 10_000
"""Messages for rounds further ahead of ours are ignored, so a Byzantine
validator cannot make us store votes for unboundedly many rounds. Honest
validators cannot run that far ahead: with growing timeouts, 10,000 failed
rounds take days, and rounds only advance with a quorum's messages."""

FUTURE_MESSAGES_MAX: Final = 4096
"""Next-height messages kept while this height finishes: a few rounds of
votes from 256 validators; beyond that the sender is flooding and the rest
is dropped (gossip resends what matters)."""

FUTURE_MESSAGES_BYTES_MAX: Final = 4 * BLOCK_BYTES_MAX + 1024 * 1024
"""Encoded bytes of the kept next-height messages (a proposal counts its block):
four maximal proposals (an honest proposer sends one per round, and the first
round or two of a height may fail) plus 1 MiB of votes (4,096 votes of about
200 B). Without it FUTURE_MESSAGES_MAX maximal proposals could hold ~32 GiB;
with it a flooding sender holds at most ~33 MiB. A proposal dropped here is
not lost for good: its proposer re-gossips it once we are at its height."""


def message_bytes(message: ConsensusMessage) -> int:
    """Encoded size of a consensus message; a proposal counts its block."""
    if isinstance(message, VoteMessage):
        return len(message.vote.encode())
    return len(message.proposal.encode()) + len(message.block.encode())


class BlockBuilder(Protocol):
    """Builds this validator's proposal (Alg.1 line 18, getValue())."""

    def build_block(
        self, height: int, round: int, last_commit: Commit | None,
        evidence: tuple[DuplicateVoteEvidence, ...],
    ) -> Block: ...


class ConsensusCore:
    """One validator's Tendermint state machine; see the module docstring."""

    def __init__(
        self, chain_id: str, validators: ValidatorSet | ValidatorSchedule,
        signer: ConsensusSigner,
        builder: BlockBuilder, *, height: int, last_commit: Commit | None = None,
        timeouts: TimeoutConfig | None = None, verify: SignatureVerifier = verify_signature,
        evidence: EvidencePool | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.schedule = validators if isinstance(validators, ValidatorSchedule) else None
        """None with a fixed ValidatorSet; else the sets and proposers by height."""
        self._fixed_validators = validators if isinstance(validators, ValidatorSet) else None
        self.timeouts = timeouts if timeouts is not None else TimeoutConfig()
        self.evidence = evidence if evidence is not None else EvidencePool()
        self._signer = signer
        self._builder = builder
        self._verify = verify
        self._out: list[Effect] = []
        self._future: list[ConsensusMessage] = []
        self._future_bytes = 0
        self._last_votes: HeightVotes | None = None
        self._reset_height(height, last_commit)

    # State (Alg.1 lines 1-9) ------------------------------------------------

    def _reset_height(self, height: int, last_commit: Commit | None) -> None:
        """Alg.1 lines 2-9 and 52-53: a fresh height with an empty message log."""
        self.height = height
        self.validators = self.validators_at(height)
        """The set of the height being decided: quorums, proposers, signatures."""
        self.last_commit = last_commit
        self.round = 0
        self.step = Step.PROPOSE
        self.locked_value: bytes | None = None  # lockedValue, by block hash
        self.locked_round: int | None = None  # None stands for the paper's -1
        self.valid_block: Block | None = None
        self.valid_round: int | None = None
        self._votes = HeightVotes(height, self.validators)
        self._proposals: dict[int, list[Proposal]] = {}
        self._blocks: dict[bytes, Block] = {}
        self._validity: dict[bytes, bool] = {}
        self._validation_asked: dict[bytes, None] = {}
        self._prevote_timeout_rounds: dict[int, None] = {}
        self._precommit_timeout_rounds: dict[int, None] = {}
        self._lock_rule_rounds: dict[int, None] = {}

    @property
    def address(self) -> bytes:
        return self._signer.address

    def validators_at(self, height: int) -> ValidatorSet:
        """The validator set of ``height`` (the fixed set, or the schedule's)."""
        if self._fixed_validators is not None:
            return self._fixed_validators
        assert self.schedule is not None
        return self.schedule.validators_at(height)

    def proposer(self, round: int) -> Validator:
        """The proposer of ``round`` at the current height."""
        if self._fixed_validators is not None:
            return self._fixed_validators.proposer(self.height, round)
        assert self.schedule is not None
        return self.schedule.proposer(self.height, round)

    @property
    def votes(self) -> HeightVotes:
        return self._votes

    def messages_for_peers(self) -> list[ConsensusMessage]:
        """Every proposal (with its block) and vote held for the current height.

        The gossip layer sends these to a peer that (re)connects, so that the
        paper's assumption holds: a message one correct validator received
        reaches every correct validator (a restarted peer lost its messages).
        """
        messages: list[ConsensusMessage] = []
        for round in sorted(self._proposals):
            for proposal in self._proposals[round]:
                messages.append(ProposalMessage(proposal, self._blocks[proposal.block_hash]))
        messages.extend(VoteMessage(vote) for vote in self._votes.all_votes())
        return messages

    def has_message(self, message: ConsensusMessage) -> bool:
        """Whether this exact proposal or vote is held at the current height (for gossip)."""
        if isinstance(message, VoteMessage):
            return self._votes.contains(message.vote)
        return message.proposal in self._proposals.get(message.proposal.round, [])

    def known_blocks(self) -> list[bytes]:
        """Hashes of the blocks proposed at the current height, in arrival order."""
        return list(self._blocks)

    def proposal(self, round: int) -> Proposal | None:
        """The first proposal received for ``round`` (an equivocating proposer may send more)."""
        found = self._proposals.get(round)
        return found[0] if found else None

    # Entry points -----------------------------------------------------------

    def start(self) -> list[Effect]:
        """Alg.1 line 10: start the height; resume a round and lock the signer store names."""
        round = 0
        state = self._signer.state
        if state is not None and state.height == self.height:
            # Restarted mid-height: resume where we signed, with our lock (signer.py).
            round = state.round
            self.locked_round, self.locked_value = state.locked_round, state.locked_hash
            self._count_own_signed(state.signed, state.step)
        self._start_round(round)
        return self._finish()

    def handle(self, event: Event) -> list[Effect]:
        """Apply one event; return the effects to carry out, in order."""
        if isinstance(event, ProposalMessage | VoteMessage):
            self._on_message(event)
        elif isinstance(event, Timeout):
            self._on_timeout(event)
        elif isinstance(event, BlockValidated):
            if event.block_hash in self._blocks:
                self._validity[event.block_hash] = event.valid
        elif isinstance(event, SyncedBlock):
            self._on_synced_block(event)
        else:
            raise TypeError(f"not a consensus event: {type(event).__name__}")
        return self._finish()

    def _finish(self) -> list[Effect]:
        self._advance()
        out, self._out = self._out, []
        return out

    # Messages -----------------------------------------------------------------

    def _on_message(self, message: ConsensusMessage) -> None:
        if isinstance(message, ProposalMessage):
            height, round = message.proposal.height, message.proposal.round
        else:
            height, round = message.vote.height, message.vote.round
        if round > self.round + ROUNDS_AHEAD_MAX:
            return
        if height == self.height + 1:
            self._keep_for_next_height(message)
            return
        if isinstance(message, VoteMessage):
            self._on_vote(message.vote)
        elif height == self.height:
            self._on_proposal(message.proposal, message.block)

    def _keep_for_next_height(self, message: ConsensusMessage) -> None:
        """Buffer ``message`` within FUTURE_MESSAGES_MAX and FUTURE_MESSAGES_BYTES_MAX."""
        if len(self._future) >= FUTURE_MESSAGES_MAX:
            return
        size = message_bytes(message)
        if self._future_bytes + size > FUTURE_MESSAGES_BYTES_MAX:
            return
        self._future.append(message)
        self._future_bytes += size

    def _on_proposal(self, proposal: Proposal, block: Block) -> None:
        """Keep a round's proposals by its proposer (Alg.1 lines 22, 28, 36, 49).

        An honest proposer sends one; an equivocating one may send several, and
        every one is a "PROPOSAL from proposer(h, r)" in the paper's rules, so up
        to PROPOSALS_PER_ROUND_MAX are kept and each rule looks at all of them.
        """
        proposer = self.proposer(proposal.round)
        if (proposal.chain_id != self.chain_id or proposal.proposer != proposer.address
                or block.hash != proposal.block_hash or block.height != self.height
                or block.header.chain_id != self.chain_id):
            return
        known = self._proposals.get(proposal.round, [])
        if len(known) >= PROPOSALS_PER_ROUND_MAX or proposal in known:
            return
        if not self._verify(proposer.public_key, proposal.signing_bytes(), proposal.signature):
            return
        self._votes.note_sender(proposal.round, proposal.proposer)
        self._proposals.setdefault(proposal.round, []).append(proposal)
        self._remember_block(block)

    def _remember_block(self, block: Block) -> None:
        if block.hash not in self._blocks:
            self._blocks[block.hash] = block
        if block.hash not in self._validity and block.hash not in self._validation_asked:
            self._validation_asked[block.hash] = None
            self._out.append(ValidateBlock(block))

    def _on_vote(self, vote: Vote) -> None:
        if vote.chain_id != self.chain_id:
            return
        if vote.height == self.height:
            target = self._votes
        elif self._last_votes is not None and vote.height == self._last_votes.height:
            target = self._last_votes  # late votes: only to catch equivocation
        else:
            return
        member = target.validators.get(vote.validator)  # the set of the vote's height
        if member is None or target.contains(vote):
            return
        if not self._verify(member.public_key, vote.signing_bytes(), vote.signature):
            return
        outcome, evidence = target.add(vote)
        if outcome is VoteAdded.CONFLICT and evidence is not None and self.evidence.add(evidence):
            self._out.append(RecordEvidence(evidence))

    def _on_timeout(self, timeout: Timeout) -> None:
        if timeout.height != self.height or timeout.round != self.round:
            return
        if timeout.step == Step.PROPOSE and self.step == Step.PROPOSE:
            # Alg.1 lines 57-60: OnTimeoutPropose
            self._prevote(None)
        elif timeout.step == Step.PREVOTE and self.step == Step.PREVOTE:
            # Alg.1 lines 61-64: OnTimeoutPrevote
            self._precommit(None)
        elif timeout.step == Step.PRECOMMIT:
            # Alg.1 lines 65-67: OnTimeoutPrecommit
            self._start_round(self.round + 1)

    def _on_synced_block(self, synced: SyncedBlock) -> None:
        """Block sync: a certificate of more than 2/3 decides this height without voting."""
        block, commit = synced.block, synced.commit
        if block.height != self.height or commit.height != self.height:
            return
        if commit.block_hash != block.hash or block.header.chain_id != self.chain_id:
            return
        try:
            block.check_contents()
            verify_commit(commit, self.validators, self.chain_id, self._verify)
        except (InvalidCommit, MalformedMessage):
            return
        self._decide(block, commit)

    # Rules, applied until none fires ------------------------------------------

    def _advance(self) -> None:
        while (
            self._rule_decide() or self._rule_skip_round() or self._rule_proposal()
            or self._rule_proposal_with_pol() or self._rule_prevote_timeout()
            or self._rule_lock() or self._rule_precommit_nil()
            or self._rule_precommit_timeout()
        ):
            pass

    def _rule_decide(self) -> bool:
        """Alg.1 lines 49-54: a proposal and 2f+1 precommits for it in any round r: decide."""
        for round in self._votes.rounds_with_votes(VoteType.PRECOMMIT):
            reached, value = self._votes.quorum_value(round, VoteType.PRECOMMIT)
            if not reached or value is None or value not in self._blocks:
                continue
            if self._validity.get(value) is not True:  # line 50: valid(v)
                continue
            precommits = self._votes.votes_for(round, VoteType.PRECOMMIT, value)
            self._decide(self._blocks[value], commit_from_precommits(precommits))
            return True
        return False

    def _decide(self, block: Block, commit: Commit) -> None:
        """Alg.1 lines 51-54: record the decision, move to the next height, StartRound(0)."""
        self._out.append(CommitBlock(block, commit))
        self.evidence.mark_committed(block.evidence)
        self._last_votes = self._votes
        self._reset_height(self.height + 1, commit)
        self._start_round(0)
        waiting, self._future, self._future_bytes = self._future, [], 0
        for message in waiting:
            self._on_message(message)

    def _rule_skip_round(self) -> bool:
        """Alg.1 lines 55-56: f+1 power sent messages for a later round: StartRound(round)."""
        round = self._votes.highest_skip_round
        if round <= self.round:
            return False
        self._start_round(round)
        return True

    def _rule_proposal(self) -> bool:
        """Alg.1 lines 22-27: a fresh proposal (validRound -1) while step = propose."""
        if self.step != Step.PROPOSE:
            return False
        for proposal in self._proposals.get(self.round, []):
            valid = self._validity.get(proposal.block_hash)
            if proposal.pol_round is not None or valid is None:
                continue  # lines 28-33 handle a POL; else wait for the verdict (BlockValidated)
            value = proposal.block_hash
            acceptable = self.locked_round is None or self.locked_value == value  # line 23
            self._prevote(value if valid and acceptable else None)
            return True
        return False

    def _rule_proposal_with_pol(self) -> bool:
        """Alg.1 lines 28-33: a proposal re-proposing v with a POL from round vr < round."""
        if self.step != Step.PROPOSE:
            return False
        for proposal in self._proposals.get(self.round, []):
            value, pol_round = proposal.block_hash, proposal.pol_round
            if pol_round is None:
                continue
            power = self._votes.power_for(pol_round, VoteType.PREVOTE, value)
            valid = self._validity.get(value)
            if not self.validators.has_quorum(power) or valid is None:
                continue
            acceptable = (self.locked_round is None or self.locked_round <= pol_round
                          or self.locked_value == value)  # line 29
            self._prevote(value if valid and acceptable else None)
            return True
        return False

    def _rule_prevote_timeout(self) -> bool:
        """Alg.1 lines 34-35: 2f+1 prevotes of any kind, first time: schedule timeoutPrevote."""
        if self.step != Step.PREVOTE or self.round in self._prevote_timeout_rounds:
            return False
        if not self.validators.has_quorum(self._votes.total_power(self.round, VoteType.PREVOTE)):
            return False
        self._prevote_timeout_rounds[self.round] = None
        self._schedule(Step.PREVOTE)
        return True

    def _rule_lock(self) -> bool:
        """Alg.1 lines 36-43: proposal + 2f+1 prevotes for it (a POL), step >= prevote, once."""
        if self.step < Step.PREVOTE or self.round in self._lock_rule_rounds:
            return False
        for proposal in self._proposals.get(self.round, []):
            value = proposal.block_hash
            power = self._votes.power_for(self.round, VoteType.PREVOTE, value)
            if self._validity.get(value) is True and self.validators.has_quorum(power):
                self._lock(value)
                return True
        return False

    def _lock(self, value: bytes) -> None:
        self._lock_rule_rounds[self.round] = None
        if self.step == Step.PREVOTE:  # lines 37-41
            self.locked_value, self.locked_round = value, self.round
            self._precommit(value)
        self.valid_block, self.valid_round = self._blocks[value], self.round  # lines 42-43

    def _rule_precommit_nil(self) -> bool:
        """Alg.1 lines 44-46: 2f+1 prevotes for nil while step = prevote: precommit nil."""
        if self.step != Step.PREVOTE:
            return False
        if self._votes.quorum_value(self.round, VoteType.PREVOTE) != (True, None):
            return False
        self._precommit(None)
        return True

    def _rule_precommit_timeout(self) -> bool:
        """Alg.1 lines 47-48: 2f+1 precommits of any kind, first time: schedule timeoutPrecommit."""
        if self.round in self._precommit_timeout_rounds:
            return False
        power = self._votes.total_power(self.round, VoteType.PRECOMMIT)
        if not self.validators.has_quorum(power):
            return False
        self._precommit_timeout_rounds[self.round] = None
        self._schedule(Step.PRECOMMIT)
        return True

    # Actions --------------------------------------------------------------------

    def _start_round(self, round: int) -> None:
        """Alg.1 lines 11-21: StartRound(round)."""
        self.round, self.step = round, Step.PROPOSE
        proposer = self.proposer(round)
        if proposer.address == self.address:
            self._propose()
        # Line 21 schedules timeoutPropose only for non-proposers; the proposer
        # gets one too, so a proposal refused by the signer cannot stall it.
        self._schedule(Step.PROPOSE)

    def _propose(self) -> None:
        """Alg.1 lines 15-19: propose validValue if any, else a new block (getValue())."""
        block = self.valid_block
        if block is None:
            block = self._builder.build_block(
                self.height, self.round, self.last_commit,
                self.evidence.pending(height=self.height))
        try:
            proposal = self._signer.sign_proposal(
                self.chain_id, self.height, self.round, self.valid_round, block.hash
            )
        except DoubleSignRefused:
            return  # proposed something else before a restart; its block is gone
        self._proposals.setdefault(self.round, []).append(proposal)
        self._blocks.setdefault(block.hash, block)
        self._validity[block.hash] = True  # our own (or already validated) block
        self._votes.note_sender(self.round, self.address)
        self._out.append(BroadcastProposal(proposal, block))

    def _prevote(self, value: bytes | None) -> None:
        self._send_vote(VoteType.PREVOTE, value)
        self.step = Step.PREVOTE

    def _precommit(self, value: bytes | None) -> None:
        self._send_vote(VoteType.PRECOMMIT, value)
        self.step = Step.PRECOMMIT

    def _send_vote(self, vote_type: VoteType, value: bytes | None) -> None:
        if self.address not in self.validators:
            return  # not a validator at this height (not yet added, or removed): follow only
        try:
            vote = self._signer.sign_vote(vote_type, self.chain_id, self.height, self.round, value)
        except DoubleSignRefused as refused:
            # Signed before a restart for this slot: resend exactly that vote, never another.
            vote_or_none = _decode_vote(refused.previous)
            if vote_or_none is None or vote_or_none.type != vote_type:
                return
            vote = vote_or_none
        self._votes.add(vote)
        self._out.append(BroadcastVote(vote))

    def _count_own_signed(self, signed: bytes, step: Step) -> None:
        """After a restart: count and resend the last vote we signed (it may never have left)."""
        if step == Step.PROPOSE:
            return  # the proposed block did not survive the restart
        vote = _decode_vote(signed)
        if vote is not None and vote.height == self.height:
            self._votes.add(vote)
            self._out.append(BroadcastVote(vote))

    def _schedule(self, step: Step) -> None:
        delay = self.timeouts.duration_ms(step, self.round)
        self._out.append(ScheduleTimeout(Timeout(self.height, self.round, step), delay))


def _decode_vote(signed: bytes | None) -> Vote | None:
    if signed is None:
        return None
    try:
        return Vote.decode(signed)
    except (DecodeError, MalformedMessage):
        return None
