"""Rollout fidelity against real episodes (definitions in docs/ARCHITECTURE.md).

From a real frame, the world is fed the real actions (or random ones) and only ever sees its own
frames; generated frame t is compared with the real frame t. Copy-last repeats the start frame.
"""
from __future__ import annotations

import json
import math
import numpy as np
import torch
from tqdm.auto import tqdm

from dynamics import network_actions

from .action import Action
from .data import Episode, window_index
from .metrics import masked_psnr, mean_psnr, mean_ssim, unusual_mask
from .stability import frame_sharpness


def rollout_starts(episodes: list[Episode], horizon: int, per_episode: int, skip: int = 0) -> list[tuple[int, int]]:
    """(episode, start) pairs, evenly spread from frame `skip` (the game's `settle_frames`: a
    rollout never starts where the game is still settling after its reset), leaving room for
    `horizon` steps."""
    if skip < 0:
        raise ValueError(f"skip must be >= 0, got {skip}")
    pairs = []
    for e, ep in enumerate(episodes):
        last = len(ep) - 1 - horizon
        if last < skip:
            continue
        pairs += [(e, int(s)) for s in np.unique(np.linspace(skip, last, per_episode).round().astype(int))]
    if not pairs:
        raise ValueError(f"no episode is longer than the horizon {horizon} after its first {skip} frames")
    return pairs


def recording_settle_frames(data) -> int:
    """The settle_frames of the game recording `data` was made in (0 if it does not say)."""
    from .data import read_meta
    from .envs import settle_frames
    env = read_meta(data).get("env")
    return settle_frames(env) if env else 0


def run_rollouts(world, episodes: list[Episode], starts: list[tuple[int, int]], hmax: int, seed: int = 0,
                 batch: int = 32, progress: bool = False) -> dict[str, np.ndarray]:
    """Play `hmax` steps from each (episode, start) real frame, with the real and with random actions.

    Returns uint8 arrays: "real" (n, hmax+1, H, W, 3) (frame 0 is the start frame), and the
    generated frames "psnr" (real actions) and "psnr_random_actions", each (n, hmax, H, W, 3);
    and "random_native" (n, hmax), the native ids of the random actions (so the real game can
    be replayed with them: `counterfactual_frames`)."""
    rng = np.random.default_rng(seed)
    action_set = world.action_set
    out = {"real": [], "psnr": [], "psnr_random_actions": [], "random_native": []}
    chunks = [starts[i:i + batch] for i in range(0, len(starts), batch)]
    for chunk in tqdm(chunks, desc="rollouts", disable=not progress):
        real = np.stack([episodes[e].frames[s:s + hmax + 1] for e, s in chunk])        # (b, hmax+1, H, W, 3)
        real_acts = [[Action.from_vector(episodes[e].actions[s + t]) for e, s in chunk] for t in range(1, hmax + 1)]
        native = rng.integers(0, len(action_set), (hmax, len(chunk)))
        rand_acts = [[action_set[i] for i in row] for row in native]
        out["random_native"].append(native.T)
        out["real"].append(real)
        for key, acts in (("psnr", real_acts), ("psnr_random_actions", rand_acts)):
            world.reset(list(real[:, 0]), seed=seed, clock=[s for _, s in chunk])
            out[key].append(np.stack([world.step(a) for a in acts], 1))                 # (b, hmax, H, W, 3)
    return {k: np.concatenate(v) for k, v in out.items()}


def counterfactual_frames(env, episode_seeds: list[int], episodes: list[Episode], starts, native,
                          min_psnr: float = 30.0) -> np.ndarray:
    """The real game's answer to the world's random-action rollouts: for rollout i from (episode,
    start), replay the game from that episode's seed and its recorded actions up to `start`, then
    step with the random native actions native[i] (hmax,) -> frames (n, hmax, H, W, 3).

    The replayed start frame must match the recorded one: exactly, or (ViZDoom's weapon-bob
    smoothing survives a reset and can move the gun sprite for a frame or two after it) within
    `min_psnr` dB; a game that does not replay raises RuntimeError."""
    from .data.episodes import replay
    out = []
    for (e, s), acts in zip(starts, native):
        frame = replay(env, episode_seeds[e], episodes[e].native[1:s + 1])
        if mean_psnr(frame, episodes[e].frames[s]) < min_psnr:
            raise RuntimeError(f"{env.name} did not replay episode {e} to step {s}; "
                               "counterfactual fidelity needs a deterministic game")
        out.append(np.stack([env.step_native(int(a))[0] for a in acts]))
    return np.stack(out)


