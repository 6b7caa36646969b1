"""Tests of exact cost allocation by largest remainder."""

from __future__ import annotations

import decimal
import itertools
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beslut.states.allocation import CostSpec, PoolSpec, allocate, largest_remainder

POPULATIONS_2021 = {
    "2380": 64324,  # Östersund
    "2309": 15352,  # Krokom
    "2321": 12271,  # Åre
    "2313": 11473,  # Strömsund
    "2361": 10114,  # Härjedalen
    "2326": 7135,  # Berg
    "2305": 6175,  # Bräcke
    "2303": 5210,  # Ragunda
}
MUNICIPALITIES = tuple(POPULATIONS_2021)


def mini_maria(unit: str = "1", *, reallocate: bool = False) -> CostSpec:
    return CostSpec(
        total=Decimal("5000000"),
        unit=Decimal(unit),
        reallocate_opt_in=reallocate,
        pools=(
            PoolSpec(share=Decimal("0.5075"), split="population", parties=MUNICIPALITIES),
            PoolSpec(share=Decimal("0.4925"), split="population", parties=("region-jh",)),
        ),
    )


def test_mini_maria_known_answer() -> None:
    expected = {
        "2380": Decimal("1236026"),
        "2309": Decimal("294998"),
        "2321": Decimal("235795"),
        "2313": Decimal("220461"),
        "2361": Decimal("194347"),
        "2326": Decimal("137103"),
        "2305": Decimal("118657"),
        "2303": Decimal("100113"),
        "region-jh": Decimal("2462500"),
    }
    actual = allocate(mini_maria(), POPULATIONS_2021)
    assert expected == actual
    expected_text = "1236026"  # no decimals for a unit of 1 SEK
    assert expected_text == str(actual["2380"])
    assert Decimal("5000000") == sum(actual.values())
    assert Decimal("2537500") == sum(actual[m] for m in MUNICIPALITIES)


@pytest.mark.parametrize("rounding", [ROUND_HALF_EVEN, ROUND_HALF_UP])
def test_rounding_each_share_independently_loses_a_krona(rounding: str) -> None:
    population = 132054
    assert population == sum(POPULATIONS_2021.values())
    rounded = [
        (Decimal(2537500 * pop) / Decimal(population)).quantize(Decimal("1"), rounding=rounding)
        for pop in POPULATIONS_2021.values()
    ]
    assert Decimal("2537499") == sum(rounded)


def test_mini_maria_in_ore() -> None:
    actual = allocate(mini_maria("0.01"), POPULATIONS_2021)
    assert Decimal("5000000.00") == sum(actual.values())
    assert Decimal("2462500.00") == actual["region-jh"]
    assert Decimal("1236025.79") == actual["2380"]
    expected_texts = ["5000000.00", "2462500.00"]
    assert expected_texts == [str(sum(actual.values())), str(actual["region-jh"])]
    two_decimals = {-2}
    assert two_decimals == {amount.as_tuple().exponent for amount in actual.values()}


def test_equal_split_ties_go_to_the_smaller_key() -> None:
    expected = {"a": 34, "b": 33, "c": 33}
    assert expected == largest_remainder(100, {"a": 1, "b": 1, "c": 1})
    assert expected == largest_remainder(100, {"c": 1, "b": 1, "a": 1})
    expected = {"a": 1, "b": 1, "c": 0}
    assert expected == largest_remainder(2, {"c": 1, "b": 1, "a": 1})


