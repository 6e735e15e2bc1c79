"""Policy rules over organisations x roles: text syntax, canonical bytes, evaluation.

A policy says whose approval an action needs. It is one rule (ChainMaker's
endorsement rules are the model), with an optional role filter and an
optional organisation list:

    ANY [roles] [of orgs]            one qualifying approval
    ALL [roles] [of orgs]            every organisation of the list (or of the
                                     network) approves
    MAJORITY [roles] [of orgs]       more than half of the organisations
    AT_LEAST n [roles] [of orgs]     at least n organisations
    FRACTION p/q [roles] [of orgs]   at least p/q of the organisations
    SELF [roles]                     the organisation the target belongs to
    FORBIDDEN                        nobody, ever

``roles`` and ``orgs`` are comma-separated lists ("client,deployer",
"bank_a,bank_b"). An approval is a pair (organisation, role); it qualifies
when its role is in the filter (no filter: any role) and its organisation is
in the list (no list: any organisation of the network). Counting rules count
ORGANISATIONS with at least one qualifying approval, never signers, so an
organisation with many members has one voice.

Examples: ``MAJORITY admin``, ``ANY client,deployer``,
``AT_LEAST 2 admin of bank_a,bank_b,regulator``, ``FORBIDDEN``.

Guarantees:
- ``parse_policy`` is strict: unknown words, duplicate roles or
  organisations, a zero or out-of-range count, p > q, a filter on FORBIDDEN,
  an organisation list on SELF, trailing text — each raises ``PolicyError``
  with the character position of the fault.
- Each policy has one text form (``Policy.text``: single spaces, roles in
  the order of ``Role``, organisations sorted) and one byte form
  (``encode``); ``parse_policy(p.text) == p`` and ``decode_policy(p.encode())
  == p``; ``decode_policy`` accepts only canonical bytes.
- ``evaluate`` is a pure function of the policy, the approvals and the
  context; the ``Decision`` names the rule in canonical text.

Determinism: integers only (FRACTION compares ``count * q >= p * total``);
organisations are handled as sorted tuples; no floats, no unordered iteration
feeds a result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from zonechain.node.permissions.errors import PolicyError
from zonechain.vm.encoding import DecodeError, EncodeError, Reader, Writer

POLICY_FORMAT_VERSION: Final = 1
POLICY_TEXT_BYTES_MAX: Final = 8 * 1024
"""A policy names at most ORGANISATIONS_MAX ids of <= 64 bytes: 8 KiB bounds the
parser's work on hostile text long before that would be reached in practice."""

ORGANISATIONS_MAX: Final = 256
"""Organisations in one network (and so in one policy's list): a consortium is
tens of departments; 256 keeps every scan over them trivial."""

FRACTION_DENOMINATOR_MAX: Final = 1_000_000
"""FRACTION p/q with q <= 1e6: finer than any consortium needs, and
``count * q`` stays far inside 64-bit arithmetic."""

IDENTIFIER_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
"""Organisation ids and zone names: lowercase, short, safe in keys and logs
(never contain a NUL byte, which the state key layout relies on)."""

_COUNT_PATTERN: Final = re.compile(r"^[1-9][0-9]{0,5}$")
_FRACTION_PATTERN: Final = re.compile(r"^([1-9][0-9]{0,6})/([1-9][0-9]{0,6})$")


class Role(IntEnum):
    """A member's role inside its organisation; the value is its bit in a role mask."""

    ADMIN = 1
    DEPLOYER = 2
    CLIENT = 4
    REGULATOR = 8
    AUDITOR = 16

    @property
    def text(self) -> str:
        return self.name.lower()


ROLE_BY_NAME: Final = {role.text: role for role in Role}
ROLE_MASK_ALL: Final = sum(role.value for role in Role)


def roles_to_mask(roles: Iterable[Role]) -> int:
    mask = 0
    for role in roles:
        mask |= role.value
    return mask


def mask_to_roles(mask: int) -> frozenset[Role]:
    if mask & ~ROLE_MASK_ALL:
        raise ValueError(f"role mask {mask} has unknown bits")
    return frozenset(role for role in Role if mask & role.value)


