"""The statistics behind per-segment fairness monitoring: rates, intervals, tests and flags.

Pure: numbers in, numbers out. No IO, no database, no clock; only the standard library and
numpy. A segment is a group of calls (a region, an input mode, a channel, an audio quality, a
time of day); a rate is successes over trials within it (containment: calls handled without a
person; escalation; low-confidence turns). Every count is treated as independent Bernoulli
trials with one fixed rate per segment; calls from the same caller, or bursts on one bad day,
break that and make every interval below too narrow.

Methods, and what each assumes:

- **Wilson score interval** (`wilson_interval`, `Proportion`). The interval of rates p whose
  score test |p_hat - p| / sqrt(p (1 - p) / n) stays under the normal quantile z (1.96 for
  95 %). Unlike the textbook p_hat +- z sqrt(p_hat (1 - p_hat) / n) it never leaves [0, 1],
  is not zero-width at 0 or n successes, and keeps its coverage close to the nominal level
  down to a few dozen trials (Newcombe 1998, "Two-sided confidence intervals for the single
  proportion"; Brown, Cai & DasGupta 2001). With 0 successes the low end is exactly 0, with
  all successes the high end is exactly 1. With no trials there is no rate and no interval
  (None), never a 0 %.
- **Small-cell suppression** (`suppressed`, `reported_rate`). A segment with fewer than
  `minimum` calls (30 by default) shows no rate and no interval: its rate swings too much to
  read, and a small group can point at a few people. `ReportedRate` is what a screen may
  show; it does not carry the success count, so a suppressed rate cannot be rebuilt from it.
- **Two-proportion test** (`two_proportion_test`). The pooled z-test of "both segments share
  one rate": z = (p_a - p_b) / sqrt(p (1 - p) (1/n_a + 1/n_b)) with p the pooled rate, and
  a two-sided p-value from the normal distribution. With it, Newcombe's hybrid score interval
  for the difference p_a - p_b (Newcombe 1998, "Interval estimation for the difference
  between independent proportions", method 10), built from the two Wilson intervals. The
  result is `significant` when that interval excludes 0; the decision uses the interval, not
  the p-value, because the interval stays trustworthy with small counts and the z-test does
  not. The z-test's normal approximation needs at least 5 expected successes and 5 expected
  failures in each segment under the pooled rate; below that `z_test_valid` is False and the
  p-value is still computed but should not be shown as exact. When both segments have only
  successes, or only failures, the difference is exactly 0: z is 0 and the p-value 1. A
  segment with no trials has no rate to compare and raises ValueError.
- **Four-fifths rule** (`four_fifths`). From US employment-selection practice (29 CFR 1607.4
  D): a group whose favourable-outcome rate is under four fifths (80 %) of the best group's
  rate shows adverse impact. For a favourable rate (containment: higher is better) each
  segment's rate is divided by the highest rate among segments that are not suppressed. For
  an unfavourable rate (escalation, low confidence: lower is better) the rule is applied to
  the complements, 1 - rate (the rate of the favourable outcome), because the rule is defined
  on favourable outcomes, and a ratio of small adverse rates (2 % against 1 %) would flag
  differences of a point. The price: with small adverse rates the complement ratio is close
  to 1 and rarely flags (5 % against 20 % escalation gives 0.80 / 0.95 = 0.84), so read it
  with the two-proportion test. The ratio says nothing about chance; the test says nothing
  about size. Suppressed segments are neither flagged nor used as the reference.
- **Percentile bootstrap for a mean** (`bootstrap_mean_interval`). Resample the values with
  replacement, take each resample's mean, report the middle `confidence` share of those
  means. Assumes independent values and a sample large enough to stand for the population
  (the interval runs a little narrow below a few dozen values). Seeded, so the same input
  always gives the same interval.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

import numpy as np

Z_95 = 1.959963984540054
"""The two-sided 95 % normal quantile, the 97.5th percentile of the standard normal."""
MINIMUM_TRIALS = 30
"""A segment with fewer calls than this shows no rate."""
FOUR_FIFTHS = 0.8
THRESHOLD_DENOMINATOR = 1000
"""A threshold is read as the nearest fraction with at most this denominator (0.8 is 4/5)."""
MINIMUM_EXPECTED_COUNT = 5
"""The z-test's normal approximation needs this many expected successes and failures."""
BOOTSTRAP_CELLS_PER_CHUNK = 1 << 22
"""How many resampling counts the bootstrap holds in memory at once."""