def test_equal_split_via_allocate() -> None:
    cost = CostSpec(
        total=Decimal("100"),
        unit=Decimal("1"),
        reallocate_opt_in=False,
        pools=(PoolSpec(share=Decimal("1"), split="equal", parties=("c", "b", "a")),),
    )
    assert {"a": Decimal(34), "b": Decimal(33), "c": Decimal(33)} == allocate(cost, {})


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (7, {"x": 3}, {"x": 7}),
        (0, {"a": 1, "b": 2}, {"a": 0, "b": 0}),
        (3, {"a": 1, "b": 2}, {"a": 1, "b": 2}),
        (3, {"a": 5, "b": 0}, {"a": 3, "b": 0}),
        (3, {"a": Fraction(1, 2), "b": Fraction(1, 3)}, {"a": 2, "b": 1}),
        # Largest remainder beats key order: b's quota 6.6 has remainder 0.6, a's 3.4 has 0.4.
        (10, {"a": 17, "b": 33}, {"a": 3, "b": 7}),
    ],
)
def test_largest_remainder_basics(total: int, weights: dict[str, int | Fraction], expected: dict[str, int]) -> None:
    assert expected == largest_remainder(total, weights)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({}, "empty"),
        ({"a": 0, "b": 0}, "all weights are 0"),
        ({"a": 1, "b": -1}, "negative"),
    ],
)
def test_largest_remainder_refusals(weights: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        largest_remainder(10, weights)


def test_largest_remainder_refuses_negative_total() -> None:
    with pytest.raises(ValueError, match="negative"):
        largest_remainder(-1, {"a": 1})


@pytest.mark.parametrize("weight", [0.5, Decimal("0.5"), True])
def test_largest_remainder_refuses_inexact_weights(weight: Any) -> None:
    with pytest.raises(TypeError):
        largest_remainder(10, {"a": weight})


def test_opt_in_without_reallocation_keeps_planned_amounts() -> None:
    planned = allocate(mini_maria(), POPULATIONS_2021)
    joined = {"2380", "2309", "region-jh", "not-a-party"}
    actual = allocate(mini_maria(), POPULATIONS_2021, participants=joined)
    expected = {party: (planned[party] if party in joined else Decimal(0)) for party in planned}
    assert expected == actual
    assert set(planned) == set(actual)


def test_opt_in_with_reallocation() -> None:
    joined = {"2380", "2309", "region-jh"}
    actual = allocate(mini_maria(reallocate=True), POPULATIONS_2021, participants=joined)
    # 2 537 500 by 64324 : 15352 -> quotas 2048573.598... and 488926.401..., so 2048574 and 488926.
    assert Decimal("2048574") == actual["2380"]
    assert Decimal("488926") == actual["2309"]
    assert Decimal("2537500") == actual["2380"] + actual["2309"]
    assert Decimal("2462500") == actual["region-jh"]
    assert Decimal("5000000") == sum(actual.values())
    assert {Decimal(0)} == {actual[m] for m in MUNICIPALITIES if m not in joined}
    assert set(POPULATIONS_2021) | {"region-jh"} == set(actual)


def test_opt_in_reallocation_leaves_a_pool_without_participants_unallocated() -> None:
    actual = allocate(mini_maria(reallocate=True), POPULATIONS_2021, participants={"2303"})
    assert Decimal("2537500") == actual["2303"]
    assert Decimal(0) == actual["region-jh"]
    assert Decimal("2537500") == sum(actual.values())


def test_opt_in_with_nobody() -> None:
    actual = allocate(mini_maria(reallocate=True), POPULATIONS_2021, participants=())
    assert {Decimal(0)} == set(actual.values())
    assert set(POPULATIONS_2021) | {"region-jh"} == set(actual)


def test_party_in_several_pools_gets_the_sum() -> None:
    cost = CostSpec(
        total=Decimal("1000"),
        unit=Decimal("1"),
        reallocate_opt_in=False,
        pools=(
            PoolSpec(share=Decimal("0.5"), split="equal", parties=("a", "b")),
            PoolSpec(share=Decimal("0.5"), split="population", parties=("a", "c")),
        ),
    )
    assert {"a": Decimal(500), "b": Decimal(250), "c": Decimal(250)} == allocate(cost, {"a": 1, "c": 1})


def test_pool_ties_go_to_the_earlier_pool() -> None:
    cost = CostSpec(
        total=Decimal("1"),
        unit=Decimal("1"),
        reallocate_opt_in=False,
        pools=(
            PoolSpec(share=Decimal("0.5"), split="equal", parties=("z",)),
            PoolSpec(share=Decimal("0.5"), split="equal", parties=("a",)),
        ),
    )
    assert {"z": Decimal(1), "a": Decimal(0)} == allocate(cost, {})


def test_pool_ties_with_more_than_ten_pools() -> None:
    pools = tuple(
        PoolSpec(share=Decimal(1) / Decimal(16), split="equal", parties=(f"p{index}",)) for index in range(16)
    )
    cost = CostSpec(total=Decimal("3"), unit=Decimal("1"), reallocate_opt_in=False, pools=pools)
    actual = allocate(cost, {})
    assert {"p0": Decimal(1), "p1": Decimal(1), "p2": Decimal(1)} == {
        party: amount for party, amount in actual.items() if amount
    }


@pytest.mark.parametrize(
    ("total", "unit", "shares", "message"),
    [
        ("100.5", "1", ("1",), "whole number of units"),
        ("100.005", "0.01", ("1",), "whole number of units"),
        ("100", "0", ("1",), "unit"),
        ("-100", "1", ("1",), "total"),
        ("100", "1", ("0.5", "0.4"), "add up to exactly 1"),
        ("100", "1", ("1.5", "-0.5"), "invalid share"),
    ],
)
def test_allocate_refusals(total: str, unit: str, shares: tuple[str, ...], message: str) -> None:
    cost = CostSpec(
        total=Decimal(total),
        unit=Decimal(unit),
        reallocate_opt_in=False,
        pools=tuple(
            PoolSpec(share=Decimal(share), split="equal", parties=(f"p{i}",)) for i, share in enumerate(shares)
        ),
    )
    with pytest.raises(ValueError, match=message):
        allocate(cost, {})


def test_allocate_refuses_missing_population() -> None:
    populations = {k: v for k, v in POPULATIONS_2021.items() if k != "2303"}
    with pytest.raises(ValueError, match="2303"):
        allocate(mini_maria(), populations)


@pytest.mark.parametrize(
    "pools",
    [
        (),
        (PoolSpec(share=Decimal("1"), split="equal", parties=()),),
        (PoolSpec(share=Decimal("1"), split="equal", parties=("a", "a")),),
    ],
)
def test_allocate_refuses_bad_pools(pools: tuple[PoolSpec, ...]) -> None:
    cost = CostSpec(total=Decimal("10"), unit=Decimal("1"), reallocate_opt_in=False, pools=pools)
    with pytest.raises(ValueError):
        allocate(cost, {})


KEYS = st.text(alphabet="abcdefgh", min_size=1, max_size=3)


@given(
    total=st.integers(min_value=0, max_value=10**12),
    weights=st.dictionaries(KEYS, st.integers(min_value=1, max_value=10**9), min_size=1, max_size=12),
)
def test_largest_remainder_is_exact_and_close(total: int, weights: dict[str, int]) -> None:
    result = largest_remainder(total, weights)
    assert set(weights) == set(result)
    assert total == sum(result.values())
    weight_sum = sum(weights.values())
    for key, weight in weights.items():
        assert abs(result[key] - Fraction(total * weight, weight_sum)) < 1


@given(
    total=st.integers(min_value=0, max_value=10**12),
    weights=st.dictionaries(
        KEYS,
        st.fractions(min_value=0, max_value=1000, max_denominator=10**6),
        min_size=1,
        max_size=12,
    ).filter(lambda w: any(w.values())),
)
def test_largest_remainder_with_fractions(total: int, weights: dict[str, Fraction]) -> None:
    result = largest_remainder(total, dict(weights))
    assert total == sum(result.values())
    weight_sum = sum(weights.values(), Fraction(0))
    for key, weight in weights.items():
        assert abs(result[key] - total * weight / weight_sum) < 1
    zero = {key: 0 for key, weight in weights.items() if weight == 0}
    assert zero == {key: result[key] for key in zero}


@st.composite
def cost_specs(draw: st.DrawFn) -> tuple[CostSpec, dict[str, int]]:
    unit = draw(st.sampled_from([Decimal("1"), Decimal("0.01")]))
    units = draw(st.integers(min_value=0, max_value=10**12))
    pool_count = draw(st.integers(min_value=1, max_value=5))
    cuts = sorted(draw(st.lists(st.integers(0, 10000), min_size=pool_count - 1, max_size=pool_count - 1)))
    bounds = [0, *cuts, 10000]
    pools = tuple(
        PoolSpec(
            share=Decimal(high - low) / Decimal(10000),
            split=draw(st.sampled_from(["population", "equal"])),
            parties=tuple(draw(st.lists(KEYS, min_size=1, max_size=6, unique=True))),
        )
        for low, high in itertools.pairwise(bounds)
    )
    parties = {party for pool in pools for party in pool.parties}
    populations = {party: draw(st.integers(min_value=1, max_value=10**6)) for party in sorted(parties)}
    cost = CostSpec(total=units * unit, unit=unit, reallocate_opt_in=draw(st.booleans()), pools=pools)
    return cost, populations


@given(cost_specs())
def test_allocate_sums_exactly(spec: tuple[CostSpec, dict[str, int]]) -> None:
    cost, populations = spec
    result = allocate(cost, populations)
    assert cost.total == sum(result.values())
    assert set(populations) == set(result)
    assert {cost.unit.as_tuple().exponent} == {amount.as_tuple().exponent for amount in result.values()}


@given(cost_specs(), st.data())
def test_allocate_opt_in(spec: tuple[CostSpec, dict[str, int]], data: st.DataObject) -> None:
    cost, populations = spec
    joined = data.draw(st.sets(st.sampled_from(sorted(populations))))
    planned = allocate(cost, populations)
    result = allocate(cost, populations, participants=joined)
    assert set(planned) == set(result)
    absent = dict.fromkeys(set(result) - joined, Decimal(0))
    assert absent == {party: result[party] for party in absent}
    if not cost.reallocate_opt_in:
        assert {party: planned[party] for party in joined} == {party: result[party] for party in joined}
    elif all(set(pool.parties) & joined for pool in cost.pools):
        assert cost.total == sum(result.values())
    else:
        assert cost.total >= sum(result.values())


def test_allocate_refuses_a_string_as_participants() -> None:
    with pytest.raises(TypeError):
        allocate(mini_maria(), POPULATIONS_2021, participants="2380")


def _largest_remainder_in_fractions(total: int, weights: dict[str, Fraction]) -> dict[str, int]:
    """The definition, one Fraction per quota: what the integer arithmetic must equal exactly."""
    weight_sum = sum(weights.values(), Fraction(0))
    quotas = {key: total * weight / weight_sum for key, weight in weights.items()}
    floors = {key: quota.numerator // quota.denominator for key, quota in quotas.items()}
    leftover = total - sum(floors.values())
    for key in sorted(floors, key=lambda k: (-(quotas[k] - floors[k]), k))[:leftover]:
        floors[key] += 1
    return floors


@given(
    total=st.integers(min_value=0, max_value=10**15),
    weights=st.dictionaries(
        KEYS,
        st.one_of(
            st.integers(min_value=0, max_value=10**9).map(Fraction),
            st.fractions(min_value=0, max_value=1000, max_denominator=10**6),
            st.sampled_from([Fraction(1), Fraction(1, 3), Fraction(2, 3), Fraction(1, 7)]),  # ties
        ),
        min_size=1,
        max_size=12,
    ).filter(lambda w: any(w.values())),
)
def test_largest_remainder_equals_its_definition_in_fractions(total: int, weights: dict[str, Fraction]) -> None:
    """Same floors, same leftover units to the same keys (ties by key), as the Fraction arithmetic."""
    assert largest_remainder(total, dict(weights)) == _largest_remainder_in_fractions(total, weights)


@pytest.mark.parametrize("unit", ["1", "0.01", "0.1", "1E+3", "0.05", "0.5", "10", "2", "0.001"])
@pytest.mark.parametrize("units", [0, 1, 7, 99, 100, 12345, 5_000_000, 10**30 + 7])
def test_amounts_have_the_units_exponent_exactly(unit: str, units: int) -> None:
    """An amount is units x unit quantized to the unit: same value AND same digits and exponent."""
    cost = CostSpec(
        total=Decimal(units) * Decimal(unit),
        unit=Decimal(unit),
        reallocate_opt_in=False,
        pools=(PoolSpec(share=Decimal("1"), split="equal", parties=("a",)),),
    )
    amount = allocate(cost, {})["a"]
    expected = (Decimal(units) * Decimal(unit)).quantize(Decimal(unit), context=decimal.Context(prec=60))
    assert amount == expected
    assert amount.as_tuple() == expected.as_tuple()
