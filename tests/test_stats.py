"""The fairness statistics against published values, hand computation and simulation.

Every simulation uses a seeded numpy Generator, so each test is deterministic; its bounds are
still chosen from the Monte Carlo standard error (MCSE) sqrt(q (1 - q) / draws) of a rate q
estimated from `draws` simulations, allowing about 4 MCSE (a correct method falls outside by
chance about once in 16,000 seeds) plus the method's known exact deviation from nominal.

References:
- Newcombe RG (1998a). Two-sided confidence intervals for the single proportion: comparison
  of seven methods. Statistics in Medicine 17:857-872, table II, method 3 (Wilson score).
- Newcombe RG (1998b). Interval estimation for the difference between independent
  proportions: comparison of eleven methods. Statistics in Medicine 17:873-890, table II,
  method 10 (hybrid score).
- Brown LD, Cai TT, DasGupta A (2001). Interval estimation for a binomial proportion.
  Statistical Science 16:101-133 (Wilson's coverage oscillates around the nominal level).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from statistics import NormalDist

import numpy as np
import pytest

from ivr.app.stats import (
    Z_95,
    Proportion,
    ReportedRate,
    bootstrap_mean_interval,
    four_fifths,
    normal_quantile,
    reported_rate,
    suppressed,
    two_proportion_test,
    wilson_interval,
)

Interval = Callable[[int, int], "tuple[float, float] | None"]


def mcse(rate: float, draws: int) -> float:
    """The Monte Carlo standard error of a rate estimated from `draws` simulations."""
    return math.sqrt(rate * (1 - rate) / draws)


def wilson_by_hand(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's interval as the two roots of (p_hat - p)^2 = z^2 p (1 - p) / n, solved for p:
    (2x + z^2 -+ z sqrt(z^2 + 4x(n - x)/n)) / (2(n + z^2))."""
    x, n = successes, trials
    root = z * math.sqrt(z * z + 4 * x * (n - x) / n)
    denominator = 2 * (n + z * z)
    return (2 * x + z * z - root) / denominator, (2 * x + z * z + root) / denominator


def wald(successes: int, trials: int) -> tuple[float, float]:
    """The textbook interval p_hat -+ z sqrt(p_hat (1 - p_hat) / n), known to under-cover."""
    rate = successes / trials
    half = Z_95 * math.sqrt(rate * (1 - rate) / trials)
    return rate - half, rate + half


def covered_counts(interval: Interval, trials: int, rate: float) -> np.ndarray:
    """For each possible success count 0..n, whether its interval contains `rate`."""
    covered = []
    for successes in range(trials + 1):
        bounds = interval(successes, trials)
        assert bounds is not None
        covered.append(bounds[0] <= rate <= bounds[1])
    return np.array(covered)


def simulated_coverage(
    interval: Interval, trials: int, rate: float, draws: int, rng: np.random.Generator
) -> float:
    """The share of `draws` binomial samples whose interval contains the true rate. The
    interval depends on the sample only through its success count, so it is computed once per
    count and looked up for each sample."""
    successes = rng.binomial(trials, rate, size=draws)
    return float(covered_counts(interval, trials, rate)[successes].mean())


def exact_coverage(interval: Interval, trials: int, rate: float) -> float:
    """The coverage summed over the binomial distribution, without simulation."""
    covered = covered_counts(interval, trials, rate)
    return sum(
        math.comb(trials, k) * rate**k * (1 - rate) ** (trials - k)
        for k in range(trials + 1)
        if covered[k]
    )


COVERAGE_GRID = [(n, p) for n in (30, 100, 1000) for p in (0.05, 0.5, 0.9)]


# ---- Wilson: reference values and hand computation -----------------------------------------


def test_the_95_percent_quantile_is_the_normal_quantile() -> None:
    assert normal_quantile(0.95) == Z_95
    assert NormalDist().inv_cdf(0.975) == pytest.approx(Z_95, abs=1e-12)
    assert normal_quantile(0.90) == pytest.approx(1.6448536269514722, abs=1e-12)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_1998_table(
    successes: int, trials: int, low: float, high: float
) -> None:
    """Newcombe (1998a) table II, method 3, printed to 4 decimals."""
    interval = wilson_interval(successes, trials)
    assert interval == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize("trials", [1, 7, 30, 263])
def test_wilson_matches_the_closed_form_for_every_count(trials: int) -> None:
    for successes in range(trials + 1):
        interval = wilson_interval(successes, trials)
        assert interval == pytest.approx(wilson_by_hand(successes, trials), abs=1e-12)


