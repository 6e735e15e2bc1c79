"""The policy rule language: parser, canonical text and bytes, evaluation truth tables."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonechain.node.permissions.errors import PolicyError
from zonechain.node.permissions.policy import (
    FRACTION_DENOMINATOR_MAX,
    ORGANISATIONS_MAX,
    Approval,
    EvaluationContext,
    Policy,
    Role,
    RuleKind,
    decode_policy,
    evaluate,
    parse_policy,
)

ORGS = ("bank_a", "bank_b", "regulator")
ADMIN, CLIENT, DEPLOYER = Role.ADMIN, Role.CLIENT, Role.DEPLOYER


@pytest.mark.parametrize(("text", "canonical"), [
    ("FORBIDDEN", "FORBIDDEN"),
    ("ANY", "ANY"),
    ("MAJORITY admin", "MAJORITY admin"),
    ("ANY client,deployer", "ANY deployer,client"),
    ("ANY  client , deployer", "ANY deployer,client"),
    ("AT_LEAST 2 admin of bank_a,bank_b,regulator", "AT_LEAST 2 admin of bank_a,bank_b,regulator"),
    ("ALL admin of regulator,bank_a", "ALL admin of bank_a,regulator"),
    ("FRACTION 2/3 admin", "FRACTION 2/3 admin"),
    ("SELF admin", "SELF admin"),
    ("ANY of bank_a", "ANY of bank_a"),
    ("\tALL auditor,regulator ", "ALL regulator,auditor"),
])
def test_valid_policies_parse_to_their_canonical_text(text: str, canonical: str) -> None:
    policy = parse_policy(text)
    assert policy.text == canonical
    assert parse_policy(canonical) == policy
    assert decode_policy(policy.encode()) == policy


@pytest.mark.parametrize(("text", "position", "fragment"), [
    ("", 0, "expected a rule"),
    ("any client", 0, "unknown rule 'any'"),
    ("ANY clerk", 4, "unknown role 'clerk'"),
    ("ANY client,client", 11, "listed twice"),
    ("ANY client,", 11, "expected a role"),
    ("ANY ,client", 4, "expected a role"),
    ("AT_LEAST admin", 9, "AT_LEAST needs a count"),
    ("AT_LEAST 0 admin", 9, "AT_LEAST needs a count"),
    ("AT_LEAST 01 admin", 9, "AT_LEAST needs a count"),
    (f"AT_LEAST {ORGANISATIONS_MAX + 1}", 9, "AT_LEAST needs a count"),
    ("AT_LEAST", 8, "expected a count"),
    ("FRACTION 3/2", 9, "p <= q"),
    ("FRACTION 0/2", 9, "FRACTION needs p/q"),
    ("FRACTION 2", 9, "FRACTION needs p/q"),
    (f"FRACTION 1/{FRACTION_DENOMINATOR_MAX + 1}", 9, "p <= q"),
    ("FORBIDDEN admin", 10, "FORBIDDEN takes no roles"),
    ("FORBIDDEN of bank_a", 10, "takes no organisation list"),
    ("SELF admin of bank_a", 11, "SELF takes no organisation list"),
    ("ANY admin of", 12, "expected an organisation id"),
    ("ANY admin of Bank_A", 13, "must match"),
    ("ANY of bank_a,bank_a", 14, "listed twice"),
    ("ANY admin extra", 10, "unexpected 'extra'"),
    ("ANY admin of bank_a more", 20, "unexpected 'more'"),
    ("ANY\nadmin", 3, "unexpected character"),
])
def test_invalid_policies_name_the_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(text)
    assert raised.value.position == position
    assert fragment in raised.value.message


def test_too_long_text_is_refused_before_parsing() -> None:
    with pytest.raises(PolicyError, match="longer than"):
        parse_policy("ANY of " + ",".join(["a" * 60] * 200))


@pytest.mark.parametrize("data", [
    b"", b"\x02", b"\x01\x09" + bytes(13) + b"\x00\x00\x00\x00",
    parse_policy("ANY admin").encode() + b"\x00",
    b"\x01\x02" + bytes(12) + b"\x40" + bytes(4),  # unknown role bit
    b"\x01\x02" + (5).to_bytes(4, "little") + bytes(8) + b"\x01" + bytes(4),  # count on ANY
])
def test_non_canonical_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(PolicyError):
        decode_policy(data)


def test_unsorted_organisations_in_bytes_are_refused() -> None:
    good = parse_policy("ANY of aa,bb").encode()
    swapped = good.replace(b"aa", b"xx")  # now ("xx", "bb"): not sorted
    with pytest.raises(PolicyError, match="sorted"):
        decode_policy(swapped)


identifiers = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,8}\Z")
role_sets = st.frozensets(st.sampled_from(list(Role)))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    kind = draw(st.sampled_from(list(RuleKind)))
    if kind is RuleKind.FORBIDDEN:
        return Policy(kind)
    roles = draw(role_sets)
    organisations: tuple[str, ...] = ()
    if kind is not RuleKind.SELF:
        organisations = tuple(sorted(draw(st.sets(identifiers, max_size=5))))
    count = draw(st.integers(1, ORGANISATIONS_MAX)) if kind is RuleKind.AT_LEAST else 0
    numerator = denominator = 0
    if kind is RuleKind.FRACTION:
        denominator = draw(st.integers(1, FRACTION_DENOMINATOR_MAX))
        numerator = draw(st.integers(1, denominator))
    return Policy(kind, roles, organisations, count, numerator, denominator)


@settings(max_examples=150)
@given(policies())
def test_text_policy_bytes_round_trip(policy: Policy) -> None:
    parsed = parse_policy(policy.text)
    assert parsed == policy
    encoded = parsed.encode()
    assert decode_policy(encoded) == policy
    assert decode_policy(encoded).text == policy.text


@settings(max_examples=150)
@given(st.text(alphabet="ANYLMJORTS_FBIDE0123456789/, adminclerof", max_size=40))
def test_parser_never_fails_with_anything_but_policy_error(text: str) -> None:
    try:
        policy = parse_policy(text)
    except PolicyError as error:
        assert 0 <= error.position <= len(text)
    else:
        assert parse_policy(policy.text) == policy


# ---- evaluation truth tables --------------------------------------------------------------

CONTEXT = EvaluationContext(ORGS, target_organisation="bank_b")


def approvals(*pairs: tuple[str, Role]) -> frozenset[Approval]:
    return frozenset(pairs)


NONE: frozenset[Approval] = frozenset()
A_ADMIN = approvals(("bank_a", ADMIN))
A_CLIENT = approvals(("bank_a", CLIENT))
AB_ADMIN = approvals(("bank_a", ADMIN), ("bank_b", ADMIN))
ALL_ADMIN = approvals(*((org, ADMIN) for org in ORGS))
A_TWO_ADMINS_SAME_ORG = approvals(("bank_a", ADMIN), ("bank_a", DEPLOYER))
B_ADMIN = approvals(("bank_b", ADMIN))


@pytest.mark.parametrize(("text", "given_approvals", "allowed"), [
    ("FORBIDDEN", ALL_ADMIN, False),
    ("FORBIDDEN", NONE, False),
    ("ANY", NONE, False),
    ("ANY", A_CLIENT, True),
    ("ANY admin", A_CLIENT, False),
    ("ANY admin", A_ADMIN, True),
    ("ANY client,deployer", A_CLIENT, True),
    ("ANY admin of bank_b", A_ADMIN, False),
    ("ANY admin of bank_b", B_ADMIN, True),
    ("ALL admin", AB_ADMIN, False),
    ("ALL admin", ALL_ADMIN, True),
    ("ALL admin of bank_a,bank_b", AB_ADMIN, True),
    ("ALL admin of bank_a,bank_b", A_TWO_ADMINS_SAME_ORG, False),
    ("MAJORITY admin", A_ADMIN, False),
    ("MAJORITY admin", AB_ADMIN, True),
    ("MAJORITY admin of bank_a,bank_b", A_ADMIN, False),  # 1 of 2 is not more than half
    ("MAJORITY admin of bank_a,bank_b", AB_ADMIN, True),
    ("AT_LEAST 2 admin", A_TWO_ADMINS_SAME_ORG, False),  # counts organisations, not signers
    ("AT_LEAST 2 admin", AB_ADMIN, True),
    ("AT_LEAST 2 admin of bank_a,regulator", AB_ADMIN, False),
    ("AT_LEAST 4 admin", ALL_ADMIN, False),
    ("FRACTION 2/3 admin", A_ADMIN, False),
    ("FRACTION 2/3 admin", AB_ADMIN, True),  # 2*3 >= 2*3
    ("FRACTION 3/4 admin", AB_ADMIN, False),  # 2*4 < 3*3
    ("FRACTION 1/1 admin", ALL_ADMIN, True),
    ("SELF admin", A_ADMIN, False),
    ("SELF admin", B_ADMIN, True),
    ("SELF client", B_ADMIN, False),
    ("SELF", approvals(("bank_b", CLIENT)), True),
])
def test_evaluation_truth_table(
    text: str, given_approvals: frozenset[Approval], allowed: bool,
) -> None:
    decision = evaluate(parse_policy(text), given_approvals, CONTEXT)
    assert decision.allowed is allowed
    assert decision.rule == parse_policy(text).text


def test_rules_over_an_empty_network_never_allow() -> None:
    empty = EvaluationContext(())
    for text in ("ALL", "MAJORITY", "FRACTION 1/2", "SELF", "AT_LEAST 1"):
        assert not evaluate(parse_policy(text), NONE, empty).allowed


def test_self_without_target_is_refused_and_says_so() -> None:
    decision = evaluate(parse_policy("SELF admin"), B_ADMIN, EvaluationContext(ORGS))
    assert not decision.allowed
    assert "no target organisation" in decision.detail


def test_decision_detail_counts_organisations() -> None:
    decision = evaluate(parse_policy("MAJORITY admin"), AB_ADMIN, CONTEXT)
    assert decision.detail == "approved by 2 of 3 organisations"


def test_constructor_refuses_invalid_policies() -> None:
    with pytest.raises(PolicyError):
        Policy(RuleKind.ANY, organisations=("b", "a"))
    with pytest.raises(PolicyError):
        Policy(RuleKind.AT_LEAST)
    with pytest.raises(PolicyError):
        Policy(RuleKind.FRACTION, numerator=3, denominator=2)
