"""`worldmodel eval`: measure a world against the real game it learned from.

Stages (each with a progress bar): record fresh episodes of the real game with seed S; the
autoencoder's reconstruction PSNR on them; rollouts from real frames with the real actions, with
random actions and the copy-last baseline (PSNR and SSIM at horizons 1, 4, 16, 64); one long play
(900 frames by default, a minute at 15 frames/s) from a real start frame with scripted actions,
judged by the collapse rule in stability.py; for the procedural world, the memory test. Writes
DIR/metrics.json, DIR/report.md with plots and frame strips, and side-by-side videos.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .action import Action
from .data.episodes import episode_seed, mask_dropped_action, play_episode, policy_actions
from .data.video import write_mp4
from .evaluate import (action_gap, counterfactual_frames, psnr_curves, rollout_starts, run_rollouts, score_rollouts,
                       turn_test)
from .metrics import mean_psnr
from .stability import CollapseRule, check_collapse, frame_changes, frame_stats

HORIZONS = (1, 4, 16, 64)
STRIP_TIMES = (0, 1, 2, 4, 8, 16, 32, 64)
MEMORY_STEPS = (4, 8, 16)


def record_episodes(env, episodes: int, steps: int, policy: str, seed: int, progress: bool = True):
    """Fresh episodes of the real game, in memory (game seeds disjoint from the training recording's
    whenever S differs from its seed)."""
    rng = np.random.default_rng(seed)
    return [mask_dropped_action(play_episode(env, steps, policy, rng, seed=episode_seed(seed, i)), env.name)
            for i in tqdm(range(episodes), desc=f"recording {env.name} (seed {seed})", disable=not progress)]


def scripted_actions(action_set: list[Action], n: int, seed: int) -> list[Action]:
    """Sticky-random play, the policy of the recordings: repeat an action ~5 frames, then switch."""
    draws = policy_actions(np.random.default_rng(seed), len(action_set), "sticky")
    return [action_set[a] for _, a in zip(range(n), draws)]


def stability_run(world, start: np.ndarray, frames: int, seed: int, progress: bool = True):
    """Play `frames` frames from a real start frame. Returns (frames incl. start, all latents
    finite, state bytes after each step) - the last shows whether the world's memory is bounded."""
    out, finite, state = [world.reset(start, seed=seed)], True, []
    for a in tqdm(scripted_actions(world.action_set, frames - 1, seed), desc="one-minute play",
                  disable=not progress):
        out.append(world.step(a))
        finite = finite and bool(np.isfinite(world.latent.float().cpu().numpy()).all())
        state.append(world.state_bytes())
    return np.stack(out), finite, state


def memory_test(world, env, seeds: list[int], steps=MEMORY_STEPS, away: str = "right", back: str = "left") -> dict:
    """Walk N steps away and N back; PSNR between the frame before and the frame after, in the
    world and in the real game (which returns to the identical frame)."""
    out = {}
    for n in steps:
        starts, finals_real = [], []
        for s in seeds:
            starts.append(env.reset(seed=s))
            for key in [away] * n + [back] * n:
                frame, _, _ = env.step(Action.press(key))
            finals_real.append(frame)
        world.reset(starts, seed=0)
        for key in [away] * n + [back] * n:
            final_world = world.step(Action.press(key))
        out[str(n)] = {"world": mean_psnr(final_world, np.stack(starts)),
                       "real": mean_psnr(np.stack(finals_real), np.stack(starts))}
    return out