def test_wilson_ends_at_zero_and_all_successes_by_hand() -> None:
    z2 = Z_95**2
    # With x = 0 the roots are 0 and z^2 / (n + z^2); with x = n, n / (n + z^2) and 1.
    assert wilson_interval(0, 20) == (0.0, pytest.approx(z2 / (20 + z2), abs=1e-15))
    assert wilson_interval(20, 20) == (pytest.approx(20 / (20 + z2), abs=1e-15), 1.0)
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.16112), abs=1e-5)
    # 5 of 10: the centre is exactly 0.5 and the half-width is z/(1 + z^2/n) * sqrt(...).
    half = Z_95 / (1 + z2 / 10) * math.sqrt(0.25 / 10 + z2 / 400)
    assert wilson_interval(5, 10) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-15)
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)


@pytest.mark.parametrize("trials", [1, 2, 5, 30, 1000])
def test_wilson_stays_inside_zero_one_and_holds_the_rate(trials: int) -> None:
    for successes in range(trials + 1):
        interval = wilson_interval(successes, trials)
        assert interval is not None
        low, high = interval
        assert 0.0 <= low <= successes / trials <= high <= 1.0
        assert low < high
    assert wilson_interval(0, trials)[0] == 0.0  # type: ignore[index]
    assert wilson_interval(trials, trials)[1] == 1.0  # type: ignore[index]


def test_a_higher_confidence_gives_a_wider_interval() -> None:
    narrow, wide = wilson_interval(40, 100, 0.80), wilson_interval(40, 100, 0.99)
    assert narrow is not None and wide is not None
    assert wide[0] < narrow[0] < 0.4 < narrow[1] < wide[1]
    assert wilson_interval(40, 100, 0.99) == pytest.approx(
        wilson_by_hand(40, 100, NormalDist().inv_cdf(0.995)), abs=1e-12
    )


def test_no_trials_means_no_rate_and_no_interval() -> None:
    empty = Proportion(0, 0)
    assert wilson_interval(0, 0) is None
    assert (empty.rate, empty.low, empty.high, empty.interval()) == (None, None, None, None)


def test_proportion_carries_rate_and_interval() -> None:
    proportion = Proportion(np.int64(81), np.int64(263))  # numpy counts become plain ints
    assert type(proportion.successes) is int and type(proportion.trials) is int
    assert proportion.rate == pytest.approx(81 / 263)
    assert (proportion.low, proportion.high) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert proportion.complement() == Proportion(182, 263)
    with pytest.raises(AttributeError):
        proportion.successes = 1  # type: ignore[misc]


@pytest.mark.parametrize(("successes", "trials"), [(-1, 10), (11, 10), (0, -1)])
def test_impossible_counts_are_refused(successes: int, trials: int) -> None:
    with pytest.raises(ValueError):
        Proportion(successes, trials)
    with pytest.raises(ValueError):
        wilson_interval(successes, trials)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95.0, -0.5])
def test_a_confidence_outside_zero_one_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(5, 10, confidence)


# ---- Wilson: coverage ---------------------------------------------------------------------


def test_wilson_exact_coverage_is_near_95_percent() -> None:
    """Without simulation: the binomial-weighted coverage. Wilson's coverage oscillates with
    n and p (Brown, Cai & DasGupta 2001); on this grid it runs from 0.936 to 0.974."""
    coverages = [exact_coverage(wilson_interval, n, p) for n, p in COVERAGE_GRID]
    assert all(0.93 <= coverage <= 0.975 for coverage in coverages), coverages
    assert sum(coverages) / len(coverages) == pytest.approx(0.95, abs=0.005)


def test_wilson_simulated_coverage_is_near_95_percent() -> None:
    """20,000 binomial samples per (n, p): the MCSE of a coverage near 0.94 is 0.0017, so 4
    MCSE is 0.007. The true coverages on the grid are 0.936-0.974 (test above), hence the
    bounds 0.925-0.98 per pair. The mean of the nine (true mean 0.951) has an MCSE of about
    0.0005, hence 0.95 +- 0.005."""
    rng = np.random.default_rng(20260509)
    draws = 20_000
    coverages = {
        (n, p): simulated_coverage(wilson_interval, n, p, draws, rng) for n, p in COVERAGE_GRID
    }
    assert all(0.925 <= coverage <= 0.98 for coverage in coverages.values()), coverages
    assert sum(coverages.values()) / len(coverages) == pytest.approx(0.95, abs=0.005)


