"""Held-out rollouts of one world under several sampling settings, without retraining: how the
shipped sampling defaults were chosen (docs/TRAINING.md, checkpoints/*/MODEL_CARD.md).

    python scripts/sweep_sampling.py CHECKPOINT DATA [--steps 1,2,4] [--guidance 1,1.5,2.5]
        [--sigma-max 5,20,80] [--sigmas "20,3,0.5,0;20,6,2,0.6,0"] [--warm-start 1,2] [--starts 4]
        [--first-step]

Each row: PSNR at 1/4/16 frames with the real actions against copy-last, dPSNR (real minus
random actions) and sharpness (gradient energy against the real frames', 1 = as sharp) at 1/4/16.
Rollouts start evenly spread over each held-out episode after the game's settle frames (--skip).
--steps use EDM's Karras schedule from --sigma-max (default: the checkpoint's). --sigmas adds
explicit noise-level schedules, each ending at 0: with rho 7 the Karras schedule for 2 steps is
20 -> 0.002 -> 0, whose second step is a no-op, so 2 real steps need a schedule of their own.
--warm-start adds the --steps Karras schedules from each warm start s, sampled from the previous
frame noised to s instead of from pure noise (World's warm_start).
DATA is the world's recording; the held-out episodes of seed 0's split are used.

--first-step also prints the latent MSE of the network's first denoising step on 256 held-out
clips with --past real past frames: from x + sigma noise (as trained) and from sigma noise alone
(as the sampler starts).
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

from dynamics import karras_sigmas, network_actions
from worldmodel import World
from worldmodel.data import held_out_episodes, window_index
from worldmodel.evaluate import recording_settle_frames, rollout_metrics


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


@torch.no_grad()
def first_step(checkpoint, held, past: int, device, sigmas=(5.0, 10.0, 20.0), clips: int = 256) -> None:
    world = World.from_pretrained(checkpoint, device=device)
    den = world.denoiser.float()
    t = past + 1
    idx = window_index([len(e) for e in held], t)
    rows = idx[np.random.default_rng(0).choice(len(idx), min(clips, len(idx)), replace=False)]
    frames = np.stack([held[e].frames[s:s + t] for e, s in rows])                       # (n, t, H, W, 3)
    acts = torch.from_numpy(np.stack([held[e].actions[s:s + t] for e, s in rows])).float()
    acts = network_actions(den.net.config, acts, torch.from_numpy(rows[:, 1:2] + np.arange(t)))   # + clock, if read
    has = torch.from_numpy(np.stack([held[e].has_action[s:s + t] for e, s in rows]))
    x0 = torch.stack([world._encode(f) for f in frames]).float()                        # (n, t, c, h, w)
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
    p.add_argument("checkpoint", help="a world checkpoint (a shipped name or a run folder)")
    p.add_argument("data", help="the world's recording")
    p.add_argument("--steps", default="1,2,3,4,8", help="Karras step counts, comma-separated ('' for none)")
    p.add_argument("--guidance", default="1,1.5,2.5", help="guidance scales, comma-separated")
    p.add_argument("--sigma-max", default="", help="starting noise levels of the Karras schedules (default: the checkpoint's)")
    p.add_argument("--sigmas", default="", help="explicit schedules, ';'-separated, each comma-separated and ending at 0")
    p.add_argument("--warm-start", default="", help="warm starts, comma-separated: Karras schedules from each, sampled "
                   "from the previous frame noised to it")
    p.add_argument("--starts", type=int, default=4, help="rollout starts per held-out episode")
    p.add_argument("--first-step", action="store_true", help="also the first-step latent MSE table")
    p.add_argument("--past", type=int, default=1, help="real past frames for --first-step (default 1, as in play)")
    p.add_argument("--skip", type=int, default=None,
                   help="first frames of each episode no rollout starts from (default: the game's settle_frames, "
                        "8 for ViZDoom; 0 gives the starts used before 2026-12-02, half of them at frame 0)")
    p.add_argument("--device", default=None)
    a = p.parse_args()
    held = held_out_episodes(a.data, seed=0)
    # rollouts never start where the game still settles after a reset, unless --skip says otherwise
    skip = recording_settle_frames(a.data) if a.skip is None else a.skip
    if a.first_step:
        first_step(a.checkpoint, held, a.past, a.device)

    base = World.from_pretrained(a.checkpoint, device=a.device).denoiser.config
    schedules = []                                                       # (label, noise levels, warm start)
    for smax in floats(a.sigma_max) or [base.sigma_max]:
        cfg = dataclasses.replace(base, sigma_max=smax)
        schedules += [(f"{n} Karras from {smax:g}", karras_sigmas(n, cfg), 0.0) for n in (int(v) for v in floats(a.steps))]
    for warm in floats(a.warm_start):
        schedules += [(f"{n} Karras, warm start {warm:g}", karras_sigmas(n, base, warm), warm)
                      for n in (int(v) for v in floats(a.steps))]
    for text in filter(None, (s.strip() for s in a.sigmas.split(";"))):
        sig = floats(text)
        if len(sig) < 2 or sig[-1] != 0 or any(x <= y for x, y in zip(sig, sig[1:])):
            p.error(f"--sigmas {text!r}: a schedule falls strictly and ends at 0")
        schedules.append((" > ".join(f"{s:g}" for s in sig), sig, 0.0))

    print("| schedule | guidance | PSNR@1 / 4 / 16 | copy-last@1 / 4 / 16 | dPSNR@1 / 4 / 16 | sharpness@1 / 4 / 16 |")
    print("|---|---|---|---|---|---|")
    for label, sig, warm in schedules:
        for g in floats(a.guidance):
            w = World.from_pretrained(a.checkpoint, steps=len(sig) - 1, guidance_scale=g, device=a.device, seed=0,
                                      warm_start=warm)
            w.sigmas = sig
            m = rollout_metrics(w, held, horizons=(1, 4, 16), per_episode=a.starts, seed=0, skip=skip)
            row = [" / ".join(f"{m[k][h]:.2f}" for h in ("1", "4", "16"))
                   for k in ("psnr", "psnr_copy_last", "dpsnr", "sharpness")]
            print(f"| {label} | {g:g} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