def run_eval(checkpoint, out, env_spec: str | None = None, seed: int = 1, episodes: int = 8,
             steps: int = 200, starts: int = 2, policy: str = "sticky", stability_frames: int = 900,
             device=None, world_settings: dict | None = None, progress: bool = True) -> dict:
    from .metrics import reconstruction_psnr
    from .envs import make_env, settle_frames
    from .world import World
    from .world_checkpoint import resolve_checkpoint
    t0 = time.time()
    timings = {}

    def lap(name):
        timings[name] = round(time.time() - t0 - sum(timings.values()), 2)

    out = Path(out)
    hmax = max(HORIZONS)
    if stability_frames < 2:
        raise ValueError("--stability-frames must be at least 2")
    path = resolve_checkpoint(checkpoint)
    world = World.from_pretrained(path, device=device, seed=seed, **(world_settings or {}))
    trained_on = world.config.get("env", {}).get("env")
    env_spec = env_spec or trained_on
    if not env_spec:
        raise ValueError(f"{path} does not say which game it learned; pass --env")
    skip = settle_frames(env_spec)      # rollouts never start where the game still settles
    if steps < skip + hmax + 1:
        raise ValueError(f"--steps must be at least {skip + hmax + 1} for {env_spec}, so that a rollout of {hmax} "
                         f"frames fits after its first {skip} frames")
    size = world.resolution[0]
    out.mkdir(parents=True, exist_ok=True)

    env = make_env(env_spec, size=size)
    try:
        eps = record_episodes(env, episodes, steps, policy, seed, progress)
        memory = (memory_test(world, env, [episode_seed(seed, 50_000 + i) for i in range(8)])
                  if env_spec == "procedural" else None)
        lap("record_and_memory")
        keep = [i for i, ep in enumerate(eps) if len(ep) > skip + hmax]
        long_enough = [eps[i] for i in keep]
        if not long_enough:
            raise ValueError(f"no recorded episode lasted {skip + hmax + 1} frames; raise --steps or --episodes")

        real_play = np.concatenate([ep.frames for ep in eps])                   # every recorded frame, in order
        recon_psnr = reconstruction_psnr(world.autoencoder, real_play, world.device)
        lap("reconstruction")

        pairs = rollout_starts(long_enough, hmax, starts, skip)
        rollouts = run_rollouts(world, long_enough, pairs, hmax, seed=seed, batch=32, progress=progress)
        # counterfactual fidelity: the real game replayed from the same starts with the same random actions
        try:
            rollouts["real_random"] = counterfactual_frames(env, [episode_seed(seed, i) for i in keep], long_enough,
                                                            pairs, rollouts["random_native"])
        except RuntimeError as e:
            print(f"warning: no counterfactual fidelity: {e}")
        turns = None
        try:       # every episode's first start, then their second ones...: 16 starts spread over episodes
            ranks = [sum(q[0] == p[0] for q in pairs[:i]) for i, p in enumerate(pairs)]
            spread = [p for _, p in sorted(zip(ranks, pairs))][:16]
            turns = turn_test(world, env, [episode_seed(seed, i) for i in keep], long_enough, spread, seed=seed)
        except RuntimeError as e:
            print(f"warning: no turn test: {e}")
    finally:
        env.close()
    scores = score_rollouts(rollouts, HORIZONS, with_ssim=True)
    curves = psnr_curves(rollouts)
    gap = action_gap(world, long_enough, seed=seed)
    lap("rollouts")

    # the long play starts where a player's would: from the frame a reset shows
    long_play, finite, state = stability_run(world, long_enough[0].frames[0], stability_frames, seed, progress)
    stability = check_collapse(long_play, real_play, CollapseRule(), finite=finite)
    # memory bounded: the state stops growing once the context window is full
    half = state[len(state) // 2] if state else 0
    stability.update(state_bytes_half=int(half), state_bytes_end=int(state[-1]) if state else 0,
                     memory_bounded=bool(not state or state[-1] <= half))
    lap("stability")

    metrics = {"checkpoint": str(checkpoint if checkpoint is not None else path.name), "env": env_spec,
               "seed": seed, "episodes": episodes, "resolution": list(world.resolution),
               "recon_psnr": recon_psnr,
               **{k: scores[k] for k in ("psnr", "psnr_copy_last", "psnr_random_actions")},
               "dpsnr": {h: scores["dpsnr"][h] for h in ("4", "16")},
               "sharpness": scores["sharpness"],
               **{k: scores[k] for k in ("psnr_unusual", "psnr_unusual_copy_last", "unusual_share")},
               **{k: scores[k] for k in ("psnr_counterfactual", "psnr_copy_last_counterfactual") if k in scores},
               "action_gap": gap,
               "ssim": scores["ssim"], "ssim_copy_last": scores["ssim_copy_last"],
               "stability": stability, "rollouts": scores["rollouts"], "frames_recorded": int(len(real_play)),
               "policy": policy, "start_skip": int(skip), "sampler": world.settings(), "device": str(world.device),
               "curves": curves}
    if memory is not None:
        metrics["memory"] = memory
    if turns is not None:
        metrics["turn_test"] = turns
    if trained_on and trained_on != env_spec:
        metrics["warning"] = f"world learned {trained_on}, evaluated on {env_spec}"

    _write_media(out, rollouts, curves, long_play, real_play, world.fps, progress)
    lap("media")
    metrics["timings"] = timings
    metrics["seconds"] = time.time() - t0
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "report.md").write_text(format_report(metrics))
    return metrics


