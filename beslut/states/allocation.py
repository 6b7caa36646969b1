"""Exact allocation of a recommendation's cost among the parties, in integer arithmetic.

Why this module exists: a recommendation asks each party to grant its share of a budget (Mini-Maria:
5 000 000 SEK, 50.75 % to the eight municipalities by population, 49.25 % to the Region). Each party
decides on *its own amount*, so the amounts must be stated exactly and must add up exactly to the
budget. Rounding every share on its own does not: for the 2021 populations the municipal shares, each
rounded to whole kronor, come to 2 537 499 SEK, one krona short. The largest remainder (Hamilton)
method fixes that: everyone gets the floor of its exact quota, and the few units left over go one
each to the largest fractional remainders, ties broken by key so the result is reproducible.

Everything is computed in ``int`` and ``fractions.Fraction`` (``Decimal`` only at the edges): no float
ever touches money. The allocation unit (1 SEK or 0.01 SEK) is part of the cost specification.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

__all__ = ["CostSpec", "PoolSpec", "Split", "allocate", "largest_remainder"]

Split = Literal["population", "equal"]
"""How a pool is divided among its parties: in proportion to population, or in equal parts."""


@dataclass(frozen=True, kw_only=True)
class PoolSpec:
    """One slice of the cost and the parties that share it.

    ``share`` is the pool's fraction of the total (``Decimal("0.5075")``); ``split`` says how the pool
    is divided among ``parties`` and is ignored for a pool of one party.
    """

    share: Decimal
    split: Split
    parties: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class CostSpec:
    """The cost a recommendation asks the parties to share.

    ``total`` is in SEK and must be a whole number of ``unit`` (``Decimal("1")`` for kronor,
    ``Decimal("0.01")`` for öre). The pools' shares must add up to exactly 1. When the agreement is
    opt-in, ``reallocate_opt_in`` says whether the parties that join carry the whole cost between them
    (``True``: each pool is re-split among its participants) or only their planned amounts (``False``).
    """

    total: Decimal
    unit: Decimal
    reallocate_opt_in: bool
    pools: tuple[PoolSpec, ...]


def _as_ratio(weight: int | Fraction, key: str) -> tuple[int, int]:
    """Return ``weight`` as (numerator, denominator), refusing floats, Decimals and bools (which would be a bug)."""
    if type(weight) is int:  # the common case (populations, equal splits) first: no Fraction made
        return weight, 1
    if isinstance(weight, bool) or not isinstance(weight, int | Fraction):
        raise TypeError(f"weight of {key!r} must be an int or a Fraction, got {type(weight).__name__}")
    return int(weight.numerator), int(weight.denominator)


def largest_remainder(total_units: int, weights: Mapping[str, int | Fraction]) -> dict[str, int]:
    """Divide ``total_units`` among the keys of ``weights`` in proportion to the weights, exactly.

    Each key first gets ``floor(total_units * w / W)`` where ``W`` is the sum of the weights; the units
    left over (fewer than the number of keys) go one each to the keys with the largest remainders, ties
    going to the smaller key in string order. The result has every key, sums exactly to
    ``total_units``, and every amount is within one unit of its exact quota (a key of weight 0 gets 0).

    Raises ``ValueError`` if ``weights`` is empty, any weight is negative, all weights are 0, or
    ``total_units`` is negative; ``TypeError`` if a weight is not an int or a Fraction.
    """
    if isinstance(total_units, bool) or not isinstance(total_units, int):
        raise TypeError(f"total_units must be an int, got {type(total_units).__name__}")
    if total_units < 0:
        raise ValueError(f"total_units must not be negative, got {total_units}")
    if not weights:
        raise ValueError("cannot allocate among no one: weights is empty")
    exact = {key: _as_ratio(weight, key) for key, weight in weights.items()}
    negative = sorted(key for key, (numerator, _) in exact.items() if numerator < 0)
    if negative:
        raise ValueError(f"weights must not be negative: {', '.join(negative)}")
    if not any(numerator for numerator, _ in exact.values()):
        raise ValueError("cannot allocate: all weights are 0")

    # In integers: scale every weight by the common denominator, so each quota total * w / W has the
    # same denominator W. Its floor and its remainder's numerator are then one divmod, and remainders
    # compare as integers. Exactly the Fraction arithmetic, without a Fraction per key (a status read
    # of a case with many parties allocated two per party).
    scale = math.lcm(*(denominator for _, denominator in exact.values()))
    scaled = {key: numerator * (scale // denominator) for key, (numerator, denominator) in exact.items()}
    scaled_sum = sum(scaled.values())
    floors: dict[str, int] = {}
    remainders: dict[str, int] = {}
    for key, weight in scaled.items():
        floors[key], remainders[key] = divmod(total_units * weight, scaled_sum)
    leftover = total_units - sum(floors.values())
    assert 0 <= leftover < len(floors)
    for key in sorted(floors, key=lambda k: (-remainders[k], k))[:leftover]:
        floors[key] += 1
    return floors


def _total_units(cost: CostSpec) -> int:
    """Return the cost's total as a whole number of units, or raise ``ValueError``."""
    if not cost.unit.is_finite() or cost.unit <= 0:
        raise ValueError(f"unit must be a positive amount, got {cost.unit}")
    if not cost.total.is_finite() or cost.total < 0:
        raise ValueError(f"total must be a non-negative amount, got {cost.total}")
    units = Fraction(cost.total) / Fraction(cost.unit)
    if units.denominator != 1:
        raise ValueError(f"total {cost.total} is not a whole number of units of {cost.unit}")
    return units.numerator


