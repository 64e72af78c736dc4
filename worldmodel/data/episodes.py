"""Recorded episodes on disk.

    DIR/meta.json                  env, size, fps, action vocabulary, policy, one entry per episode
    DIR/ep_00000/frames.mkv        N frames, lossless (FFV1)
    DIR/ep_00000/data.npz          per frame i: actions[i] (ACTION_DIM floats) = the action that led
                                   into frame i, has_action[i] (False for frame 0), native[i] (the
                                   env's action id, -1 for frame 0), rewards[i], dones[i]; in a
                                   game that drops the first action after a reset (ViZDoom), the
                                   loaders also mark frame 1 as no action (mask_dropped_action)
    DIR/br_00000_000/...           counterfactual branches (optional, `record --branches`): the same
                                   files for a short sequence that shares the last `past` frames of
                                   episode 0 up to step `at` and then continues with other actions
                                   (meta.json "branches": name, parent, at, past, action, frames)

Why branches: in recorded play the past rarely tells what the player did next, and nothing in the
data shows the same past followed by two different actions, so a network learns the next frame
from the past alone and averages over the actions (the blur of a world that ignores its keys).
A branch replays the game from the same seed and action prefix (ViZDoom and ALE without sticky
actions are deterministic given both; the recorder checks the replayed frame at the branch point
against the recorded one) and then plays another held action: the same past with several actions
and their real outcomes.

npz files are read with allow_pickle=False, so a recording cannot run code either.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..action import ACTION_DIM, KEYS, action_windows
from ..envs import Env, ignores_first_action
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

    def action_windows(self, k: int) -> np.ndarray:
        """The latest k actions at every frame, oldest first: (n, k, ACTION_DIM), frame i's window
        ending with actions[i] (the one that led to it), zeros before frame 0 (as a World starts
        its heads' window at reset). Actions the game dropped are kept: the world was sent them."""
        return action_windows(self.actions, k)


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


def policy_name(policy) -> str:
    """A policy's name for meta.json: a name of POLICIES, or a closed-loop policy's `.name`."""
    return policy if isinstance(policy, str) else str(getattr(policy, "name", type(policy).__name__))


def play_episode(env: Env, steps: int, policy, rng: np.random.Generator, seed: int,
                 stick: float = 0.8) -> Episode:
    """Run one episode of at most `steps` actions; frame 0 is the reset frame. `policy` is a name
    of POLICIES (actions drawn blind from `rng`) or a closed-loop policy: an object with
    `reset(seed)` and `act(frame) -> native index` that sees each frame before it acts (the
    agents of `agents.policies`), reset with the episode's seed."""
    if isinstance(policy, str):
        actions = policy_actions(rng, len(env.action_set), policy, stick)
        return _play(env, [env.reset(seed)], [-1], [0.0], [False], (a for _, a in zip(range(steps), actions)))
    policy.reset(seed)
    return _play(env, [env.reset(seed)], [-1], [0.0], [False], range(steps), policy=policy)


def _play(env: Env, frames: list, native: list, rewards: list, dones: list, actions, policy=None) -> Episode:
    """Step `actions` (native ids; with a closed-loop `policy`, only their count matters and the
    policy picks each from the newest frame) after the given start of an episode, until they run
    out or the game ends; the Episode of it all."""
    for a in actions:
        if policy is not None:
            a = int(policy.act(frames[-1]))
        frame, r, d = env.step_native(a)
        frames.append(frame)
        native.append(a)
        rewards.append(r)
        dones.append(d)
        if d:
            break
    return _episode(env, frames, native, rewards, dones)


@dataclass(frozen=True)
class BranchConfig:
    """Counterfactual branches per recorded episode: at `points` random steps, `actions` other
    native actions (distinct, not the one the episode took next), each held for `steps` frames;
    each branch stores the `past` frames before it (what the dynamics model conditions on)."""
    points: int = 0
    actions: int = 3
    steps: int = 6
    past: int = 8

    def __post_init__(self):
        if self.points < 0 or self.actions < 1 or self.steps < 1 or self.past < 1:
            raise ValueError(f"branches need points >= 0 and actions, steps, past >= 1, got {self}")


def replay(env: Env, seed: int, native) -> np.ndarray:
    """Reset with `seed` and step the native actions; returns the last frame (the game's state is
    then that of the recorded episode after those actions)."""
    frame = env.reset(seed)
    for a in native:
        frame, _, _ = env.step_native(int(a))
    return frame


def branch_candidates(frames: int, cfg: BranchConfig) -> np.ndarray:
    """The steps of an episode of `frames` frames where a branch may start: room for the past
    before it, a next step in the episode, and none of the first frames after a reset."""
    return np.arange(max(1, cfg.past), frames - 1)


def play_branches(env: Env, ep: Episode, seed: int, cfg: BranchConfig, rng: np.random.Generator,
                  skipped: list | None = None):
    """Counterfactual branches of a recorded episode: [(at, first native action, Episode)]. The
    game is replayed from `seed` through the episode's actions up to step `at`, then steps with
    another held action. A branch point whose replay does not reproduce the recorded frame (tried
    twice) gives no branch, since what follows would not be the episode's counterfactual; its step
    is appended to `skipped` if given, else it raises (a non-deterministic game cannot give
    branches)."""
    n_act = len(env.action_set)
    # Branch points leave room for the past before them and need a next step in the episode. They
    # also skip the first frames after a reset, where ViZDoom's weapon-bob smoothing (a renderer
    # state that survives new_episode) can still differ between a play and its replay.
    candidates = branch_candidates(len(ep), cfg)
    if cfg.points == 0 or not len(candidates):
        return []
    ats = np.sort(rng.choice(candidates, size=min(cfg.points, len(candidates)), replace=False))
    out = []
    for at in ats.tolist():
        others = [a for a in range(n_act) if a != int(ep.native[at + 1])]
        for action in rng.choice(others, size=min(cfg.actions, len(others)), replace=False).tolist():
            # ViZDoom rarely replays a few frames differently after some branches (a state that
            # survives new_episode); a second replay usually matches, else the point is skipped.
            if not any(np.array_equal(replay(env, seed, ep.native[1:at + 1]), ep.frames[at]) for _ in range(2)):
                if skipped is None:
                    raise RuntimeError(f"{env.name} is not deterministic under replay (seed {seed}, step {at}): "
                                       "counterfactual branches need a game that replays exactly")
                skipped.append(at)
                break                                     # no branches from this point
            p0 = max(0, at - cfg.past + 1)
            past = [list(x[p0:at + 1]) for x in (ep.frames, ep.native, ep.rewards, ep.dones)]
            out.append((at, action, _play(env, *past, [action] * cfg.steps)))
    return out


def _episode(env: Env, frames, native, rewards, dones) -> Episode:
    native = np.array(native, dtype=np.int64)
    actions = np.zeros((len(native), ACTION_DIM), np.float32)
    for i, a in enumerate(native):
        if a >= 0:
            actions[i] = env.action_set[a].to_vector()
    return Episode(np.stack(frames), actions, native >= 0, native,
                   np.array(rewards, np.float32), np.array(dones, bool))


def _write_episode(out: Path, name: str, ep: Episode, fps: float) -> None:
    tmp = out / (name + ".tmp")
    tmp.mkdir()
    write_lossless(tmp / "frames.mkv", ep.frames, fps)
    np.savez(tmp / "data.npz", actions=ep.actions, has_action=ep.has_action, native=ep.native,
             rewards=ep.rewards, dones=ep.dones)
    tmp.rename(out / name)  # an episode appears whole or not at all


def record(env: Env, out: str | Path, episodes: int, steps: int, policy="random",
           seed: int = 0, progress: bool = True, branches: BranchConfig | None = None) -> Path:
    """Record `episodes` episodes into `out` (which must be empty or not exist), and optionally
    counterfactual branches of each (their own random stream, so the episodes are the same
    with or without them). `policy`: a name of POLICIES or a closed-loop policy (play_episode)."""
    if episodes < 1 or steps < 1:
        raise ValueError(f"need at least 1 episode and 1 step, got episodes={episodes} steps={steps}")
    if isinstance(policy, str) and policy not in POLICIES:   # before the folder is made
        raise ValueError(f"unknown policy {policy!r}; choose from {POLICIES}")
    branches = branches or BranchConfig()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    branch_rng = np.random.default_rng([seed, 1])
    meta = {"format": FORMAT, **env.meta(), "keys": list(KEYS), "action_dim": ACTION_DIM,
            "policy": policy_name(policy), "seed": seed, "episodes": []}
    if branches.points:
        meta["branch_config"] = asdict(branches)
        meta["branches"] = []
    for i in tqdm(range(episodes), desc=f"recording {env.name}" + (" with branches" if branches.points else ""),
                  disable=not progress):
        ep = play_episode(env, steps, policy, rng, seed=episode_seed(seed, i))
        name = f"ep_{i:05d}"
        _write_episode(out, name, ep, env.fps)
        skipped: list[int] = []
        for j, (at, first, br) in enumerate(play_branches(env, ep, episode_seed(seed, i), branches, branch_rng,
                                                          skipped)):
            bname = f"br_{i:05d}_{j:03d}"
            _write_episode(out, bname, br, env.fps)
            meta["branches"].append({"name": bname, "parent": i, "at": at, "action": first,
                                     "past": int(min(branches.past, at + 1)), "frames": len(br)})
        meta["episodes"].append({"name": name, "frames": len(ep), "return": float(ep.rewards.sum()),
                                 "done": bool(ep.dones[-1]),
                                 # a policy of several players (agents' mix:) says who played this one
                                 **({"player": policy.playing} if hasattr(policy, "playing") else {})})
        if skipped:
            meta.setdefault("skipped_branch_points", []).extend({"parent": i, "at": at} for at in skipped)
            tried = sum(min(branches.points, len(branch_candidates(e["frames"], branches))) for e in meta["episodes"])
            if len(meta["skipped_branch_points"]) > tried / 2:
                raise RuntimeError(f"{env.name} is not deterministic under replay ({len(meta['skipped_branch_points'])} "
                                   f"of {tried} branch points did not replay, the last: seed {episode_seed(seed, i)}, "
                                   f"step {skipped[-1]}): counterfactual branches need a game that replays exactly")
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


def load_branches(root: str | Path, parents=None) -> list[tuple[dict, Episode]]:
    """The counterfactual branches of a recording (none if it was made without), as (entry of
    meta.json "branches", Episode); only those of episodes in `parents` if given."""
    meta = read_meta(root)
    keep = None if parents is None else set(int(p) for p in parents)
    return [(b, mask_dropped_action(load_episode(root, b["name"]), meta.get("env"), first=b["at"] - b["past"] + 1))
            for b in meta.get("branches", []) if keep is None or b["parent"] in keep]


def load_episodes(root: str | Path, progress: bool = False) -> tuple[dict, list[Episode]]:
    """(meta, every episode of the recording), as trained on: see mask_dropped_action."""
    meta = read_meta(root)
    eps = [mask_dropped_action(load_episode(root, e["name"]), meta.get("env"))
           for e in tqdm(meta["episodes"], desc="loading episodes", disable=not progress)]
    if not eps:
        raise ValueError(f"{root} holds no episodes")
    return meta, eps


def mask_dropped_action(ep: Episode, env: str | None, first: int = 0) -> Episode:
    """In a game that drops the action of the first step after a reset (ViZDoom), mark that step
    (episode frame 1) as no action: the file keeps the key that was pressed, but it reached nothing,
    and training on it would teach a world that its start view ignores the keys. `first`: which
    episode frame ep's frame 0 is (a branch starts mid-episode). In place; returns ep."""
    i = 1 - first
    if env and 0 <= i < len(ep) and _ignores_first_action(env):
        ep.has_action[i] = False
    return ep


def _ignores_first_action(spec: str) -> bool:
    try:
        return ignores_first_action(spec)
    except ValueError:                   # a game this version does not know: take the keys as recorded
        return False

