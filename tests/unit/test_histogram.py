import math

from hypothesis import given
from hypothesis import strategies as st

from modelctl.core import histogram


def exact_nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@given(st.lists(st.floats(min_value=1.0, max_value=1e7, allow_nan=False), min_size=1, max_size=300),
       st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_percentiles_are_within_one_percent_of_exact(values, q):
    got = histogram.percentile(histogram.from_values(values), q)
    want = exact_nearest_rank(values, q)
    assert abs(got - want) <= 0.0101 * want + 0.05  # +0.05: the result is rounded to 0.1 ms


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=50),
       st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=50))
def test_merging_equals_one_histogram_of_everything(a, b):
    merged = histogram.merge(histogram.from_values(a), histogram.from_values(b))
    assert merged == histogram.from_values(a + b)
    assert histogram.loads(histogram.dumps(merged)) == merged


def test_empty_histogram_has_no_percentile():
    assert histogram.percentile({}, 0.5) is None