def normal_quantile(confidence: float = 0.95) -> float:
    """The z with P(-z < Z < z) = confidence for a standard normal Z."""
    check_confidence(confidence)
    if confidence == 0.95:
        return Z_95
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def two_sided_p_value(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2))


def wilson_interval(
    successes: int, trials: int, confidence: float = 0.95
) -> tuple[float, float] | None:
    """The Wilson score interval for a rate, or None with no trials."""
    check_counts(successes, trials)
    z = normal_quantile(confidence)
    if trials == 0:
        return None
    return wilson_bounds(successes, trials, z)


def wilson_bounds(successes: int, trials: int, z: float) -> tuple[float, float]:
    """The Wilson interval for at least one trial, with z the normal quantile."""
    rate = successes / trials
    z2_over_n = z * z / trials
    centre = (rate + z2_over_n / 2) / (1 + z2_over_n)
    half_width = (
        z / (1 + z2_over_n) * math.sqrt(rate * (1 - rate) / trials + z2_over_n / (4 * trials))
    )
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == trials else min(1.0, centre + half_width)
    return low, high


def check_counts(successes: int, trials: int) -> None:
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")


@dataclass(frozen=True)
class Proportion:
    """Successes out of trials in one segment, with its rate and 95 % Wilson interval.

    Numpy integers are accepted and stored as plain ints. With no trials, `rate`, `low`,
    `high` and `interval()` are None.
    """

    successes: int
    trials: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "successes", operator.index(self.successes))
        object.__setattr__(self, "trials", operator.index(self.trials))
        check_counts(self.successes, self.trials)

    @property
    def rate(self) -> float | None:
        return self.successes / self.trials if self.trials else None

    def interval(self, confidence: float = 0.95) -> tuple[float, float] | None:
        return wilson_interval(self.successes, self.trials, confidence)

    @property
    def low(self) -> float | None:
        interval = self.interval()
        return interval[0] if interval else None

    @property
    def high(self) -> float | None:
        interval = self.interval()
        return interval[1] if interval else None

    def complement(self) -> Proportion:
        """The failures as successes: the rate of the other outcome."""
        return Proportion(self.trials - self.successes, self.trials)


def suppressed(trials: int, minimum: int = MINIMUM_TRIALS) -> bool:
    """Whether a segment has too few calls to show a rate."""
    return trials < minimum


@dataclass(frozen=True)
class ReportedRate:
    """What a screen may show for one segment: the rate and its interval, or, for a
    suppressed segment, only the number of calls and `suppressed=True`."""

    trials: int
    suppressed: bool
    rate: float | None = None
    low: float | None = None
    high: float | None = None


def reported_rate(
    proportion: Proportion, minimum: int = MINIMUM_TRIALS, confidence: float = 0.95
) -> ReportedRate:
    """The segment's rate and interval, unless it has fewer than `minimum` calls."""
    interval = proportion.interval(confidence)
    if suppressed(proportion.trials, minimum) or interval is None:
        return ReportedRate(trials=proportion.trials, suppressed=True)
    low, high = interval
    return ReportedRate(proportion.trials, False, proportion.rate, low, high)


@dataclass(frozen=True)
class TwoProportionResult:
    """The comparison of segment a with segment b.

    `difference` is rate(a) - rate(b); `low`..`high` its Newcombe interval at `confidence`;
    `z` and `p_value` the pooled z-test. `significant` follows the interval.
    """

    difference: float
    low: float
    high: float
    z: float
    p_value: float
    z_test_valid: bool
    confidence: float = 0.95

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def two_proportion_test(
    a: Proportion, b: Proportion, confidence: float = 0.95
) -> TwoProportionResult:
    """The pooled z-test and the Newcombe interval for rate(a) - rate(b)."""
    if a.trials == 0 or b.trials == 0:
        raise ValueError("both segments need at least one trial to compare their rates")
    z = pooled_z(a, b)
    low, high = newcombe_difference_interval(a, b, confidence)
    return TwoProportionResult(
        difference=a.successes / a.trials - b.successes / b.trials,
        low=low,
        high=high,
        z=z,
        p_value=two_sided_p_value(z),
        z_test_valid=expected_counts_large_enough(a, b),
        confidence=confidence,
    )


def pooled_z(a: Proportion, b: Proportion) -> float:
    """(p_a - p_b) over its standard error under one shared rate; 0 when that error is 0."""
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    variance = pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials)
    if variance <= 0:
        return 0.0
    return (a.successes / a.trials - b.successes / b.trials) / math.sqrt(variance)