def roles_text(roles: Iterable[Role]) -> str:
    return ",".join(role.text for role in sorted(set(roles)))


class RuleKind(IntEnum):
    ALL = 1
    ANY = 2
    MAJORITY = 3
    AT_LEAST = 4
    FRACTION = 5
    SELF = 6
    FORBIDDEN = 7


_KIND_BY_WORD: Final = {kind.name: kind for kind in RuleKind}

Approval = tuple[str, Role]
"""(organisation id, role) of one approving signer."""


@dataclass(frozen=True, slots=True)
class Policy:
    """One rule; construct through ``parse_policy`` or the constructor (checked)."""

    kind: RuleKind
    roles: frozenset[Role] = frozenset()
    organisations: tuple[str, ...] = ()
    count: int = 0
    numerator: int = 0
    denominator: int = 0

    def __post_init__(self) -> None:
        problem = _invalid_reason(self)
        if problem is not None:
            raise PolicyError(problem, 0)

    @property
    def text(self) -> str:
        """The canonical text form."""
        words = [self.kind.name]
        if self.kind is RuleKind.AT_LEAST:
            words.append(str(self.count))
        elif self.kind is RuleKind.FRACTION:
            words.append(f"{self.numerator}/{self.denominator}")
        if self.roles:
            words.append(roles_text(self.roles))
        if self.organisations:
            words.extend(("of", ",".join(self.organisations)))
        return " ".join(words)

    def __str__(self) -> str:
        return self.text

    def encode(self) -> bytes:
        writer = Writer().u8(POLICY_FORMAT_VERSION)
        self.write(writer)
        return bytes(writer)

    def write(self, writer: Writer) -> None:
        writer.u8(self.kind.value).u32(self.count).u32(self.numerator).u32(self.denominator)
        writer.u8(roles_to_mask(self.roles))
        writer.list(self.organisations, Writer.string)


def _invalid_reason(policy: Policy) -> str | None:
    kind = policy.kind
    if not isinstance(kind, RuleKind):
        return "unknown rule kind"
    if list(policy.organisations) != sorted(set(policy.organisations)):
        return "organisations must be sorted and distinct"
    if len(policy.organisations) > ORGANISATIONS_MAX:
        return f"at most {ORGANISATIONS_MAX} organisations in a policy"
    for organisation in policy.organisations:
        if not IDENTIFIER_PATTERN.fullmatch(organisation):
            return f"organisation id {organisation[:64]!r} must match {IDENTIFIER_PATTERN.pattern}"
    if kind is RuleKind.FORBIDDEN and (policy.roles or policy.organisations):
        return "FORBIDDEN takes no roles and no organisations"
    if kind is RuleKind.SELF and policy.organisations:
        return "SELF takes no organisation list"
    if kind is RuleKind.AT_LEAST:
        if not 1 <= policy.count <= ORGANISATIONS_MAX:
            return f"AT_LEAST needs a count in 1..{ORGANISATIONS_MAX}"
    elif policy.count != 0:
        return "only AT_LEAST has a count"
    if kind is RuleKind.FRACTION:
        if not 1 <= policy.denominator <= FRACTION_DENOMINATOR_MAX:
            return f"FRACTION needs a denominator in 1..{FRACTION_DENOMINATOR_MAX}"
        if not 1 <= policy.numerator <= policy.denominator:
            return "FRACTION p/q needs 1 <= p <= q"
    elif policy.numerator != 0 or policy.denominator != 0:
        return "only FRACTION has p/q"
    return None


# ---- text ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    """Words and commas with their character positions; whitespace separates words."""
    tokens: list[_Token] = []
    index = 0
    while index < len(text):
        character = text[index]
        if character in " \t":
            index += 1
        elif character == ",":
            tokens.append(_Token(",", index))
            index += 1
        elif not character.isprintable() or character.isspace():
            raise PolicyError(f"unexpected character {character!r}", index)
        else:
            start = index
            while index < len(text) and text[index] not in " \t," and text[index].isprintable():
                index += 1
            tokens.append(_Token(text[start:index], start))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str) -> _Token:
        token = self.peek()
        if token is None:
            raise PolicyError(f"expected {expected}, found the end", len(self.text))
        self.index += 1
        return token

    def word_list(self, what: str) -> list[_Token]:
        items = [self.take(what)]
        while (token := self.peek()) is not None and token.text == ",":
            self.index += 1
            items.append(self.take(what))
        for item in items:
            if item.text == ",":
                raise PolicyError(f"expected {what}, found ','", item.position)
        return items