def turn_test(world, env, episode_seeds: list[int], episodes: list[Episode], starts, steps: int = 8,
              actions=("turn left", "turn right"), seed: int = 0, min_psnr: float = 30.0) -> dict | None:
    """Does turning turn? From real frames (the game replayed to each start), the world and the
    real game each take `steps` steps of actions[0] and, separately, of actions[1]. Reports the
    PSNR of the world's frame after each against the real frame after the same turns ("same")
    and after the opposite turns ("opposite"), and between the world's two frames. A world that
    follows its keys is closer to the same than to the opposite real frame, for both directions.
    None if the game has no actions of those names (env.action_names)."""
    names = list(getattr(env, "action_names", []))
    if not all(a in names for a in actions):
        return None
    ids = [names.index(a) for a in actions]
    # the real branches: the game replayed to each start, then the same turn `steps` times
    real = {a: list(counterfactual_frames(env, episode_seeds, episodes, starts, np.full((len(starts), steps), a),
                                          min_psnr)[:, -1]) for a in ids}
    frames0 = [episodes[e].frames[s] for e, s in starts]
    gen = {}
    for a in ids:
        world.reset(frames0, seed=seed, clock=[s for _, s in starts])
        for _ in range(steps):
            out = world.step([world.action_set[a]] * len(frames0))
        gen[a] = out
    l, r = ids
    res = {"steps": steps, "starts": len(starts),
           "same": {actions[0]: mean_psnr(gen[l], np.stack(real[l])), actions[1]: mean_psnr(gen[r], np.stack(real[r]))},
           "opposite": {actions[0]: mean_psnr(gen[l], np.stack(real[r])), actions[1]: mean_psnr(gen[r], np.stack(real[l]))},
           "world_left_vs_right": mean_psnr(gen[l], gen[r]),
           "real_left_vs_right": mean_psnr(np.stack(real[l]), np.stack(real[r]))}
    # per start: is each of the world's frames closer to its own real branch than to the other?
    per = [(mean_psnr(gen[l][i], real[l][i]) > mean_psnr(gen[l][i], real[r][i])) and
           (mean_psnr(gen[r][i], real[r][i]) > mean_psnr(gen[r][i], real[l][i])) for i in range(len(starts))]
    res["starts_both_closer"] = int(sum(per))
    res["passed"] = bool(all(res["same"][a] > res["opposite"][a] for a in actions))
    return res


