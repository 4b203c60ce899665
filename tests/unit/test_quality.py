import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.core.quality import QualityEstimate, estimate
from modelctl.errors import InvalidInput


def from_scores(scores: list[float]) -> QualityEstimate:
    return estimate(sum(scores), sum(s * s for s in scores), len(scores))


def test_three_perfect_scores_do_not_beat_five_hundred_at_point_nine():
    lucky = from_scores([1.0] * 3)
    proven = from_scores([0.9] * 500)
    assert lucky.mean == 1.0 and proven.mean == pytest.approx(0.9)
    assert lucky.lcb < proven.lcb


def test_more_evidence_for_the_same_mean_gives_a_higher_bound():
    bounds = [from_scores([1.0, 0.0, 1.0, 1.0] * k).lcb for k in (1, 10, 100)]
    assert bounds == sorted(bounds) and bounds[0] < bounds[-1]


def test_consistent_scores_earn_a_tighter_bound_than_scattered_ones_with_the_same_mean():
    steady = from_scores([0.5] * 400)
    scattered = from_scores([0.0, 1.0] * 200)
    assert steady.mean == pytest.approx(scattered.mean)
    assert steady.lcb > scattered.lcb


def test_no_scores_means_no_evidence():
    assert estimate(0.0, 0.0, 0) == QualityEstimate(mean=0.0, n=0, lcb=0.0)


def test_bound_covers_the_true_mean_about_ninety_five_percent_of_the_time():
    rng = random.Random(7)
    true_mean, trials = 0.7, 2000
    covered = sum(
        from_scores([float(rng.random() < true_mean) for _ in range(40)]).lcb <= true_mean
        for _ in range(trials)
    )
    assert covered / trials >= 0.93


@pytest.mark.parametrize(
    ("sums", "message"),
    [
        ((5.0, 5.0, 3), "must be in 0..1"),
        ((-1.0, 1.0, 2), "must be in 0..1"),
        ((0, 0, -1), "n >= 0"),
    ],
)
def test_impossible_statistics_are_rejected(sums, message):
    with pytest.raises(InvalidInput, match=message):
        estimate(*sums)


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=300))
def test_bound_is_within_zero_and_the_mean(scores):
    q = from_scores(scores)
    assert 0.0 <= q.lcb <= q.mean <= 1.0
    assert q.n == len(scores)