# ---------------------------------------------------------------------------------------------
# report: plots, strips, videos


def _write_media(out: Path, rollouts: dict, curves: dict, long_play: np.ndarray, real_play: np.ndarray,
                 fps: float, progress: bool) -> None:
    real, gen, rand = rollouts["real"], rollouts["psnr"], rollouts["psnr_random_actions"]
    n_vid = min(3, len(real))
    for i in tqdm(range(n_vid), desc="videos", disable=not progress):
        # real | world with the real actions | world with random actions
        side = np.concatenate([real[i], np.concatenate([real[i, :1], gen[i]]),
                               np.concatenate([real[i, :1], rand[i]])], axis=2)
        write_mp4(out / f"rollout_{i}.mp4", side, fps, scale=4)
    write_mp4(out / "one_minute.mp4", long_play, fps, scale=4)
    _strip(out / "strips.png", real, gen, rand)
    _plot_curves(out / "psnr_horizon.png", curves)
    _plot_stability(out / "stability.png", long_play, real_play)


def _strip(path: Path, real, gen, rand, rows: int = 3, scale: int = 2) -> None:
    """Rows of (real, world, world with random actions) frames at STRIP_TIMES, for a few rollouts."""
    from PIL import Image
    times = [t for t in STRIP_TIMES if t < real.shape[1]]
    h, w = real.shape[2:4]
    pad = 2
    blocks = []
    for i in range(min(rows, len(real))):
        for series in (real[i], np.concatenate([real[i, :1], gen[i]]), np.concatenate([real[i, :1], rand[i]])):
            row = np.full((h, len(times) * (w + pad), 3), 255, np.uint8)
            for j, t in enumerate(times):
                row[:, j * (w + pad):j * (w + pad) + w] = series[t]
            blocks.append(row)
        blocks.append(np.full((pad * 3, blocks[-1].shape[1], 3), 255, np.uint8))
    img = Image.fromarray(np.concatenate(blocks))
    img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST).save(path)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    return plt


