"""The harness's statistics on known inputs."""
import math

import numpy as np
import pytest

from agents.stats import bootstrap_ci, kendall, pairwise_order_agreement, ranks, spearman


def test_perfect_and_reversed_agreement():
    real = [1.0, 5.0, 2.0, 9.0, -3.0]
    world = [10.0, 50.0, 20.0, 90.0, -30.0]                 # any increasing map: the same order
    assert spearman(real, world) == pytest.approx(1.0) and kendall(real, world) == pytest.approx(1.0)
    rev = [-x for x in world]
    assert spearman(real, rev) == pytest.approx(-1.0) and kendall(real, rev) == pytest.approx(-1.0)
    ci = [(x - 0.1, x + 0.1) for x in real]                 # all told apart
    assert pairwise_order_agreement(real, ci, world) == 1.0
    assert pairwise_order_agreement(real, ci, rev) == 0.0


def test_ties_and_known_values():
    assert list(ranks([3, 1, 3, 2])) == [3.5, 1.0, 3.5, 2.0]
    # one swapped neighbour pair among 4: rho = 1 - 6*2/(4*15) = 0.8, tau = (5 - 1)/6
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))
    # overlapping intervals are not counted; a world tie counts half
    real, ci = [0.0, 1.0, 10.0], [(-1, 1), (0, 2), (9, 11)]
    assert pairwise_order_agreement(real, ci, [0.0, 5.0, 5.0]) == pytest.approx(0.75)
    assert math.isnan(pairwise_order_agreement([0, 1], [(-1, 2), (0, 3)], [0, 1]))


def test_bootstrap_interval_covers_the_mean_and_narrows():
    rng = np.random.default_rng(1)
    small, big = rng.normal(3, 1, 10), rng.normal(3, 1, 1000)
    lo, hi = bootstrap_ci(small)
    lo2, hi2 = bootstrap_ci(big)
    assert lo < small.mean() < hi and lo2 < big.mean() < hi2
    assert hi2 - lo2 < (hi - lo) / 3
    assert bootstrap_ci([2.0]) == (2.0, 2.0)
    assert bootstrap_ci(small, seed=5) == bootstrap_ci(small, seed=5)