def start_frame_turns(world, steps: int = 8, actions=("turn left", "turn right")) -> dict:
    """Issue 16's start-frame turn test, for a world that learned a game from a recording: from
    the world's start.png (the first frame of the recording's first held-out episode, so the real
    game reset with that episode's seed starts there), `steps` steps of each action in the world
    and in the real game. Returns {"start_psnr": world start vs real start, "world_left_vs_right",
    "same": {action: world vs real after the same turns}, "opposite": {action: ... opposite},
    "passed"}."""
    from PIL import Image
    from .data import split_episodes
    from .data.episodes import episode_seed, replay
    from .envs import make_env
    from .world_checkpoint import teacher_dir
    train = world.config.get("train")
    teacher = teacher_dir(world.path, world.config)
    if train is None and teacher is not None:   # a student: the teacher it came from was trained on the split
        train = json.loads((teacher / "config.json").read_text())["train"]
    if train is None:
        raise ValueError(f"{world.path} says nothing of the recording it learned from (no 'train' in its config)")
    start = np.asarray(Image.open(world.path / "start.png").convert("RGB"))
    _, val = split_episodes(train["train_episodes"] * 10 // 9, seed=train["seed"])   # the 90/10 split
    seed = episode_seed(train["seed"], val[0])
    env = make_env(world.config["env"]["env"], size=start.shape[0])
    real, gen = {}, {}
    try:
        res = {"start_psnr": mean_psnr(replay(env, seed, []), start)}
        for turn in actions:
            i = env.action_names.index(turn)
            replay(env, seed, [])
            real[turn] = [env.step_native(i)[0] for _ in range(steps)][-1]
            world.reset(start)
            gen[turn] = [world.step(world.action_set[i]) for _ in range(steps)][-1]
    finally:
        env.close()
    a, b = actions
    res["world_left_vs_right"] = mean_psnr(gen[a], gen[b])
    res["same"] = {a: mean_psnr(gen[a], real[a]), b: mean_psnr(gen[b], real[b])}
    res["opposite"] = {a: mean_psnr(gen[a], real[b]), b: mean_psnr(gen[b], real[a])}
    # the test's rule: the two frames clearly differ, each 0.5 dB closer to its own real frame
    res["passed"] = bool(res["world_left_vs_right"] < 35 and all(res["same"][x] > res["opposite"][x] + 0.5 for x in actions))
    return res


def gradient_energy(frames) -> float:
    """Mean squared difference between vertically plus horizontally neighbouring pixels of
    (..., H, W, 3) frames: how much fine detail they hold (a blur has little)."""
    x = np.asarray(frames, dtype=np.float32).reshape(-1, *np.shape(frames)[-3:])
    return float(frame_sharpness(x).mean())


def _series(rollouts: dict[str, np.ndarray]):
    """(real frames 1..hmax, {series name: the frames it puts in their place}), copy-last included."""
    real = rollouts["real"]
    target = real[:, 1:]
    return target, {"psnr": rollouts["psnr"], "psnr_random_actions": rollouts["psnr_random_actions"],
                    "psnr_copy_last": np.broadcast_to(real[:, :1], target.shape)}


def score_rollouts(rollouts: dict[str, np.ndarray], horizons, with_ssim: bool = False) -> dict:
    """PSNR (of the mean MSE) at each horizon for the world with real / random actions and for
    copy-last (repeat the start frame); dpsnr = real - random; sharpness = gradient energy of the
    world's frames (real actions) / that of the real frames; optionally SSIM of the world; and,
    where `rollouts` holds "real_random" (the real game replayed with the random actions), the
    counterfactual PSNR of the random-action rollout against that real branch; and the PSNR where
    frames stand out from the usual view, of the world and of copy-last over the same pixels, with
    the share of pixels that do (psnr_unusual, psnr_unusual_copy_last, unusual_share;
    _unusual_scores)."""
    real = rollouts["real"]
    target, gens = _series(rollouts)
    out = {key: {str(h): mean_psnr(g[:, h - 1], target[:, h - 1]) for h in horizons} for key, g in gens.items()}
    out["dpsnr"] = {str(h): out["psnr"][str(h)] - out["psnr_random_actions"][str(h)] for h in horizons}
    out["sharpness"] = {str(h): gradient_energy(rollouts["psnr"][:, h - 1]) / max(gradient_energy(target[:, h - 1]), 1e-9)
                        for h in horizons}
    if "real_random" in rollouts:
        cf = rollouts["real_random"]
        out["psnr_counterfactual"] = {str(h): mean_psnr(rollouts["psnr_random_actions"][:, h - 1], cf[:, h - 1])
                                      for h in horizons}
        out["psnr_copy_last_counterfactual"] = {str(h): mean_psnr(real[:, 0], cf[:, h - 1]) for h in horizons}
    out.update(_unusual_scores(rollouts, horizons))
    if with_ssim:
        out["ssim"] = {str(h): mean_ssim(rollouts["psnr"][:, h - 1], target[:, h - 1]) for h in horizons}
        out["ssim_copy_last"] = {str(h): mean_ssim(real[:, 0], target[:, h - 1]) for h in horizons}
    out["rollouts"] = len(real)
    return out


def _unusual_scores(rollouts: dict[str, np.ndarray], horizons) -> dict:
    """PSNR only where a frame stands out from the game's usual view (metrics.unusual_mask against
    the per-pixel median of the rollouts' real frames): where the real frame, the world's frame
    (real actions) or the repeated start frame does, the same pixels for the world and for
    copy-last. Whole-frame PSNR is mostly the arena, which any frame of it matches; a world that
    erases a distant sprite, or draws one where the game has none, loses only here."""
    real = rollouts["real"]
    reference = np.median(real.reshape(-1, *real.shape[-3:]), axis=0)
    base = unusual_mask(real[:, 0], reference)
    out = {"psnr_unusual": {}, "psnr_unusual_copy_last": {}, "unusual_share": {}}
    for h in horizons:
        target, world = real[:, h], rollouts["psnr"][:, h - 1]
        mask = base | unusual_mask(target, reference) | unusual_mask(world, reference)
        out["psnr_unusual"][str(h)] = masked_psnr(world, target, mask)
        out["psnr_unusual_copy_last"][str(h)] = masked_psnr(real[:, 0], target, mask)
        out["unusual_share"][str(h)] = float(mask.mean())
    return out


def psnr_curves(rollouts: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """PSNR at every horizon 1..hmax, for plots."""
    target, gens = _series(rollouts)
    return {k: [mean_psnr(g[:, t], target[:, t]) for t in range(target.shape[1])] for k, g in gens.items()}


def rollout_metrics(world, episodes: list[Episode], horizons=(1, 4, 16), per_episode: int = 4,
                    seed: int = 0, batch: int = 32, progress: bool = False, with_ssim: bool = False,
                    skip: int = 0) -> dict:
    """PSNR at each horizon with real actions, random actions, and of copy-last; dpsnr = real - random.
    skip: the game's settle_frames (rollout_starts)."""
    horizons = sorted(int(h) for h in horizons)
    starts = rollout_starts(episodes, horizons[-1], per_episode, skip)
    rollouts = run_rollouts(world, episodes, starts, horizons[-1], seed, batch, progress)
    return score_rollouts(rollouts, horizons, with_ssim)


@torch.no_grad()
def action_gap(world, episodes: list[Episode], sigmas=(0.3, 1.0, 3.0), clips: int = 256, seed: int = 0) -> dict:
    """Does the world use its actions? One denoising step, not a rollout, so even a faint effect
    shows: on real clips (the newest frame noised to sigma, the past frames at the world's context
    noise level, as `World` feeds them), the error of the denoised newest frame with the clips'
    own actions against the error when every clip gets another clip's actions.

    Returns {sigma: {"mse": with own actions, "mse_shuffled": ..., "gap_pct": 100 * (shuffled / own
    - 1)}}: 0 means the actions change nothing. Rollout dPSNR (`rollout_metrics`) is the
    end-to-end measure; this one tells a world that ignores actions from one that uses them a
    little, which a few dB of rollout noise hide."""
    t = world.denoiser.net.config.context + 1
    lens = [len(ep) for ep in episodes]
    index = window_index(lens, t)
    if len(index) < 2:
        raise ValueError(f"action_gap needs at least 2 windows of {t} frames; record longer episodes")
    rng = np.random.default_rng(seed)
    rows = index[rng.choice(len(index), min(clips, len(index)), replace=False)]
    frames = np.stack([episodes[e].frames[s:s + t] for e, s in rows])                 # (n, t, H, W, 3)
    acts = np.stack([episodes[e].actions[s:s + t] for e, s in rows])
    has = np.stack([episodes[e].has_action[s:s + t] for e, s in rows])
    clock = rows[:, 1:2] + np.arange(t)                                               # (n, t) episode steps
    order = rng.permutation(len(rows))
    perm = np.empty_like(order)
    perm[order] = np.roll(order, 1)               # a cycle through all clips: none keeps its own actions
    return denoising_gap(world, frames, acts, has, acts[perm], has[perm], sigmas, seed, clock=clock)


@torch.no_grad()
def branch_gap(world, episodes: list[Episode], branches, sigmas=(0.3, 1.0, 3.0), clips: int = 256,
               seed: int = 0) -> dict | None:
    """The action gap on real counterfactual pairs (`record --branches`): the past a branch shares
    with its episode, the branch's first frame as the target, denoised with the branch's own action
    against the action the episode really took there (whose outcome was another frame). The
    cleanest one-step test of control: the past is the same, only the action tells the outcomes
    apart. `branches`: [(meta entry, Episode)] whose parents index `episodes`. None if no branch
    has enough past for the world's context."""
    t = world.denoiser.net.config.context + 1
    usable = [(b, ep) for b, ep in branches if b["past"] >= t - 1 and len(ep) > b["past"]]
    if not usable:
        return None
    rng = np.random.default_rng(seed)
    usable = [usable[i] for i in sorted(rng.choice(len(usable), min(clips, len(usable)), replace=False))]
    sl = [slice(b["past"] - t + 1, b["past"] + 1) for b, _ in usable]
    frames = np.stack([ep.frames[s] for (_, ep), s in zip(usable, sl)])
    acts = np.stack([ep.actions[s] for (_, ep), s in zip(usable, sl)])
    has = np.stack([ep.has_action[s] for (_, ep), s in zip(usable, sl)])
    other = acts.copy()
    other[:, -1] = [episodes[b["parent"]].actions[b["at"] + 1] for b, _ in usable]
    # a branch's frame i is its episode's step at - past + 1 + i
    clock = np.stack([b["at"] - b["past"] + 1 + np.arange(s.start, s.stop) for (b, _), s in zip(usable, sl)])
    return denoising_gap(world, frames, acts, has, other, has, sigmas, seed, clock=clock)


@torch.no_grad()
def denoising_gap(world, frames, acts, has, acts_other, has_other, sigmas=(0.3, 1.0, 3.0), seed: int = 0,
                  clock=None) -> dict:
    """frames (n, t, H, W, 3) uint8, actions (n, t, a), has_action (n, t): the MSE of the
    world's denoised newest latent frame (noised to each sigma; past frames at the context noise
    level) with these actions and with `acts_other`; gap_pct = 100 (MSE_other / MSE_own - 1).
    clock (n, t): the frames' episode steps, for a network that reads them (DynamicsConfig.clock)."""
    den = world.denoiser
    n, t = frames.shape[:2]
    dev, dtype = world.device, next(den.parameters()).dtype
    x0 = torch.stack([world._encode(f) for f in frames])                               # (n, t, c, h, w)
    steps = None if clock is None else torch.as_tensor(np.asarray(clock), dtype=torch.float32, device=dev)
    pairs = [(network_actions(den.net.config, torch.from_numpy(np.asarray(a)).float().to(dev), steps),
              torch.from_numpy(np.asarray(m)).to(dev)) for a, m in ((acts, has), (acts_other, has_other))]
    sigma_ctx = max(world.context_noise, den.config.sigma_min)                  # as World feeds past frames
    gen = torch.Generator().manual_seed(seed)
    positions = torch.arange(t, device=dev)
    out = {}
    for s in sigmas:
        sigma = torch.full((n, t), sigma_ctx, device=dev)
        sigma[:, -1] = s
        x = x0 + sigma[..., None, None, None] * torch.randn(x0.shape, generator=gen).to(dev)
        err = {}
        for name, (a, m) in zip(("mse", "mse_shuffled"), pairs):
            with world._autocast():
                d = den(x.to(dtype), sigma.to(dtype), a.to(dtype), m, positions).float()
            err[name] = float((d[:, -1] - x0[:, -1]).pow(2).mean())
        out[f"{s:g}"] = {**err, "gap_pct": 100 * (err["mse_shuffled"] / max(err["mse"], 1e-12) - 1)}
    return out


def training_probe(data, seed: int = 0, device=None, rollouts: int = 32, clips: int = 128):
    """The cheap learning-curve measures of a dynamics run (`train-dynamics --eval-every`), on the
    held-out episodes of recording `data`: the one-step action gap, the same gap on held-out
    counterfactual branches where the recording has them, PSNR@1 against copy-last@1, dPSNR@4 and
    sharpness@4 from `rollouts` short rollouts (one network pass from sigma_max, guidance 1: a 2-step
    Karras schedule's second step, 0.002 -> 0, changes nothing and costs a pass). Returns evaluate(config,
    denoiser) -> dict for train_dynamics."""
    from .data import load_branches, load_episodes, split_episodes
    from .world import World
    _, eps = load_episodes(data)
    _, val = split_episodes(len(eps), seed=seed)
    if not val:
        raise ValueError(f"{data} has a single episode, so none is held out for --eval-every; record more")
    held = [eps[i] for i in val]
    branches = [({**b, "parent": val.index(b["parent"])}, ep) for b, ep in load_branches(data, parents=val)]
    per_episode = max(1, -(-rollouts // len(held)))
    skip = recording_settle_frames(data)

    def evaluate(config, denoiser, ae) -> dict:
        world = World(ae, denoiser, config, device=device, steps=1, guidance_scale=1.0, seed=seed)
        gap = action_gap(world, held, clips=clips, seed=seed)
        r = rollout_metrics(world, held, horizons=(1, 4), per_episode=per_episode, seed=seed, skip=skip)
        out = {"gap_pct": {s: round(v["gap_pct"], 3) for s, v in gap.items()},
               "psnr1": round(r["psnr"]["1"], 3), "copy_last1": round(r["psnr_copy_last"]["1"], 3),
               "psnr4": round(r["psnr"]["4"], 3), "dpsnr4": round(r["dpsnr"]["4"], 3), "rollouts": r["rollouts"],
               "sharpness4": round(r["sharpness"]["4"], 3)}
        bg = branch_gap(world, held, branches, clips=clips, seed=seed) if branches else None
        if bg is not None:
            out["branch_gap_pct"] = {s: round(v["gap_pct"], 3) for s, v in bg.items()}
        return out

    return evaluate


def _match(pred: np.ndarray, true: np.ndarray, tol: int) -> tuple[int, int]:
    """(predicted events with a real one of the same sign within `tol` steps, real events with a
    predicted one of the same sign within `tol` steps) of sign arrays (n, T) in {-1, 0, 1}."""
    hit_p = hit_t = 0
    for p_row, t_row in zip(pred, true):
        for sign in (-1, 1):
            ps, ts = np.flatnonzero(p_row == sign), np.flatnonzero(t_row == sign)
            if len(ps) and len(ts):
                gap = np.abs(ps[:, None] - ts[None, :])                      # (predicted, real)
                hit_p += int((gap.min(1) <= tol).sum())
                hit_t += int((gap.min(0) <= tol).sum())
    return hit_p, hit_t


def _events(world, rewards: np.ndarray) -> np.ndarray:
    """A world's predicted rewards as events -1 / 0 / +1 (its heads' `events`)."""
    heads = getattr(world, "heads", None)
    if heads is None:                                            # a stand-in world of the tests
        return np.sign(np.round(rewards, 3))
    return heads.events(torch.from_numpy(rewards)).numpy()


def _ends(world) -> np.ndarray:
    """A world's episode ends by its heads' threshold rule, whether it samples its ends or not:
    scored like the real latents are (`score_heads`), without a draw's luck."""
    heads = getattr(world, "heads", None)
    if heads is None:                                            # a stand-in world of the tests
        return np.asarray(world.done, bool)
    return np.asarray(world.end_probability) >= heads.end_threshold


def score_heads_generated(world, episodes, ids, steps: int = 8, every: int = 4, tol: int = 1,
                          batch: int = 64, seed: int = 0, progress: bool = False) -> dict:
    """The heads judged on the world's own frames, as agents meet them: from a real frame of a
    held-out episode (every `every` steps), the world plays `steps` steps with the episode's real
    actions, and its heads' rewards and ends (the threshold rule) are compared with the real
    game's at the same steps; the calibrated P(end) summed against the game's ends.
    A predicted event counts as a hit if a real one of the same sign lies within `tol` steps of
    it in that rollout (a generated kill may land a frame early or late), and the other way
    round for recall. A head that fires on real latents but never on generated ones scores
    recall 0 here. Heads that read the latest actions get the recording's actions before each
    start, as a world played from the episode's first frame would have them."""
    starts = [(e, s) for e in ids for s in range(0, len(episodes[e]) - 1, every)]
    heads = getattr(world, "heads", None)
    history = heads.actions_read if heads is not None else 1
    windows = {e: episodes[e].action_windows(history) for e in ids} if history > 1 else None
    pred_r, true_r, pred_d, true_d = [], [], [], []
    got, got_end, true_r_values = 0.0, 0.0, []    # the heads' rewards and P(end) summed; the game's rewards
    chunks = [starts[i:i + batch] for i in range(0, len(starts), batch)]
    for chunk in tqdm(chunks, desc="heads on generated frames", disable=not progress):
        n = min(steps, min(len(episodes[e]) - 1 - s for e, s in chunk))
        past = None if windows is None else np.stack([windows[e][s][1:] for e, s in chunk])   # (b, k-1, a)
        world.reset([episodes[e].frames[s] for e, s in chunk], seed=seed, clock=[s for _, s in chunk],
                    **({} if past is None else {"past_actions": past}))
        rs, ds = [], []
        for t in range(1, n + 1):
            world.step([Action.from_vector(episodes[e].actions[s + t]) for e, s in chunk])
            rs.append(_events(world, np.asarray(world.reward, np.float32)))
            got += float(np.sum(world.reward))
            ds.append(_ends(world))
            got_end += float(np.sum(world.end_probability))
        pred_r.append(np.stack(rs, 1))
        pred_d.append(np.stack(ds, 1))
        true_r_values.append(np.stack([episodes[e].rewards[s + 1:s + n + 1] for e, s in chunk]))
        true_r.append(np.sign(true_r_values[-1]))
        true_d.append(np.stack([episodes[e].dones[s + 1:s + n + 1] for e, s in chunk]))

    def pr(pred: list, true: list) -> dict:
        n_pred = sum(int((p != 0).sum()) for p in pred)
        n_true = sum(int((t != 0).sum()) for t in true)
        hit_p = hit_t = 0
        for p, t in zip(pred, true):
            hp, ht = _match(p.astype(int), t.astype(int), tol)
            hit_p, hit_t = hit_p + hp, hit_t + ht
        return {"precision": hit_p / n_pred if n_pred else None, "recall": hit_t / n_true if n_true else None,
                "predicted": n_pred, "actual": n_true}

    return {"rollouts": len(starts), "steps": steps, "tolerance": tol,
            "reward_nonzero": pr(pred_r, true_r), "episode_end": pr(pred_d, true_d),
            "reward_sum": {"predicted": got, "actual": float(sum(t.sum() for t in true_r_values))},
            "end_sum": {"predicted": got_end, "actual": int(sum(d.sum() for d in true_d))}}


def generated_transitions(world, episodes, ids, steps: int = 8, every: int = 2, batch: int = 64, seed: int = 0,
                          progress: bool = False, max_steps: int | None = None,
                          history: int = 1) -> dict[str, torch.Tensor]:
    """The world's own latent frames as transitions to fit heads on (the `transitions` dict of
    worldmodel.train.heads: z_prev, z, action, reward, done): from a real frame of each chosen
    episode (every `every` steps) the world plays up to `steps` steps with the episode's real
    actions, and each generated step is labelled with the real game's reward and end at that step.

    Why: heads fitted on real latents alone learn cues the world draws differently. In
    defend_the_center they took the world's muzzle flash for a kill, and an agent that held fire
    scored ten times its real return in the world. Labelled with what the game did, the world's
    frames teach the heads which of its drawings mean a kill.

    `max_steps`: at most about this many generated steps, the starts thinned evenly to fit (they
    are all kept in memory: Boxing's 60,000 recorded steps would make 216,000, 7 GB of latents).
    `history` > 1: "action" holds the latest actions (n, k, a) from the recording, as
    `worldmodel.train.heads.transitions` gives them. "clock": each step's episode step."""
    starts = [(e, s) for e in ids for s in range(0, len(episodes[e]) - 1, every)]
    planned = sum(min(steps, len(episodes[e]) - 1 - s) for e, s in starts)
    if max_steps is not None and planned > max_steps:
        starts = starts[::math.ceil(planned / max_steps)]
    starts.sort(key=lambda es: min(steps, len(episodes[es[0]]) - 1 - es[1]))   # rows of a chunk: same length
    zp, z, a, r, d, c = [], [], [], [], [], []
    windows = {e: episodes[e].action_windows(history) for e in ids} if history > 1 else None
    chunks = [starts[i:i + batch] for i in range(0, len(starts), batch)]
    for chunk in tqdm(chunks, desc="heads: world rollouts", disable=not progress):
        n = max(min(steps, len(episodes[e]) - 1 - s) for e, s in chunk)
        world.reset([episodes[e].frames[s] for e, s in chunk], seed=seed, clock=[s for _, s in chunk])
        prev = world.latent.float().cpu()                                   # (b, c, h, w): the real frame
        for t in range(1, n + 1):
            keep = [i for i, (e, s) in enumerate(chunk) if s + t < len(episodes[e])]
            acts = [episodes[e].actions[min(s + t, len(episodes[e]) - 1)] for e, s in chunk]
            world.step([Action.from_vector(v) for v in acts])
            cur = world.latent.float().cpu()
            zp.append(prev[keep])
            z.append(cur[keep])
            rows = [chunk[i] for i in keep]
            a.append(torch.from_numpy(np.stack([episodes[e].actions[s + t] if windows is None else windows[e][s + t]
                                                for e, s in rows])))
            r.append(torch.from_numpy(np.array([episodes[e].rewards[s + t] for e, s in rows], np.float32)))
            d.append(torch.from_numpy(np.array([episodes[e].dones[s + t] for e, s in rows], bool)))
            c.append(torch.tensor([s + t for _, s in rows]))
            prev = cur
    if not z:
        raise ValueError("no episode has two frames or more")
    return {"z_prev": torch.cat(zp), "z": torch.cat(z), "action": torch.cat(a).float(), "reward": torch.cat(r),
            "done": torch.cat(d), "clock": torch.cat(c)}


# What the heads' world rollouts may hold in memory (on top of a copy when they join the real
# steps): 4 GB, about 122,000 steps of 16x16x16 latents; defend_the_center's 109,040 fit.
ROLLOUT_BYTES = 4e9


def heads_rollouts(path, episodes: list[Episode], ids, seed: int = 0, device=None, progress: bool = False,
                   history: int = 1) -> dict:
    """`generated_transitions` of the world saved at `path` (what `train_heads(rollouts=...)` takes)."""
    from .world import World
    # without its heads: the ones being replaced may not even load (a broken or outdated block)
    world = World.from_pretrained(path, device=device, heads=None)
    cfg = world.autoencoder.config
    step_bytes = 2 * 4 * cfg.latent_channels * cfg.latent_size ** 2              # z_prev and z, fp32
    return generated_transitions(world, episodes, ids, seed=seed, progress=progress,
                                 max_steps=int(ROLLOUT_BYTES // step_bytes), history=history)


def heads_on_generated(path, episodes: list[Episode], ids, seed: int = 0, device=None, progress: bool = False) -> dict:
    """`score_heads_generated` for the world saved at `path` (what `train_heads(generated=...)` takes)."""
    from .world import World
    return score_heads_generated(World.from_pretrained(path, device=device), episodes, ids, seed=seed,
                                 progress=progress)