def _plot_curves(path: Path, curves: dict) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    t = np.arange(1, len(curves["psnr"]) + 1)
    for key, label in (("psnr", "world, real actions"), ("psnr_random_actions", "world, random actions"),
                       ("psnr_copy_last", "copy last frame")):
        ax.plot(t, curves[key], label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("horizon (frames)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_stability(path: Path, long_play: np.ndarray, real_play: np.ndarray) -> None:
    plt = _pyplot()
    g_mean, g_std = frame_stats(long_play)
    r_mean, r_std = frame_stats(real_play)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), dpi=110)
    for ax, g, r, name in ((axes[0], g_mean, r_mean, "frame mean"), (axes[1], g_std, r_std, "frame std")):
        ax.axhspan(r.min(), r.max(), color="tab:green", alpha=0.15, label="real range")
        ax.plot(g, lw=0.8, label="world")
        ax.set_title(name)
        ax.set_xlabel("frame")
    axes[0].legend()
    axes[2].plot(frame_changes(long_play), lw=0.8, label="world")
    axes[2].axhline(np.median(frame_changes(real_play)), color="tab:green", label="real median")
    axes[2].set_title("change between frames")
    axes[2].set_xlabel("frame")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_table(m: dict) -> str:
    hs = list(m["psnr"])
    rows = ["| at horizon (frames) | " + " | ".join(hs) + " |", "|---" * (len(hs) + 1) + "|"]
    for key, name in (("psnr", "PSNR, world, real actions"), ("psnr_random_actions", "PSNR, world, random actions"),
                      ("psnr_copy_last", "PSNR, copy last frame"), ("dpsnr", "dPSNR (real - random)"),
                      ("psnr_counterfactual", "counterfactual PSNR (random actions vs the game replayed with them)"),
                      ("psnr_copy_last_counterfactual", "counterfactual PSNR, copy last frame"),
                      ("sharpness", "sharpness (detail of world / real frames)"),
                      ("psnr_unusual", "PSNR where frames stand out from the usual view (the real, world or start frame), world"),
                      ("psnr_unusual_copy_last", "the same pixels, copy last frame (they include the world's own)"),
                      ("unusual_share", "share of pixels in them"),
                      ("ssim", "SSIM, world, real actions"), ("ssim_copy_last", "SSIM, copy last frame")):
        if key in m:
            rows.append(f"| {name} | " + " | ".join("" if m[key].get(h) is None else f"{m[key][h]:.2f}" for h in hs) + " |")
    return "\n".join(rows)


def _action_gap_lines(m: dict) -> list[str]:
    if "action_gap" not in m:  # reports written before this measure existed
        return []
    cells = ", ".join(f"{v['gap_pct']:+.2f}% at sigma {s}" for s, v in m["action_gap"].items())
    return ["One-step action gap (how much worse the world denoises a real next frame when given another "
            f"clip's actions; 0 = it ignores them): {cells}.", ""]


