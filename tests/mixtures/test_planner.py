"""The spec and the planner as pure functions: exact counts, shortfalls, redistribution."""

from __future__ import annotations

import pytest

from mixtures.planner import (
    Bucket,
    ShortfallError,
    largest_remainder,
    make_buckets,
    plan_targets,
    source_quotas,
    water_fill,
)
from mixtures.spec import MixSpec, SpecError, load_spec, parse_spec

BASE = {"name": "m", "total": 600, "ratios": {"math": 0.5, "code": 0.3, "logic": 0.2}, "seed": 7}


def test_largest_remainder_is_exact():
    assert largest_remainder(600, [0.5, 0.3, 0.2]) == [300, 180, 120]
    assert largest_remainder(7, [1, 1, 1]) == [3, 2, 2]  # ties go to the first listed
    assert largest_remainder(10, [0.26, 0.37, 0.37]) == [2, 4, 4]
    for total in range(0, 50):
        assert sum(largest_remainder(total, [0.2, 0.3, 0.5])) == total


def test_water_fill_moves_what_a_full_part_cannot_take():
    assert water_fill(100, [0.5, 0.5], [20, 1000]) == [20, 80]
    assert water_fill(100, [0.2, 0.3, 0.5], [1000, 1000, 10]) == [36, 54, 10]
    assert water_fill(100, [0.5, 0.5], [10, 10]) == [10, 10]  # short overall: everything there is


def test_example_spec_loads(tmp_path):
    spec = load_spec("examples/mix.yaml")
    assert (spec.name, spec.total, spec.seed, spec.split.val) == ("demo-mix", 150, 7, 0.1)
    assert spec.ratios == {"math": 0.5, "code": 0.3, "logic": 0.2}


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("name: m\ntotal: 10\nratios: {math: 1}\nsplitt: {val: 0.1}\n", "key 'splitt': unknown key"),
        ("name: m\ntotal: 10\nratios: {math: 0.5, code: 0.6}\n", "key 'ratios': ratios sum to 1.1"),
        ("name: m\ntotal: 10\ntokens: 5\nratios: {math: 1}\n", "exactly one of total"),
        ("name: m\ntotal: -1\nratios: {math: 1}\n", "key 'total'"),
        ("name: m\ntotal: 10\nratios: {math: 1}\non_shortfall: ignore\n", "key 'on_shortfall'"),
        ("name: m\ntotal: 10\nratios: {math: 1}\nsplit: {val: 1.5}\n", "key 'split.val'"),
        (
            "name: m\ntotal: 10\nratios: {math: 1}\nwithin: {math: {by: difficulty, weights: {7: 1}}}\n",
            "key 'within.math': Value error, difficulty levels are 1-5",
        ),
        (
            "name: m\ntotal: 10\nratios: {math: 1}\nwithin: {code: {by: task, weights: {a: 1}}}\n",
            "within names",
        ),
    ],
)
def test_bad_spec_names_file_and_key(tmp_path, yaml_text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message
    assert expected.replace("Value error, ", "") in message


def _buckets(spec: MixSpec, capacity: dict[str, int]) -> list[Bucket]:
    buckets = make_buckets(spec)
    for b in buckets:
        b.capacity = b.available = capacity.get(b.name, 1000)
    return buckets


def test_targets_are_exact_per_bucket():
    spec = MixSpec(**BASE, within={"math": {"by": "difficulty", "weights": {1: 0.2, 3: 0.3, 5: 0.5}}})
    plan = plan_targets(spec, _buckets(spec, {}))
    got = {b.name: b.target for b in plan.buckets}
    assert got == {"math/difficulty=1": 60, "math/difficulty=3": 90, "math/difficulty=5": 150,
                   "code": 180, "logic": 120}  # fmt: skip


def test_shortfall_names_bucket_available_and_needed():
    spec = MixSpec(**BASE)
    with pytest.raises(ShortfallError) as err:
        plan_targets(spec, _buckets(spec, {"code": 150, "logic": 100}))
    message = str(err.value)
    assert "bucket code: 150 available, 180 needed" in message
    assert "bucket logic: 100 available, 120 needed" in message
    assert "math" not in message.split("\n", 1)[1].split("raise")[0]


def test_redistribute_fills_within_the_domain_first():
    within = {"math": {"by": "difficulty", "weights": {1: 0.5, 5: 0.5}}}
    spec = MixSpec(**{**BASE, "on_shortfall": "redistribute"}, within=within)
    plan = plan_targets(spec, _buckets(spec, {"math/difficulty=5": 100}))
    got = {b.name: b.target for b in plan.buckets}
    # math keeps its 300 (the easy bucket takes what the hard one lacks)
    assert got == {"math/difficulty=1": 200, "math/difficulty=5": 100, "code": 180, "logic": 120}
    # a domain that cannot hold its share passes the rest on to the others
    plan = plan_targets(spec, _buckets(spec, {"math/difficulty=1": 50, "math/difficulty=5": 50}))
    got = {b.name: b.target for b in plan.buckets}
    assert got["math/difficulty=1"] + got["math/difficulty=5"] == 100
    assert got["code"] + got["logic"] == 500 and got["code"] == 300


def test_redistribute_still_fails_beyond_everything():
    spec = MixSpec(**{**BASE, "on_shortfall": "redistribute"})
    with pytest.raises(ShortfallError, match="hold 300 examples, 600 needed"):
        plan_targets(spec, _buckets(spec, {"math": 100, "code": 100, "logic": 100}))


def test_source_temperature_flattens_towards_equal_shares():
    sizes = {"big": 900, "small": 100}
    assert source_quotas(100, sizes, 1.0, 1.0) == {"big": 90, "small": 10}
    hot = source_quotas(100, sizes, 100.0, 1.0)
    assert 48 <= hot["small"] <= 50 and sum(hot.values()) == 100
    # a small source never gives more than it holds (upsampling allowed doubles that)
    assert source_quotas(400, sizes, 100.0, 1.0)["small"] == 100
    assert 100 < source_quotas(400, sizes, 100.0, 2.0)["small"] <= 200


def test_parse_spec_tokens_mode():
    spec = parse_spec({**{k: v for k, v in BASE.items() if k != "total"}, "tokens": 2_000_000}, "x.yaml")
    assert (spec.unit, spec.budget) == ("tokens", 2_000_000)
