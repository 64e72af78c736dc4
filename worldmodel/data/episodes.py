"""Recorded episodes on disk.

    DIR/meta.json                  env, size, fps, action vocabulary, policy, one entry per episode
    DIR/ep_00000/frames.mkv        N frames, lossless (FFV1)
    DIR/ep_00000/data.npz          per frame i: actions[i] (ACTION_DIM floats) = the action that led
                                   into frame i, has_action[i] (False for frame 0), native[i] (the
                                   env's action id, -1 for frame 0), rewards[i], dones[i]

npz files are read with allow_pickle=False, so a recording cannot run code either.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..action import ACTION_DIM, KEYS
from ..envs import Env
from .video import read_video, write_lossless

FORMAT = 1
POLICIES = ("random", "sticky")


@dataclass
class Episode:
    frames: np.ndarray      # (n, h, w, 3) uint8
    actions: np.ndarray     # (n, ACTION_DIM) float32
    has_action: np.ndarray  # (n,) bool
    native: np.ndarray      # (n,) int64
    rewards: np.ndarray     # (n,) float32
    dones: np.ndarray       # (n,) bool

    def __len__(self) -> int:
        return len(self.frames)


def episode_seed(seed: int, i: int) -> int:
    """The game seed of episode i of a recording made with `seed` (disjoint across seeds)."""
    return seed * 100_003 + i


def policy_actions(rng: np.random.Generator, n_actions: int, policy: str = "sticky", stick: float = 0.8):
    """Endless native action indices: "random" draws one each frame; "sticky" keeps the last with
    probability `stick` (moves last ~5 frames, like a person's)."""
    if policy not in POLICIES:  # checked now, not at the first draw
        raise ValueError(f"unknown policy {policy!r}; choose from {POLICIES}")

    def draws():
        a = int(rng.integers(n_actions))
        while True:
            if policy == "random" or rng.random() > stick:
                a = int(rng.integers(n_actions))
            yield a

    return draws()


def play_episode(env: Env, steps: int, policy: str, rng: np.random.Generator, seed: int,
                 stick: float = 0.8) -> Episode:
    """Run one episode of at most `steps` actions; frame 0 is the reset frame."""
    actions = policy_actions(rng, len(env.action_set), policy, stick)
    frames = [env.reset(seed)]
    native, rewards, dones = [-1], [0.0], [False]
    for _, a in zip(range(steps), actions):
        frame, r, d = env.step_native(a)
        frames.append(frame)
        native.append(a)
        rewards.append(r)
        dones.append(d)
        if d:
            break
    native = np.array(native, dtype=np.int64)
    actions = np.zeros((len(native), ACTION_DIM), np.float32)
    for i, a in enumerate(native[1:], start=1):
        actions[i] = env.action_set[a].to_vector()
    return Episode(np.stack(frames), actions, native >= 0, native,
                   np.array(rewards, np.float32), np.array(dones, bool))


def record(env: Env, out: str | Path, episodes: int, steps: int, policy: str = "random",
           seed: int = 0, progress: bool = True) -> Path:
    """Record `episodes` episodes into `out` (which must be empty or not exist)."""
    if episodes < 1 or steps < 1:
        raise ValueError(f"need at least 1 episode and 1 step, got episodes={episodes} steps={steps}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    meta = {"format": FORMAT, **env.meta(), "keys": list(KEYS), "action_dim": ACTION_DIM,
            "policy": policy, "seed": seed, "episodes": []}
    for i in tqdm(range(episodes), desc=f"recording {env.name}", disable=not progress):
        ep = play_episode(env, steps, policy, rng, seed=episode_seed(seed, i))
        name = f"ep_{i:05d}"
        tmp = out / (name + ".tmp")
        tmp.mkdir()
        write_lossless(tmp / "frames.mkv", ep.frames, env.fps)
        np.savez(tmp / "data.npz", actions=ep.actions, has_action=ep.has_action, native=ep.native,
                 rewards=ep.rewards, dones=ep.dones)
        tmp.rename(out / name)  # an episode appears whole or not at all
        meta["episodes"].append({"name": name, "frames": len(ep), "return": float(ep.rewards.sum()),
                                 "done": bool(ep.dones[-1])})
        (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return out


def read_meta(root: str | Path) -> dict:
    root = Path(root)
    path = root / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a recording: no meta.json (make one with `worldmodel record`)")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if meta.get("format") != FORMAT or meta.get("keys") != list(KEYS):
        raise ValueError(f"{root} was recorded with another format or key vocabulary; record it again")
    return meta


def load_episode(root: str | Path, name: str) -> Episode:
    d = Path(root) / name
    frames = read_video(d / "frames.mkv")
    try:
        with np.load(d / "data.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("actions", "has_action", "native", "rewards", "dones")}
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"cannot read {d / 'data.npz'}: {e}") from e
    ep = Episode(frames, **arrays)
    if any(len(x) != len(frames) for x in arrays.values()):
        raise ValueError(f"{d}: {len(frames)} frames but arrays of lengths "
                         f"{ {k: len(v) for k, v in arrays.items()} } (truncated recording?)")
    return ep


def load_episodes(root: str | Path, progress: bool = False) -> tuple[dict, list[Episode]]:
    meta = read_meta(root)
    eps = [load_episode(root, e["name"]) for e in tqdm(meta["episodes"], desc="loading episodes",
                                                        disable=not progress)]
    if not eps:
        raise ValueError(f"{root} holds no episodes")
    return meta, eps