def format_report(m: dict) -> str:
    st = m["stability"]
    lines = [
        f"# Evaluation of `{m['checkpoint']}` against `{m['env']}`", "",
        f"{m['episodes']} fresh episodes of the real game (seed {m['seed']}, {m['policy']} policy, "
        f"{m['frames_recorded']} frames), {m['rollouts']} rollouts from real frames"
        + (f" (none from the first {m['start_skip']} frames after a reset, where the game still settles)"
           if m.get("start_skip") else "") + ", "
        f"at {m['resolution'][0]}x{m['resolution'][1]}; sampler {m['sampler']}; device {m['device']}; "
        f"{m['seconds']:.0f} s.", "",
        "PSNR is that of the mean squared error over all compared frames (frames in [0, 255]); the world "
        "only ever sees its own frames after the start frame. Copy-last repeats the start frame. The "
        "usual view is the per-pixel median of the real frames; a pixel stands out where a colour lies 48 "
        "or more grey levels from it (docs/ARCHITECTURE.md).", "",
        format_table(m), "",
        f"Autoencoder alone (reconstruction PSNR, the ceiling): **{m['recon_psnr']:.2f} dB**.", "",
        *_action_gap_lines(m),
        "![PSNR against horizon](psnr_horizon.png)", "",
        "Frames at t = " + ", ".join(str(t) for t in STRIP_TIMES) + "; per rollout the rows are: real game, "
        "world with the real actions, world with random actions.", "",
        "![real vs generated](strips.png)", "",
        "## One minute of play", "",
        f"{st['frames']} frames from a real start frame with sticky-random actions: finite **{st['finite']}**, "
        f"collapsed **{st['collapsed']}**" + (f" ({'; '.join(st['reasons'])})" if st["reasons"] else "") +
        f"; world state {st['state_bytes_half'] / 1e6:.2f} MB halfway, {st['state_bytes_end'] / 1e6:.2f} MB at the "
        f"end (bounded: **{st['memory_bounded']}**).",
        f"Rule: collapsed if for {st['rule']['window']} consecutive frames the frame mean or std leaves the real "
        f"range widened by {st['rule']['margin_frac']:.0%} + {st['rule']['margin_abs']} (mean range "
        f"{st['mean_range'][0]:.1f}..{st['mean_range'][1]:.1f}, std range {st['std_range'][0]:.1f}.."
        f"{st['std_range'][1]:.1f}), or the change between frames stays under {st['rule']['freeze_frac']:.0%} "
        f"of the real game's median ({st['real_motion']:.2f}); the world's median change is "
        f"{st['generated_motion']:.2f}" + (
            f"; or its detail (gradient energy) stays under {st['rule']['blur_frac']:.0%} of the real frames' "
            f"median ({st['real_sharpness']:.0f}; the world's median is {st['generated_sharpness']:.0f})"
            if "real_sharpness" in st else "") +
        f". Longest run out of range: {st['longest_out_of_range']} frames; "
        f"longest frozen: {st['longest_frozen']} frames" +
        (f"; longest blurred: {st['longest_blurred']} frames" if "longest_blurred" in st else "") + ".", "",
        "![stability](stability.png)", "",
        "Videos: `rollout_*.mp4` (real | world, real actions | world, random actions), `one_minute.mp4`.", "",
    ]
    if "memory" in m:
        lines += ["## Memory: walk N steps away and N back", "",
                  "PSNR between the frame before and the frame after (the real game returns to the identical frame).", "",
                  "| N | world | real game |", "|---|---|---|"]
        lines += [f"| {n} | {v['world']:.2f} | {v['real']:.2f} |" for n, v in m["memory"].items()]
        lines.append("")
    if "turn_test" in m:
        t = m["turn_test"]
        lines += ["## Turning", "",
                  f"From {t['starts']} real frames, {t['steps']} steps turning left and, separately, {t['steps']} steps "
                  "turning right, in the world and in the real game (replayed from the same start). PSNR of the "
                  "world's frame against the real frame after the same turns and after the opposite turns:", "",
                  "| turns | same real branch | opposite real branch |", "|---|---|---|"]
        lines += [f"| {a} | {t['same'][a]:.2f} | {t['opposite'][a]:.2f} |" for a in t["same"]]
        lines += ["", f"World left vs right: {t['world_left_vs_right']:.2f} dB apart (the real game: "
                  f"{t['real_left_vs_right']:.2f} dB). Starts where both of the world's frames are closer to their own "
                  f"real branch: {t['starts_both_closer']} of {t['starts']}. Passed: **{t['passed']}**.", ""]
    if "warning" in m:
        lines += [f"**Warning:** {m['warning']}", ""]
    return "\n".join(lines)


def format_heads(m: dict) -> str:
    """The held-out scores of `train_heads`, in three lines."""
    def pr(d):
        f = lambda x: "n/a" if x is None else f"{x:.2f}"  # noqa: E731
        return f"precision {f(d['precision'])}, recall {f(d['recall'])} ({d['predicted']} predicted, {d['actual']} actual)"
    fit = m.get("fit_on")
    only_end = " (these for the end head only)" if fit and fit.get("world_steps_teach") == "end" else ""
    text = (f"fit on {fit['real_steps']} real steps + {fit['world_steps']} of the world's own{only_end}\n" if fit else "")
    text += (f"held-out: {m['steps']} steps of {m['val_episodes']} episodes\n"
            f"  reward events (right sign): {pr(m['reward_nonzero'])}\n"
            f"  episode end: {pr(m['episode_end'])}\n"
            f"  reward class accuracy {m['reward_class_accuracy']:.3f}, reward MAE {m['reward_mae']:.3f}"
            + _sums(m))
    g = m.get("generated")
    if g:
        text += (f"\non the world's own frames ({g['rollouts']} rollouts of {g['steps']} steps with the real actions, "
                 f"events matched within {g['tolerance']} step):\n"
                 f"  reward events (right sign): {pr(g['reward_nonzero'])}\n"
                 f"  episode end: {pr(g['episode_end'])}" + _sums(g))
    return text


def _sums(m: dict) -> str:
    """The heads' rewards and end probabilities summed against the game's (what returns and
    episode lengths are made of), if measured."""
    s, e = m.get("reward_sum"), m.get("end_sum")
    text = f"\n  rewards summed: {s['predicted']:.1f} predicted, {s['actual']:.1f} actual" if s else ""
    return text + (f"\n  episode ends summed (calibrated P): {e['predicted']:.1f} predicted, {e['actual']} actual"
                   if e else "")