def test_the_coverage_check_catches_a_wrong_interval() -> None:
    """The same check fails the Wald interval, which covers 0.05 with 30 calls about 78 % of
    the time: the coverage test above can fail."""
    rng = np.random.default_rng(7)
    assert simulated_coverage(wald, 30, 0.05, 20_000, rng) < 0.85
    assert simulated_coverage(wilson_interval, 30, 0.05, 20_000, rng) > 0.925


# ---- Suppression --------------------------------------------------------------------------


def test_fewer_than_the_minimum_calls_is_suppressed() -> None:
    assert suppressed(29) and not suppressed(30)
    assert suppressed(0)
    assert suppressed(99, minimum=100) and not suppressed(100, minimum=100)


def test_a_suppressed_cell_shows_no_rate() -> None:
    cell = reported_rate(Proportion(0, 12))
    assert cell == ReportedRate(trials=12, suppressed=True)
    assert (cell.rate, cell.low, cell.high) == (None, None, None)
    assert not hasattr(cell, "successes")  # the rate cannot be rebuilt from the cell
    assert reported_rate(Proportion(0, 0)).suppressed
    assert reported_rate(Proportion(0, 0), minimum=0).suppressed  # no trials: never a rate


def test_a_shown_cell_has_rate_and_wilson_interval() -> None:
    cell = reported_rate(Proportion(81, 263))
    assert not cell.suppressed and cell.trials == 263
    assert cell.rate == pytest.approx(81 / 263)
    assert (cell.low, cell.high) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert reported_rate(Proportion(3, 12), minimum=10).rate == 0.25


# ---- Two-proportion test: reference values ------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [((56, 70), (48, 80), 0.0524, 0.3339), ((9, 10), (3, 10), 0.1705, 0.8090)],
)
def test_newcombe_interval_matches_newcombe_1998_table(
    a: tuple[int, int], b: tuple[int, int], low: float, high: float
) -> None:
    """Newcombe (1998b) table II, method 10, printed to 4 decimals."""
    result = two_proportion_test(Proportion(*a), Proportion(*b))
    assert (result.low, result.high) == pytest.approx((low, high), abs=5e-5)
    assert result.significant


def test_newcombe_interval_by_hand_from_the_two_wilson_intervals() -> None:
    # L = d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2), U = d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)
    l_a, u_a = wilson_by_hand(56, 70)
    l_b, u_b = wilson_by_hand(48, 80)
    p_a, p_b = 0.8, 0.6
    low = 0.2 - math.sqrt((p_a - l_a) ** 2 + (u_b - p_b) ** 2)
    high = 0.2 + math.sqrt((u_a - p_a) ** 2 + (p_b - l_b) ** 2)
    result = two_proportion_test(Proportion(56, 70), Proportion(48, 80))
    assert (result.difference, result.low, result.high) == pytest.approx((0.2, low, high))
    # 0 of 10 against 0 of 20: the interval runs from -u(0/20) to u(0/10), z^2 / (n + z^2).
    z2 = Z_95**2
    none = two_proportion_test(Proportion(0, 10), Proportion(0, 20))
    assert (none.low, none.high) == pytest.approx((-z2 / (20 + z2), z2 / (10 + z2)))
    assert (none.low, none.high) == pytest.approx((-0.1611, 0.2775), abs=5e-5)
    assert not none.significant


def test_pooled_z_by_hand_and_as_the_chi_square_of_the_table() -> None:
    result = two_proportion_test(Proportion(56, 70), Proportion(48, 80))
    pooled = 104 / 150
    z = 0.2 / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert result.z == pytest.approx(z, abs=1e-12)
    assert result.z == pytest.approx(2.6502, abs=5e-5)
    assert result.p_value == pytest.approx(2 * (1 - NormalDist().cdf(z)), abs=1e-12)
    # z^2 is Pearson's chi-square of the 2x2 table without continuity correction.
    observed = np.array([[56, 14], [48, 32]])
    expected = observed.sum(1, keepdims=True) * observed.sum(0, keepdims=True) / 150
    assert result.z**2 == pytest.approx(((observed - expected) ** 2 / expected).sum())
    assert result.z_test_valid


def test_swapping_the_segments_mirrors_the_result() -> None:
    a, b = Proportion(56, 70), Proportion(48, 80)
    forward, backward = two_proportion_test(a, b), two_proportion_test(b, a)
    assert backward.difference == pytest.approx(-forward.difference)
    assert (backward.low, backward.high) == pytest.approx((-forward.high, -forward.low))
    assert backward.z == pytest.approx(-forward.z)
    assert backward.p_value == pytest.approx(forward.p_value)