def parse_policy(text: str) -> Policy:
    """Parse the text syntax (module docstring); ``PolicyError`` with position on any fault."""
    if not isinstance(text, str):
        raise PolicyError("a policy is text", 0)
    if len(text.encode("utf-8", "surrogatepass")) > POLICY_TEXT_BYTES_MAX:
        raise PolicyError(f"policy text is longer than {POLICY_TEXT_BYTES_MAX} bytes", 0)
    parser = _Parser(text)
    head = parser.take("a rule (ALL, ANY, MAJORITY, AT_LEAST, FRACTION, SELF, FORBIDDEN)")
    kind = _KIND_BY_WORD.get(head.text)
    if kind is None:
        raise PolicyError(f"unknown rule {head.text[:32]!r}: expected one of "
                          + ", ".join(_KIND_BY_WORD), head.position)
    count, numerator, denominator = _parse_argument(parser, kind)
    roles = _parse_roles(parser, kind)
    organisations = _parse_organisations(parser, kind)
    trailing = parser.peek()
    if trailing is not None:
        raise PolicyError(f"unexpected {trailing.text[:32]!r} after the rule", trailing.position)
    return Policy(kind, roles, organisations, count, numerator, denominator)


def _parse_argument(parser: _Parser, kind: RuleKind) -> tuple[int, int, int]:
    if kind is RuleKind.AT_LEAST:
        token = parser.take("a count after AT_LEAST")
        if not _COUNT_PATTERN.fullmatch(token.text) or int(token.text) > ORGANISATIONS_MAX:
            raise PolicyError(f"AT_LEAST needs a count in 1..{ORGANISATIONS_MAX}, "
                              f"found {token.text[:32]!r}", token.position)
        return int(token.text), 0, 0
    if kind is RuleKind.FRACTION:
        token = parser.take("p/q after FRACTION")
        match = _FRACTION_PATTERN.fullmatch(token.text)
        if match is None:
            raise PolicyError(f"FRACTION needs p/q, found {token.text[:32]!r}", token.position)
        numerator, denominator = int(match.group(1)), int(match.group(2))
        if denominator > FRACTION_DENOMINATOR_MAX or numerator > denominator:
            raise PolicyError(f"FRACTION p/q needs 1 <= p <= q <= {FRACTION_DENOMINATOR_MAX}",
                              token.position)
        return 0, numerator, denominator
    return 0, 0, 0


def _parse_roles(parser: _Parser, kind: RuleKind) -> frozenset[Role]:
    token = parser.peek()
    if token is None or token.text == "of":
        return frozenset()
    if kind is RuleKind.FORBIDDEN:
        raise PolicyError("FORBIDDEN takes no roles and no organisations", token.position)
    roles: set[Role] = set()
    for item in parser.word_list("a role"):
        role = ROLE_BY_NAME.get(item.text)
        if role is None:
            raise PolicyError(f"unknown role {item.text[:32]!r}: expected one of "
                              + ", ".join(ROLE_BY_NAME), item.position)
        if role in roles:
            raise PolicyError(f"role {item.text!r} is listed twice", item.position)
        roles.add(role)
    return frozenset(roles)


def _parse_organisations(parser: _Parser, kind: RuleKind) -> tuple[str, ...]:
    token = parser.peek()
    if token is None or token.text != "of":
        return ()
    if kind in (RuleKind.SELF, RuleKind.FORBIDDEN):
        raise PolicyError(f"{kind.name} takes no organisation list", token.position)
    parser.index += 1
    seen: set[str] = set()
    for item in parser.word_list("an organisation id"):
        if not IDENTIFIER_PATTERN.fullmatch(item.text):
            raise PolicyError(f"organisation id {item.text[:64]!r} must match "
                              f"{IDENTIFIER_PATTERN.pattern}", item.position)
        if item.text in seen:
            raise PolicyError(f"organisation {item.text!r} is listed twice", item.position)
        seen.add(item.text)
    if len(seen) > ORGANISATIONS_MAX:
        raise PolicyError(f"at most {ORGANISATIONS_MAX} organisations in a policy", token.position)
    return tuple(sorted(seen))