def player_summary(m: dict, colour: bool = False,
                   more: str = "more training (its log.jsonl shows whether it was still improving)") -> list[str]:
    """What a player of the world will feel, from a `run_eval` report, worst news in red: does it
    follow the keys (dPSNR@4, counterfactual fidelity, one-step action gap), does it predict rather
    than repeat (PSNR@1 against copy-last, and only if its next frame is not a blur: sharpness@1
    >= 0.4), is it sharp (sharpness@16), does it last a minute.
    Thresholds: dPSNR@4 >= 1 dB follows the keys, >= 0.3 a little; sharpness >= 0.7 sharp, >= 0.4
    soft (docs/ARCHITECTURE.md defines the measures)."""
    paint = {"good": "\033[32m", "weak": "\033[33m", "bad": "\033[31m"}

    def line(level: str, text: str) -> str:
        mark = {"good": "yes ", "weak": "weak", "bad": "NO  "}[level]
        return f"{paint[level]}{mark}\033[0m {text}" if colour else f"- **{mark.strip()}**: {text}"

    d4 = m["dpsnr"]["4"]
    gap = m.get("action_gap", {}).get("1", {}).get("gap_pct")
    gap_txt = "" if gap is None else f", one-step action gap {gap:+.1f}%"
    cf = m.get("psnr_counterfactual", {}).get("4")
    cf_txt = "" if cf is None else f", counterfactual PSNR@4 {cf:.2f} dB against {m['psnr']['4']:.2f} with the recorded actions"
    keys = "good" if d4 >= 1.0 else "weak" if d4 >= 0.3 else "bad"
    out = [line(keys, {"good": "follows the keys", "weak": "follows the keys only a little",
                       "bad": "ignores its keys: what you press changes little or nothing"}[keys]
                + f" (dPSNR@4 {d4:.2f} dB{cf_txt}{gap_txt})")]
    p1, c1 = m["psnr"]["1"], m["psnr_copy_last"]["1"]
    s1 = m["sharpness"].get("1")
    if p1 < c1:
        out.append(line("bad", "its next frame is further from the game's than simply repeating the last one"
                        f" (PSNR@1 {p1:.2f} dB, copy-last {c1:.2f} dB)"))
    elif s1 is not None and s1 < 0.4:
        # A blur (the mean of every frame the world thinks possible) beats copy-last in PSNR whenever
        # the view moves: measured on doom, the world's blurred next frame scored 1-3 dB above its own
        # sharp motion-compensated one (docs/TRAINING.md, session 6). So PSNR alone is not a prediction.
        out.append(line("weak", f"beats repeating the last frame only as a blur (PSNR@1 {p1:.2f} dB, copy-last "
                        f"{c1:.2f} dB, but the next frame holds {s1:.2f} of the real frames' detail: PSNR rewards "
                        "the average of the frames that could come; look at the strips)"))
    else:
        out.append(line("good", f"predicts the next frame (PSNR@1 {p1:.2f} dB, copy-last {c1:.2f} dB)"))
    sharp = m["sharpness"].get("16", m["sharpness"].get(max(m["sharpness"], key=int)))
    level = "good" if sharp >= 0.7 else "weak" if sharp >= 0.4 else "bad"
    out.append(line(level, {"good": "stays sharp", "weak": "softer than the game",
                            "bad": "dissolves into a blur"}[level] + f" (detail at 16 frames {sharp:.2f} of the real frames')"))
    st = m["stability"]
    lasts = st["finite"] and not st["collapsed"]
    out.append(line("good" if lasts else "bad", (f"lasts {st['frames']} frames of play" if lasts else
                                                 f"does not last {st['frames']} frames (collapsed by the rule)")))
    if keys != "good" or level == "bad" or not lasts:
        out.append(f"  what to try: {more}, or a recording policy that makes the keys matter more")
    return out
