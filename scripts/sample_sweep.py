"""Held-out rollouts of one dynamics run sampled from several starting noise levels (sigma_max)
and step counts, without retraining: PSNR at 1/4/16 frames against copy-last, dPSNR@4 and
sharpness (docs/TRAINING.md, "where sampling starts").

    python scripts/sample_sweep.py RUN DATA 5,20,80 2,4,8 [--past 1]

RUN: a train-dynamics run folder (a world checkpoint); DATA: its recording (the held-out
episodes of seed 0's split are used, 2 rollout starts each). With --first-step it also prints
the latent MSE of the network's first denoising step on 256 held-out clips with --past real past
frames: from x + sigma noise (as trained) and from sigma noise alone (as the sampler starts).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from worldmodel import World
from worldmodel.data import held_out_episodes, window_index
from worldmodel.evaluate import rollout_metrics


def with_sigma_max(run: Path, sigma_max: float, tmp: Path) -> Path:
    """A copy of the world checkpoint `run` that samples from sigma_max."""
    out = tmp / f"smax{sigma_max:g}"
    out.mkdir()
    for f in run.iterdir():
        if f.name in ("config.json", "start.png") or (f.name.startswith("model") and f.suffix == ".safetensors"):
            shutil.copy(f, out / f.name)
    cfg = json.loads((out / "config.json").read_text())
    cfg["diffusion"]["sigma_max"] = sigma_max
    (out / "config.json").write_text(json.dumps(cfg))
    return out


@torch.no_grad()
def first_step(run: Path, held, past: int, sigmas=(5.0, 10.0, 20.0), clips: int = 256):
    world = World.from_pretrained(run, device="cpu")
    den = world.denoiser.float()
    t = past + 1
    idx = window_index([len(e) for e in held], t)
    rows = idx[np.random.default_rng(0).choice(len(idx), min(clips, len(idx)), replace=False)]
    frames = np.stack([held[e].frames[s:s + t] for e, s in rows])
    acts = torch.from_numpy(np.stack([held[e].actions[s:s + t] for e, s in rows])).float()
    has = torch.from_numpy(np.stack([held[e].has_action[s:s + t] for e, s in rows]))
    x0 = torch.stack([world._encode(f) for f in frames]).float()
    g = torch.Generator().manual_seed(0)
    print(f"{past} real past frame(s), {len(x0)} clips: copy-last latent MSE "
          f"{(x0[:, -2] - x0[:, -1]).pow(2).mean():.3f}")
    for s in sigmas:
        sig = torch.full((len(x0), t), max(world.context_noise, den.config.sigma_min))
        sig[:, -1] = s
        x = x0 + sig[..., None, None, None] * torch.randn(x0.shape, generator=g)
        trained = den(x, sig, acts, has, torch.arange(t))[:, -1]
        x[:, -1] = s * torch.randn(x0[:, -1].shape, generator=g)
        sampler = den(x, sig, acts, has, torch.arange(t))[:, -1]
        print(f"  sigma {s:g}: from x + sigma noise {(trained - x0[:, -1]).pow(2).mean():.3f}, "
              f"from sigma noise alone {(sampler - x0[:, -1]).pow(2).mean():.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("data")
    p.add_argument("sigma_max", help="comma-separated starting noise levels, e.g. 5,20,80")
    p.add_argument("steps", help="comma-separated Euler step counts, e.g. 2,4,8")
    p.add_argument("--first-step", action="store_true", help="also the first-step latent MSE table")
    p.add_argument("--past", type=int, default=1, help="real past frames for --first-step (default 1, as in play)")
    args = p.parse_args()
    held = held_out_episodes(args.data, seed=0)
    if args.first_step:
        first_step(args.run, held, args.past)
    with tempfile.TemporaryDirectory() as tmp:
        for smax in (float(v) for v in args.sigma_max.split(",")):
            path = with_sigma_max(args.run, smax, Path(tmp))
            for steps in (int(v) for v in args.steps.split(",")):
                w = World.from_pretrained(path, device="cpu", steps=steps, guidance_scale=1.0, seed=0)
                r = rollout_metrics(w, held, horizons=(1, 4, 16), per_episode=2, seed=0)
                ps, cl, sh = r["psnr"], r["psnr_copy_last"], r["sharpness"]
                print(f"sigma_max {smax:g}, {steps} steps: PSNR@1/4/16 {ps['1']:.2f} / {ps['4']:.2f} / {ps['16']:.2f} "
                      f"(copy-last {cl['1']:.2f} / {cl['4']:.2f} / {cl['16']:.2f}), dPSNR@4 {r['dpsnr']['4']:.3f}, "
                      f"sharpness@1/4/16 {sh['1']:.2f} / {sh['4']:.2f} / {sh['16']:.2f}", flush=True)


if __name__ == "__main__":
    main()