# ---- bytes ----------------------------------------------------------------------------


def read_policy(reader: Reader) -> Policy:
    """Read the body of a policy (no version byte) from ``reader``; PolicyError if invalid."""
    start = reader.offset
    try:
        kind_value = reader.u8("policy.kind")
        count = reader.u32("policy.count")
        numerator = reader.u32("policy.numerator")
        denominator = reader.u32("policy.denominator")
        mask = reader.u8("policy.roles")
        organisations = reader.list(lambda r: r.string("policy.organisation"),
                                    "policy.organisations")
    except DecodeError as error:
        raise PolicyError(str(error), error.offset) from None
    if kind_value not in RuleKind._value2member_map_:
        raise PolicyError(f"unknown rule kind {kind_value}", start)
    if mask & ~ROLE_MASK_ALL:
        raise PolicyError(f"role mask {mask} has unknown bits", start)
    return Policy(RuleKind(kind_value), mask_to_roles(mask), tuple(organisations), count,
                  numerator, denominator)


def decode_policy(data: bytes) -> Policy:
    """The policy encoded by ``Policy.encode``; ``PolicyError`` (byte position) otherwise."""
    reader = Reader(data)
    try:
        version = reader.u8("policy.version")
    except DecodeError as error:
        raise PolicyError(str(error), error.offset) from None
    if version != POLICY_FORMAT_VERSION:
        raise PolicyError(f"policy format version {version} is not {POLICY_FORMAT_VERSION}", 0)
    policy = read_policy(reader)
    try:
        reader.finish("policy")
    except DecodeError as error:
        raise PolicyError(str(error), error.offset) from None
    return policy


def encode_policy(policy: Policy) -> bytes:
    try:
        return policy.encode()
    except EncodeError as error:  # pragma: no cover - the constructor bounds every field
        raise PolicyError(str(error), 0) from None


# ---- evaluation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """What a rule is evaluated against.

    ``organisations``: every organisation of the network (the default list for
    counting rules). ``target_organisation``: the organisation the target (a
    contract's deployer, a member being changed) belongs to, for SELF.
    """

    organisations: tuple[str, ...]
    target_organisation: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict; ``rule`` is the canonical text, ``detail`` says what was counted."""

    allowed: bool
    rule: str
    detail: str = ""


def _qualifying_organisations(policy: Policy, approvals: Iterable[Approval]) -> list[str]:
    found = {
        organisation for organisation, role in approvals
        if (not policy.roles or role in policy.roles)
    }
    return sorted(found)


def evaluate(
    policy: Policy, approvals: Iterable[Approval], context: EvaluationContext,
) -> Decision:
    """Whether ``approvals`` satisfy ``policy`` (module docstring for each rule)."""
    qualifying = _qualifying_organisations(policy, approvals)
    kind = policy.kind
    if kind is RuleKind.FORBIDDEN:
        return Decision(False, policy.text, "the action is forbidden")
    if kind is RuleKind.SELF:
        target = context.target_organisation
        allowed = target is not None and target in qualifying
        where = "no target organisation" if target is None else f"organisation {target}"
        return Decision(allowed, policy.text,
                        f"{where} {'approved' if allowed else 'has not approved'}")
    universe = policy.organisations or tuple(sorted(set(context.organisations)))
    members = set(universe)
    count = sum(1 for organisation in qualifying if organisation in members)
    total = len(universe)
    if kind is RuleKind.ANY:
        allowed = count >= 1
    elif kind is RuleKind.ALL:
        allowed = total > 0 and count == total
    elif kind is RuleKind.MAJORITY:
        allowed = 2 * count > total
    elif kind is RuleKind.AT_LEAST:
        allowed = count >= policy.count
    else:
        allowed = total > 0 and count * policy.denominator >= policy.numerator * total
    return Decision(allowed, policy.text, f"approved by {count} of {total} organisations")