def _check_pools(cost: CostSpec) -> None:
    """Refuse pools that would lose or invent money: no pools, empty or repeated parties, bad shares."""
    if not cost.pools:
        raise ValueError("a cost needs at least one pool")
    for index, pool in enumerate(cost.pools):
        if not pool.parties:
            raise ValueError(f"pool {index} has no parties")
        if len(set(pool.parties)) != len(pool.parties):
            raise ValueError(f"pool {index} names a party more than once")
        if not pool.share.is_finite() or pool.share < 0:
            raise ValueError(f"pool {index} has an invalid share {pool.share}")
    share_sum = sum((Fraction(pool.share) for pool in cost.pools), Fraction(0))
    if share_sum != 1:
        raise ValueError(f"pool shares must add up to exactly 1, they add up to {share_sum}")


def _split_pool(pool: PoolSpec, units: int, parties: tuple[str, ...], populations: Mapping[str, int]) -> dict[str, int]:
    """Divide a pool's ``units`` among ``parties`` (all or some of the pool's) by the pool's rule."""
    if len(pool.parties) == 1 or pool.split == "equal":
        weights: dict[str, int | Fraction] = dict.fromkeys(parties, 1)
    else:
        missing = [party for party in parties if party not in populations]
        if missing:
            raise ValueError(f"no population given for {', '.join(missing)}")
        weights = {party: populations[party] for party in parties}
    return largest_remainder(units, weights)


_EXACT_UNITS = 10**27
_EXACT_CONTEXT = decimal.Context(prec=28)
"""Below _EXACT_UNITS, ``Decimal(units).scaleb(exponent)`` is exact in a 28-digit context (whatever the caller's)."""


def _to_amount(units: int, unit: Decimal) -> Decimal:
    """Return ``units`` of ``unit`` as an exact Decimal with the unit's number of decimals."""
    sign, digits, exponent = unit.as_tuple()
    assert isinstance(exponent, int)
    if digits == (1,) and not sign and units >= 0:
        # The usual unit, a power of ten (1 SEK, 0.01 SEK): the amount is the units' digits at the
        # unit's exponent, built directly (exact, no context) instead of a multiply and quantize.
        return (
            Decimal(units).scaleb(exponent, _EXACT_CONTEXT)
            if units < _EXACT_UNITS
            else Decimal((0, tuple(map(int, str(units))), exponent))
        )
    with decimal.localcontext() as context:
        context.prec = max(28, len(str(units)) + abs(exponent) + len(digits) + 2)
        return (Decimal(units) * unit).quantize(unit)


def allocate(
    cost: CostSpec, populations: Mapping[str, int], participants: Collection[str] | None = None
) -> dict[str, Decimal]:
    """Return each party's amount of ``cost``, in SEK, adding up exactly as the rules below say.

    The total is first divided among the pools by share, then each pool among its parties (by
    ``populations`` or equally), both with ``largest_remainder``; pool ties go to the earlier pool,
    party ties to the smaller party key. A party in several pools gets the sum of its parts. Every
    party of every pool is in the result; amounts are quantized to ``cost.unit``.

    ``participants`` is ``None`` when everyone pays its planned share (the result sums to the total).
    Otherwise it names the parties that joined (names outside the cost are ignored: a party may take
    part without bearing cost), and every other party gets 0. With ``cost.reallocate_opt_in`` each
    pool's units are re-split by the same rule among the pool's participants, so the participants
    carry the whole pool (a pool without participants is left unallocated); without it participants
    pay exactly their planned amounts.

    Raises ``ValueError`` for a total that is not a whole number of units, pool shares that do not add
    up to 1, an empty pool, a party named twice in a pool, or a missing or all-zero population;
    ``TypeError`` if ``participants`` is a single string.
    """
    if isinstance(participants, str):
        raise TypeError("participants must be a collection of party keys, not one string")
    total_units = _total_units(cost)
    _check_pools(cost)
    width = len(str(len(cost.pools) - 1))
    pool_units = largest_remainder(
        total_units, {f"{index:0{width}d}": Fraction(pool.share) for index, pool in enumerate(cost.pools)}
    )

    joined = None if participants is None else frozenset(participants)
    units: dict[str, int] = {}
    for index, pool in enumerate(cost.pools):
        for party in pool.parties:
            units.setdefault(party, 0)
        this_pool = pool_units[f"{index:0{width}d}"]
        planned = _split_pool(pool, this_pool, pool.parties, populations)
        if joined is None:
            shares = planned
        elif cost.reallocate_opt_in:
            paying = tuple(party for party in pool.parties if party in joined)
            shares = _split_pool(pool, this_pool, paying, populations) if paying else {}
        else:
            shares = {party: amount for party, amount in planned.items() if party in joined}
        for party, amount in shares.items():
            units[party] += amount
    return {party: _to_amount(amount, cost.unit) for party, amount in units.items()}