def newcombe_difference_interval(
    a: Proportion, b: Proportion, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) for rate(a) - rate(b)."""
    z = normal_quantile(confidence)
    rate_a, rate_b = a.successes / a.trials, b.successes / b.trials
    low_a, high_a = wilson_bounds(a.successes, a.trials, z)
    low_b, high_b = wilson_bounds(b.successes, b.trials, z)
    difference = rate_a - rate_b
    low = difference - math.hypot(rate_a - low_a, high_b - rate_b)
    high = difference + math.hypot(high_a - rate_a, rate_b - low_b)
    return max(-1.0, low), min(1.0, high)


def expected_counts_large_enough(a: Proportion, b: Proportion) -> bool:
    """Whether each segment expects at least 5 successes and 5 failures at the pooled rate."""
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    smallest = min(pooled, 1 - pooled) * min(a.trials, b.trials)
    return smallest >= MINIMUM_EXPECTED_COUNT


@dataclass(frozen=True)
class FourFifthsFlag:
    """A segment whose favourable-outcome rate is under four fifths of the reference's.

    `rate` and `reference_rate` are the rates as measured (escalation stays escalation);
    `ratio` is the favourable-outcome ratio the rule compared: rate / reference_rate when
    higher is better, (1 - rate) / (1 - reference_rate) when lower is better.
    """

    segment: str
    rate: float
    reference: str
    reference_rate: float
    ratio: float
    favourable: bool


def four_fifths(
    rates: Mapping[str, Proportion],
    favourable: bool = True,
    minimum: int = MINIMUM_TRIALS,
    threshold: float = FOUR_FIFTHS,
) -> list[FourFifthsFlag]:
    """The segments under `threshold` of the best segment, worst ratio first.

    `favourable`: whether a higher rate is better. Segments with fewer than `minimum` calls
    are left out entirely. The reference is the segment with the best favourable-outcome
    rate; on a tie, the first by name. When that best rate is 0 nothing is flagged (every
    shown segment is equally bad, and the ratio is undefined). Rates are compared as exact
    fractions of the counts, so a ratio of exactly four fifths (40/100 against 50/100) is
    not "under" it by a rounding error.
    """
    outcome_rates = {
        segment: favourable_outcome_rate(proportion, favourable)
        for segment, proportion in rates.items()
        if not suppressed(proportion.trials, minimum) and proportion.trials > 0
    }
    if not outcome_rates:
        return []
    reference = min(outcome_rates, key=lambda segment: (-outcome_rates[segment], segment))
    best = outcome_rates[reference]
    if best == 0:
        return []
    limit = Fraction(threshold).limit_denominator(THRESHOLD_DENOMINATOR)
    flags = [
        FourFifthsFlag(
            segment=segment,
            rate=measured_rate(rates[segment]),
            reference=reference,
            reference_rate=measured_rate(rates[reference]),
            ratio=float(outcome_rate / best),
            favourable=favourable,
        )
        for segment, outcome_rate in outcome_rates.items()
        if outcome_rate / best < limit
    ]
    return sorted(flags, key=lambda flag: (flag.ratio, flag.segment))


def favourable_outcome_rate(proportion: Proportion, favourable: bool) -> Fraction:
    """The exact rate of the favourable outcome: the rate, or 1 - rate when lower is better."""
    successes = proportion.successes if favourable else proportion.trials - proportion.successes
    return Fraction(successes, proportion.trials)


def measured_rate(proportion: Proportion) -> float:
    return proportion.successes / proportion.trials


def bootstrap_mean_interval(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """The percentile bootstrap interval for the mean of `values`, or None with no values.

    Each resample draws len(values) values with replacement; drawing how many times each
    distinct value is picked (a multinomial draw) is the same resampling, and with few
    distinct values (CSAT 1-5) far cheaper than drawing indices.
    """
    check_confidence(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    sample = np.asarray(values, dtype=float).ravel()
    if sample.size == 0:
        return None
    if not np.all(np.isfinite(sample)):
        raise ValueError("values must be finite numbers")
    means = resampled_means(sample, resamples, np.random.default_rng(seed))
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def resampled_means(sample: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The means of `resamples` resamples with replacement of `sample`, in chunks."""
    distinct, counts = np.unique(sample, return_counts=True)
    shares = counts / sample.size
    per_chunk = max(1, BOOTSTRAP_CELLS_PER_CHUNK // distinct.size)
    means = np.empty(resamples)
    for start in range(0, resamples, per_chunk):
        stop = min(resamples, start + per_chunk)
        picks = rng.multinomial(sample.size, shares, size=stop - start)
        means[start:stop] = picks @ distinct / sample.size
    return means
