"""Random windows of T consecutive frames (+ actions), split into train/validation by episode,
so no validation frame was ever seen in training and no window crosses an episode boundary."""
from __future__ import annotations

import numpy as np
import torch

from .episodes import Episode


def split_episodes(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices of training and validation episodes; at least one of each when n >= 2."""
    if n < 1:
        raise ValueError("no episodes to split")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_fraction))) if n >= 2 else 0
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def window_index(lengths: list[int], t: int) -> np.ndarray:
    """(M, 2) array of (episode, start) for every window of t frames inside one episode."""
    rows = [(e, s) for e, n in enumerate(lengths) for s in range(n - t + 1)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


class ClipDataset(torch.utils.data.Dataset):
    """Windows of `clip_len` frames. Item: dict of frames (T,H,W,3) uint8, actions (T,A),
    has_action (T,), rewards (T,), dones (T,), as tensors."""

    def __init__(self, episodes: list[Episode], clip_len: int, split: str = "train",
                 val_fraction: float = 0.1, seed: int = 0):
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be train, val or all, got {split!r}")
        train, val = split_episodes(len(episodes), val_fraction, seed)
        chosen = {"train": train, "val": val, "all": list(range(len(episodes)))}[split]
        self.episodes = [episodes[i] for i in chosen]
        self.episode_ids = chosen
        self.clip_len = clip_len
        self.index = window_index([len(e) for e in self.episodes], clip_len)
        if len(self.index) == 0:
            raise ValueError(f"no {split} window of {clip_len} frames: episodes too short or too few")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        e, s = self.index[i]
        ep, sl = self.episodes[e], slice(s, s + self.clip_len)
        return {"frames": torch.from_numpy(ep.frames[sl]), "actions": torch.from_numpy(ep.actions[sl]),
                "has_action": torch.from_numpy(ep.has_action[sl]),
                "rewards": torch.from_numpy(ep.rewards[sl]), "dones": torch.from_numpy(ep.dones[sl]),
                "episode": torch.tensor(self.episode_ids[e]), "start": torch.tensor(s)}