def test_no_variation_gives_z_zero_and_p_one() -> None:
    for a, b in [(Proportion(10, 10), Proportion(40, 40)), (Proportion(0, 35), Proportion(0, 90))]:
        result = two_proportion_test(a, b)
        assert (result.difference, result.z, result.p_value) == (0.0, 0.0, 1.0)
        assert not result.significant
        assert result.low < 0 < result.high


def test_tiny_counts_mark_the_z_test_invalid_but_keep_the_interval() -> None:
    result = two_proportion_test(Proportion(9, 10), Proportion(3, 10))
    assert not result.z_test_valid  # pooled rate 0.6: 4 expected failures in each, under 5
    assert result.significant  # decided by the Newcombe interval, valid at these counts
    assert two_proportion_test(Proportion(10, 10), Proportion(0, 10)).z_test_valid  # 5 and 5
    with pytest.raises(ValueError):
        two_proportion_test(Proportion(0, 0), Proportion(3, 10))


# ---- Two-proportion test: size and power by simulation ------------------------------------


@cache
def cached_test(a: tuple[int, int], b: tuple[int, int]) -> tuple[bool, bool]:
    """(z-test p < 0.05, Newcombe interval excludes 0): the result depends on the counts only,
    so repeated count pairs are computed once."""
    result = two_proportion_test(Proportion(*a), Proportion(*b))
    return result.p_value < 0.05, result.significant


