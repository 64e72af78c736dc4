"""`worldmodel bench`: how fast `World.step` runs, and what quality comes with that speed.

For a distilled student, the student (fast path) and its guided teacher (slow path) are measured in
the same run: frames/s and per-step latency (p50, p99) after a warm-up, decoding to pixels
included, then PSNR@16 and dPSNR@4 of each on the same freshly recorded held-out episodes
(definitions in docs/ARCHITECTURE.md). Timings on a shared machine are noisy: compare paths by the
ratio measured in one run.
"""
from __future__ import annotations

import os
import platform
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from .eval_report import record_episodes, scripted_actions
from .evaluate import rollout_starts, run_rollouts, score_rollouts
from .world import World
from .world_checkpoint import resolve_checkpoint, teacher_dir
from .checkpoint import load_config


def machine(device: torch.device) -> dict:
    """What the numbers were measured on."""
    out = {"platform": platform.platform(), "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
           "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def time_world(world: World, batch: int = 1, frames: int = 200, warmup: int = 20, seed: int = 0,
               progress: bool = False) -> dict:
    """Frames/s and per-step latency of `world.step` for `batch` worlds at once (pixels included)."""
    start = world.start_image()
    if start is None:
        start = np.zeros((*world.resolution, 3), np.uint8)
    world.reset([start] * batch, seed=seed)
    actions = scripted_actions(world.action_set, warmup + frames, seed)
    for a in actions[:warmup]:
        world.step(a)
    times = []
    for a in tqdm(actions[warmup:], desc="timing", disable=not progress):
        t0 = time.perf_counter()
        world.step(a)                      # returns uint8 pixels on the host: the device is synchronised
        times.append(time.perf_counter() - t0)
    t = np.array(times)
    return {"batch": batch, "frames": frames, "frames_per_s": batch * len(t) / t.sum(),
            "latency_ms": {"p50": 1e3 * float(np.percentile(t, 50)), "p99": 1e3 * float(np.percentile(t, 99)),
                           "mean": 1e3 * float(t.mean())}}


def quality(world: World, episodes, starts, seed: int) -> dict:
    """PSNR@4/@16 with real and random actions on the given rollout starts."""
    rollouts = run_rollouts(world, episodes, starts, 16, seed=seed)
    s = score_rollouts(rollouts, (4, 16))
    return {"psnr": s["psnr"], "psnr_random_actions": s["psnr_random_actions"], "dpsnr": s["dpsnr"],
            "psnr_copy_last": s["psnr_copy_last"], "rollouts": s["rollouts"]}


def run_bench(checkpoint=None, device=None, batch: int = 1, frames: int = 200, warmup: int = 20,
              episodes: int = 4, episode_steps: int = 100, starts: int = 4, seed: int = 1,
              with_quality: bool = True, progress: bool = True) -> dict:
    """Benchmark a world (both paths of a distilled student). Returns a JSON-ready dict."""
    from .envs import make_env
    path = resolve_checkpoint(checkpoint)
    config = load_config(path)
    paths = [("student", True), ("teacher", False)] if teacher_dir(path, config) else [("world", None)]
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    result = {"checkpoint": str(checkpoint or path.name), "device": str(dev), "machine": machine(dev),
              "batch": batch, "frames": frames, "warmup": warmup, "paths": {}}
    eps = rollout_pairs = None
    if with_quality:
        env_cfg = config.get("env", {})
        env = make_env(env_cfg["env"], size=int(env_cfg.get("size", 64)))
        try:
            eps = record_episodes(env, episodes, episode_steps, "sticky", seed, progress=progress)
            skip = env.settle_frames
        finally:
            env.close()
        rollout_pairs = rollout_starts(eps, 16, starts, skip)
    for name, fast in paths:
        world = World.from_pretrained(path, device=dev, **({} if fast is None else {"fast": fast}))
        row = {"settings": world.settings(), **time_world(world, batch, frames, warmup, seed, progress)}
        if with_quality:
            row["quality"] = quality(world, eps, rollout_pairs, seed)
        result["paths"][name] = row
    if "student" in result["paths"]:
        s, t = result["paths"]["student"], result["paths"]["teacher"]
        result["speedup"] = s["frames_per_s"] / t["frames_per_s"]
        if with_quality:
            result["psnr16_drop"] = t["quality"]["psnr"]["16"] - s["quality"]["psnr"]["16"]
            td = t["quality"]["dpsnr"]["4"]
            result["dpsnr4_ratio"] = s["quality"]["dpsnr"]["4"] / td if abs(td) > 1e-9 else None
    return result


def format_bench(r: dict) -> str:
    lines = [f"{r['checkpoint']} on {r['device']} ({r['machine'].get('gpu') or r['machine']['cpu']}, "
             f"{r['machine']['torch_threads']} threads), batch {r['batch']}, {r['frames']} steps after {r['warmup']} warm-up",
             "| path | steps | guidance | frames/s | p50 ms | p99 ms | PSNR@16 | copy-last@16 | dPSNR@4 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, p in r["paths"].items():
        q = p.get("quality")
        qual = (f"{q['psnr']['16']:.2f} | {q['psnr_copy_last']['16']:.2f} | {q['dpsnr']['4']:.2f}" if q else "- | - | -")
        lines.append(f"| {name} | {p['settings']['steps']} | {p['settings']['guidance_scale']:g} | {p['frames_per_s']:.1f} | "
                     f"{p['latency_ms']['p50']:.1f} | {p['latency_ms']['p99']:.1f} | {qual} |")
    if "speedup" in r:
        extra = f"student / teacher frames/s: {r['speedup']:.2f}x"
        if "psnr16_drop" in r:
            ratio = r.get("dpsnr4_ratio")
            extra += (f"; PSNR@16 drop {r['psnr16_drop']:.2f} dB; dPSNR@4 ratio "
                      f"{'n/a (teacher dPSNR@4 is 0)' if ratio is None else f'{ratio:.2f}'}")
        lines.append(extra)
    return "\n".join(lines)
