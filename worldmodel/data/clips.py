"""Random windows of T consecutive (latent) frames with their actions, split into train/validation
by episode, so no validation frame was ever seen in training and no window crosses an episode
boundary."""
from __future__ import annotations

import numpy as np
import torch



def split_episodes(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices of training and validation episodes; at least one of each when n >= 2."""
    if n < 1:
        raise ValueError("no episodes to split")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_fraction))) if n >= 2 else 0
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def held_out_episodes(data, seed: int = 0) -> list:
    """The validation episodes of recording `data`, split as the trainers split it."""
    from .episodes import load_episodes
    _, eps = load_episodes(data)
    _, val = split_episodes(len(eps), seed=seed)
    return [eps[i] for i in val]


def window_index(lengths: list[int], t: int) -> np.ndarray:
    """(M, 2) array of (episode, start) for every window of t frames inside one episode."""
    rows = [(e, s) for e, n in enumerate(lengths) for s in range(n - t + 1)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


class LatentClips:
    """Windows of `clip` consecutive latent frames, with their actions, from the training episodes.
    clock=True: each action vector is followed by its frame's episode clock (steps since the episode
    began; DynamicsConfig.clock), where `starts[e]` is the episode step of sequence e's first frame
    (indexed as `latents` and `episodes`; 0 for an episode, later for a branch that starts
    mid-episode; None: all 0)."""

    def __init__(self, latents: list[torch.Tensor], episodes, ids, clip: int, min_end=None, clock: bool = False,
                 starts=None):
        self.clip, self.clock = clip, clock
        self.starts = [0] * len(ids) if starts is None else [int(starts[i]) for i in ids]
        self.z = [latents[i] for i in ids]
        self.acts = [torch.from_numpy(episodes[i].actions) for i in ids]
        self.has = [torch.from_numpy(episodes[i].has_action) for i in ids]
        index = window_index([len(x) for x in self.z], clip)
        if min_end is not None and len(index):       # windows must end at or after min_end[seq]
            ends = index[:, 1] + clip - 1
            index = index[ends >= np.asarray([min_end[i] for i in ids])[index[:, 0]]]
        self.index = index
        if len(self.index) == 0:
            raise ValueError(f"training episodes are shorter than a clip of {clip} frames; record longer episodes")

    def __len__(self) -> int:
        return len(self.index)

    @property
    def frames(self) -> int:
        return int(sum(len(x) for x in self.z))

    def sample(self, rng: np.random.Generator, batch: int, device):
        """(x0 (b, t, c, h, w), actions (b, t, a) (a + 1 with the clock), has_action (b, t)) of
        `batch` random windows."""
        rows = self.index[rng.integers(0, len(self.index), batch)]
        c = self.clip
        x0 = torch.stack([self.z[e][s:s + c] for e, s in rows]).to(device)
        a = torch.stack([self.acts[e][s:s + c] for e, s in rows]).to(device)
        if self.clock:                                   # the frames' steps since their episode began
            steps = torch.tensor([self.starts[e] + s for e, s in rows], dtype=a.dtype, device=device)
            a = torch.cat([a, (steps[:, None] + torch.arange(c, dtype=a.dtype, device=device))[..., None]], -1)
        m = torch.stack([self.has[e][s:s + c] for e, s in rows]).to(device)
        return x0, a, m