def rejection_rates(
    trials_a: int, rate_a: float, trials_b: int, rate_b: float, draws: int, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    successes_a = rng.binomial(trials_a, rate_a, size=draws)
    successes_b = rng.binomial(trials_b, rate_b, size=draws)
    outcomes = np.array(
        [
            cached_test((int(x), trials_a), (int(y), trials_b))
            for x, y in zip(successes_a, successes_b, strict=True)
        ]
    )
    z_rejects, newcombe_rejects = outcomes.mean(axis=0)
    return float(z_rejects), float(newcombe_rejects)


@pytest.mark.parametrize(
    ("trials_a", "trials_b", "rate"), [(200, 200, 0.5), (200, 200, 0.1), (100, 400, 0.3)]
)
def test_under_the_null_about_5_percent_are_rejected(
    trials_a: int, trials_b: int, rate: float
) -> None:
    """20,000 pairs with equal rates. MCSE of a 5 % rate: 0.0015, 4 MCSE = 0.006. The exact
    sizes (by enumerating both binomials) are 0.051, 0.048 and 0.050 for the z-test and the
    interval alike; hence 0.04-0.06."""
    draws = 20_000
    z_size, interval_size = rejection_rates(trials_a, rate, trials_b, rate, draws, seed=11)
    assert 0.04 <= z_size <= 0.06
    assert 0.04 <= interval_size <= 0.06


def test_a_large_difference_is_found_nearly_always() -> None:
    """0.70 against 0.50 with 500 calls each: z is about 6.5, the power 1 - 1e-9."""
    z_power, interval_power = rejection_rates(500, 0.70, 500, 0.50, 2_000, seed=12)
    assert z_power >= 0.999 and interval_power >= 0.999


def test_a_moderate_difference_is_found_at_the_computed_power() -> None:
    """0.55 against 0.50 with 1,000 calls each. Normal-approximation power:
    P(|D| > z se0) with D ~ N(0.05, se1), se0 pooled and se1 unpooled, about 0.610 (by
    enumeration 0.615). 4,000 draws: MCSE 0.0077, 4 MCSE = 0.031, plus 0.005 for the
    approximation: +-0.04."""
    pooled = 0.525
    se0 = math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    se1 = math.sqrt((0.55 * 0.45 + 0.5 * 0.5) / 1000)
    normal = NormalDist()
    power = normal.cdf((0.05 - Z_95 * se0) / se1) + normal.cdf((-0.05 - Z_95 * se0) / se1)
    assert power == pytest.approx(0.610, abs=0.001)
    z_power, interval_power = rejection_rates(1000, 0.55, 1000, 0.50, 4_000, seed=13)
    assert z_power == pytest.approx(power, abs=0.04)
    assert interval_power == pytest.approx(power, abs=0.04)


# ---- Four-fifths rule ---------------------------------------------------------------------


def simulate_segments(
    rng: np.random.Generator, rates: dict[str, float], calls: int
) -> dict[str, Proportion]:
    return {
        segment: Proportion(int(rng.binomial(calls, rate)), calls)
        for segment, rate in rates.items()
    }


def test_only_the_degraded_segment_is_flagged_with_ratio_and_reference() -> None:
    """Four regions at containment 0.70 and one at 0.45, 400 calls each, 200 simulated weeks.
    A 0.70 segment would need to fall about 6 standard errors to be flagged, and the 0.45 one
    to rise about 5 to escape, so every week flags exactly the degraded one."""
    rng = np.random.default_rng(3)
    true_rates = {"north": 0.70, "south": 0.70, "east": 0.70, "west": 0.70, "rural": 0.45}
    ratios = []
    for _ in range(200):
        segments = simulate_segments(rng, true_rates, calls=400)
        flags = four_fifths(segments)
        assert [flag.segment for flag in flags] == ["rural"]
        (flag,) = flags
        best = min(segments, key=lambda name: (-segments[name].successes, name))  # ties: by name
        assert flag.reference == best != "rural"
        assert flag.rate == segments["rural"].rate
        assert flag.reference_rate == segments[best].rate
        assert flag.ratio == pytest.approx(segments["rural"].successes / segments[best].successes)
        assert flag.favourable
        ratios.append(flag.ratio)
    # The true ratio is 0.45 / 0.70 = 0.643; the best of four observed rates sits a little
    # above 0.70, so the observed ratio runs a little under it.
    assert 0.58 <= float(np.mean(ratios)) <= 0.643


def test_equal_segments_are_not_flagged() -> None:
    rng = np.random.default_rng(4)
    true_rates = {name: 0.70 for name in ("phone", "sip", "web", "speech", "keys")}
    for _ in range(200):
        assert four_fifths(simulate_segments(rng, true_rates, calls=300)) == []


def test_exactly_four_fifths_is_not_under_it() -> None:
    segments = {"a": Proportion(50, 100), "b": Proportion(40, 100), "c": Proportion(39, 100)}
    assert [flag.segment for flag in four_fifths(segments)] == ["c"]
    escalation = {"a": Proportion(50, 100), "b": Proportion(60, 100), "c": Proportion(61, 100)}
    assert [flag.segment for flag in four_fifths(escalation, favourable=False)] == ["c"]


def test_a_small_segment_is_never_flagged_nor_the_reference() -> None:
    segments = {
        "day": Proportion(280, 400),  # 0.70
        "night": Proportion(180, 400),  # 0.45: flagged
        "dawn_terrible": Proportion(0, 12),  # suppressed: not flagged
        "dusk_perfect": Proportion(29, 29),  # suppressed: would otherwise be the reference
    }
    flags = four_fifths(segments)
    assert [(flag.segment, flag.reference) for flag in flags] == [("night", "day")]
    assert flags[0].ratio == pytest.approx(0.45 / 0.70)
    assert flags[0].reference_rate == 0.70
    # With a minimum of 10 both small ones count: the perfect one becomes the reference, and
    # against 1.0 even 0.70 is under four fifths.
    relaxed = four_fifths(segments, minimum=10)
    assert [flag.segment for flag in relaxed] == ["dawn_terrible", "night", "day"]
    assert {flag.reference for flag in relaxed} == {"dusk_perfect"}


def test_nothing_to_compare_flags_nothing() -> None:
    assert four_fifths({}) == []
    assert four_fifths({"a": Proportion(1, 10), "b": Proportion(9, 10)}) == []  # all small
    assert four_fifths({"a": Proportion(0, 50), "b": Proportion(0, 80)}) == []  # best is 0


def test_ties_for_the_best_pick_the_first_segment_by_name() -> None:
    segments = {"b": Proportion(70, 100), "a": Proportion(140, 200), "c": Proportion(30, 100)}
    (flag,) = four_fifths(segments)
    assert (flag.segment, flag.reference) == ("c", "a")


def test_an_unfavourable_rate_compares_the_complements() -> None:
    """Escalation, lower is better: 0.10 in four channels and 0.35 in one, 400 calls each. The
    complements are 0.90 and 0.65: ratio 0.72, flagged, against the lowest escalation."""
    rng = np.random.default_rng(5)
    true_rates = {"pstn": 0.10, "sip": 0.10, "webrtc": 0.10, "mobile": 0.10, "voip": 0.35}
    for _ in range(200):
        segments = simulate_segments(rng, true_rates, calls=400)
        flags = four_fifths(segments, favourable=False)
        assert [flag.segment for flag in flags] == ["voip"]
        (flag,) = flags
        lowest = min(segments, key=lambda name: (segments[name].rate, name))
        assert flag.reference == lowest
        assert flag.rate == segments["voip"].rate  # reported as escalation, not its complement
        assert flag.ratio == pytest.approx((1 - flag.rate) / (1 - flag.reference_rate))
        assert not flag.favourable
    exact = {"low": Proportion(40, 400), "high": Proportion(140, 400)}
    (flag,) = four_fifths(exact, favourable=False)
    assert (flag.segment, flag.reference) == ("high", "low")
    assert flag.ratio == pytest.approx(0.65 / 0.90)


def test_small_adverse_rates_need_the_two_proportion_test() -> None:
    """The documented price of comparing complements: 5 % against 20 % escalation is a ratio
    of 0.80 / 0.95 = 0.84, not flagged, while the two-proportion test finds the difference."""
    segments = {"good": Proportion(20, 400), "bad": Proportion(80, 400)}
    assert four_fifths(segments, favourable=False) == []
    result = two_proportion_test(segments["bad"], segments["good"])
    assert result.significant and result.p_value < 1e-9
    # Read as a ratio of escalation rates the same data would be 0.25, a gross flag.
    assert four_fifths(segments, favourable=True)[0].ratio == pytest.approx(0.25)


# ---- Bootstrap ----------------------------------------------------------------------------

CSAT_SCORES = np.arange(1, 6)
CSAT_SHARES = np.array([0.05, 0.10, 0.20, 0.35, 0.30])
CSAT_MEAN = float(CSAT_SCORES @ CSAT_SHARES)  # 3.75


def test_bootstrap_covers_the_known_mean_about_95_percent() -> None:
    """2,000 simulated surveys of 60 CSAT answers (mean 3.75), 1,000 resamples each. The
    percentile bootstrap runs a little narrow at small sizes; here its coverage, by a
    20,000-survey run, is 0.948. MCSE over 2,000 surveys: 0.005, 4 MCSE = 0.02; hence
    0.925-0.97 (a 90 % interval, or one a third too wide, falls outside)."""
    rng = np.random.default_rng(21)
    surveys = 2_000
    covered = 0
    for index in range(surveys):
        answers = rng.choice(CSAT_SCORES, size=60, p=CSAT_SHARES)
        interval = bootstrap_mean_interval(answers, resamples=1_000, seed=index)
        assert interval is not None
        covered += interval[0] <= CSAT_MEAN <= interval[1]
    assert 0.925 <= covered / surveys <= 0.97


def test_bootstrap_agrees_with_the_normal_interval_on_a_large_sample() -> None:
    """With 5,000 values the bootstrap interval is close to mean +- z sd / sqrt(n)."""
    values = np.random.default_rng(22).choice(CSAT_SCORES, size=5_000, p=CSAT_SHARES)
    interval = bootstrap_mean_interval(values, resamples=4_000, seed=1)
    assert interval is not None
    half = Z_95 * values.std() / math.sqrt(values.size)
    assert interval[0] == pytest.approx(values.mean() - half, abs=0.1 * half)
    assert interval[1] == pytest.approx(values.mean() + half, abs=0.1 * half)


def test_bootstrap_is_deterministic_with_the_seed() -> None:
    values = [5, 4, 4, 3, 5, 1, 2, 5, 4, 4, 3, 5, 5, 2, 4]
    assert bootstrap_mean_interval(values, seed=9) == bootstrap_mean_interval(values, seed=9)
    assert bootstrap_mean_interval(values, seed=9) != bootstrap_mean_interval(values, seed=10)
    low, high = bootstrap_mean_interval(values, seed=9)  # type: ignore[misc]
    assert low < float(np.mean(values)) < high


def test_bootstrap_of_continuous_values_and_edge_cases() -> None:
    values = np.random.default_rng(23).normal(10.0, 2.0, size=400)  # all values distinct
    interval = bootstrap_mean_interval(values, resamples=500, seed=0)
    assert interval is not None and interval[0] < 10.0 < interval[1]
    assert bootstrap_mean_interval([4, 4, 4]) == (4.0, 4.0)
    assert bootstrap_mean_interval([]) is None
    with pytest.raises(ValueError):
        bootstrap_mean_interval([1.0, math.nan])
    with pytest.raises(ValueError):
        bootstrap_mean_interval([1.0, 2.0], resamples=0)
