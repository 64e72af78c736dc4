"""Rollout fidelity against real episodes (definitions in docs/ARCHITECTURE.md).

From a real frame, the world is fed the real actions (or random ones) and only ever sees its own
frames; generated frame t is compared with the real frame t. Copy-last repeats the start frame.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from .action import Action
from .data import Episode
from .metrics import mean_psnr


def rollout_starts(episodes: list[Episode], horizon: int, per_episode: int) -> list[tuple[int, int]]:
    """(episode, start) pairs, evenly spread, leaving room for `horizon` steps."""
    pairs = []
    for e, ep in enumerate(episodes):
        last = len(ep) - 1 - horizon
        if last < 0:
            continue
        pairs += [(e, int(s)) for s in np.unique(np.linspace(0, last, per_episode).round().astype(int))]
    if not pairs:
        raise ValueError(f"no episode is longer than the horizon {horizon}")
    return pairs


def rollout_metrics(world, episodes: list[Episode], horizons=(1, 4, 16), per_episode: int = 4,
                    seed: int = 0, batch: int = 32, progress: bool = False) -> dict:
    """PSNR at each horizon with real actions, random actions, and of copy-last; dpsnr = real - random."""
    horizons = sorted(int(h) for h in horizons)
    hmax = horizons[-1]
    starts = rollout_starts(episodes, hmax, per_episode)
    rng = np.random.default_rng(seed)
    action_set = world.action_set
    scores = {"psnr": [], "psnr_random_actions": [], "psnr_copy_last": []}  # lists of (gen, real) pairs
    chunks = [starts[i:i + batch] for i in range(0, len(starts), batch)]
    for chunk in tqdm(chunks, desc="rollouts", disable=not progress):
        real = np.stack([episodes[e].frames[s:s + hmax + 1] for e, s in chunk])        # (b, hmax+1, H, W, 3)
        real_acts = [[Action.from_vector(episodes[e].actions[s + t]) for e, s in chunk] for t in range(1, hmax + 1)]
        rand_acts = [[action_set[i] for i in rng.integers(0, len(action_set), len(chunk))] for _ in range(hmax)]
        for key, acts in (("psnr", real_acts), ("psnr_random_actions", rand_acts)):
            world.reset(list(real[:, 0]), seed=seed)
            gen = np.stack([world.step(a) for a in acts], 1)                             # (b, hmax, H, W, 3)
            scores[key].append((gen, real[:, 1:]))
        scores["psnr_copy_last"].append((np.broadcast_to(real[:, :1], real[:, 1:].shape), real[:, 1:]))
    out = {}
    for key, pairs in scores.items():
        gen = np.concatenate([g for g, _ in pairs])
        real = np.concatenate([r for _, r in pairs])
        out[key] = {str(h): mean_psnr(gen[:, h - 1], real[:, h - 1]) for h in horizons}
    out["dpsnr"] = {str(h): out["psnr"][str(h)] - out["psnr_random_actions"][str(h)] for h in horizons}
    out["rollouts"] = len(starts)
    return out
