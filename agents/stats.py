"""Statistics of the agent harness: how far a world's verdict on agents agrees with the real game's.

Plain numpy, no scipy: rank correlations with average ranks for ties (Spearman's rho), Kendall's
tau-b, the order agreement over the pairs of agents the real game tells apart, and percentile
bootstrap confidence intervals of mean returns.
"""
from __future__ import annotations

import numpy as np


def ranks(x) -> np.ndarray:
    """1-based ranks, ties get the mean of the ranks they span."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        r[tie] = r[tie].mean()
    return r


def spearman(a, b) -> float:
    """Spearman's rho: the Pearson correlation of the ranks. NaN if either side is constant."""
    ra, rb = ranks(a), ranks(b)
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def kendall(a, b) -> float:
    """Kendall's tau-b (ties in either side handled). NaN if either side is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    i, j = np.triu_indices(len(a), 1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    n0 = len(i)
    ta, tb = n0 - np.count_nonzero(da), n0 - np.count_nonzero(db)
    denom = np.sqrt((n0 - ta) * (n0 - tb))
    return float((da * db).sum() / denom) if denom > 0 else float("nan")


def bootstrap_ci(values, level: float = 0.95, samples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    v = np.asarray(values, float)
    if len(v) == 0:
        raise ValueError("no values")
    if len(v) == 1:
        return float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (samples, len(v)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def pairwise_order_agreement(real, real_ci, world) -> float:
    """Over the pairs of agents whose real-game intervals do not overlap (the real game tells them
    apart), the fraction that the world orders the same way (a world tie counts half). NaN when
    the real game tells no pair apart."""
    real, world = np.asarray(real, float), np.asarray(world, float)
    hits, n = 0.0, 0
    for i in range(len(real)):
        for j in range(i + 1, len(real)):
            (lo_i, hi_i), (lo_j, hi_j) = real_ci[i], real_ci[j]
            if hi_i < lo_j or hi_j < lo_i:
                n += 1
                s = np.sign(real[i] - real[j]) * np.sign(world[i] - world[j])
                hits += 1.0 if s > 0 else (0.5 if s == 0 else 0.0)
    return hits / n if n else float("nan")
