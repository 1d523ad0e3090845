"""Self-consistency voting: clusters by equivalence, not string equality."""

from __future__ import annotations

from fractions import Fraction

import pytest

from verifiers.vote import VoteResult, vote, vote_math


def numeric(a: str, b: str) -> bool:
    """A small equivalence for the tests: equal as exact rationals ("0.5" == "1/2")."""
    try:
        return Fraction(a.replace(" ", "")) == Fraction(b.replace(" ", ""))
    except (ValueError, ZeroDivisionError):
        return a.strip().lower() == b.strip().lower()


def test_clusters_by_equivalence_not_strings():
    result = vote(["1/2", "3", "0.5", "2/4", "3.0", "7"], numeric)
    assert isinstance(result, VoteResult)
    assert result.answer == "1/2"  # the first member represents the cluster
    assert result.members == [0, 2, 3]
    assert result.votes == 3
    assert result.agreement == pytest.approx(3 / 6)
    assert result.clusters == [[0, 2, 3], [1, 4], [5]]
    assert result.total == 6


def test_agreement_counts_samples_without_an_answer():
    result = vote(["4", None, "4.0", None, "", "5"], numeric)
    assert result.answer == "4" and result.members == [0, 2]
    assert result.agreement == pytest.approx(2 / 6)
    assert result.total == 6


def test_unanimous_and_single():
    assert vote(["x"], numeric).agreement == 1.0
    result = vote(["2", "2", "2.00"], numeric)
    assert result.agreement == 1.0 and result.members == [0, 1, 2]


def test_ties_go_to_the_earliest_first_occurrence():
    result = vote(["b", "a", "a", "b"], numeric)
    assert result.answer == "b" and result.members == [0, 3]
    result = vote([None, "a", "b", "b", "a"], numeric)
    assert result.answer == "a" and result.members == [1, 4]
    assert result.agreement == pytest.approx(2 / 5)
    # a later, larger cluster still wins
    assert vote(["a", "b", "b"], numeric).answer == "b"


def test_no_answers_at_all():
    for answers in ([], [None, None], ["", "  "]):
        result = vote(answers, numeric)
        assert result.answer is None and result.agreement == 0.0 and result.members == []
        assert result.total == len(answers)


def test_equivalence_is_called_representative_first_and_failures_are_not_equal():
    calls = []

    def gold_first(reference: str, candidate: str) -> bool:
        calls.append((reference, candidate))
        if candidate == "boom":
            raise ValueError("cannot compare")
        return reference.startswith(candidate)  # asymmetric on purpose

    result = vote(["abc", "ab", "boom", "abc", "x"], gold_first)
    assert ("abc", "ab") in calls  # the earlier answer is the reference
    assert result.members == [0, 1, 3]  # an exact repeat is not compared again
    assert ("abc", "abc") not in calls
    assert result.clusters[1:] == [[2], [4]]


def test_vote_math_uses_the_math_verifier():
    math = pytest.importorskip("verifiers.math")
    if not hasattr(math, "equivalent") or not hasattr(math, "extract"):
        pytest.skip("verifiers.math has no extract/equivalent yet")
    texts = [
        "so the answer is \\boxed{\\frac{1}{2}}",
        "\\boxed{0.5}",
        "\\boxed{3}",
        "I could not finish.",
        "\\boxed{1/2}",
    ]
    result = vote_math(texts)
    assert result.members == [0, 1, 4]
    assert result.agreement == pytest.approx(3 / 5)
