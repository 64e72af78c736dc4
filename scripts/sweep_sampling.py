"""Rollout PSNR / dPSNR of a world for several denoising-step counts and guidance scales, on the
held-out episodes of its recording: how the shipped sampling defaults were chosen.

    python scripts/sweep_sampling.py CHECKPOINT DATA [--steps 1,2,4] [--guidance 1,1.5,2.5]
"""
import argparse

from worldmodel import World
from worldmodel.data import load_episodes, split_episodes
from worldmodel.evaluate import rollout_metrics

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("checkpoint")
p.add_argument("data")
p.add_argument("--steps", default="1,2,3,4,8")
p.add_argument("--guidance", default="1,1.5,2.5")
p.add_argument("--starts", type=int, default=4, help="rollout starts per held-out episode")
p.add_argument("--device", default=None)
a = p.parse_args()
_, eps = load_episodes(a.data)
_, val = split_episodes(len(eps))
print("| steps | guidance | PSNR@1 | PSNR@4 | PSNR@16 | copy@4 | copy@16 | dPSNR@1 | dPSNR@4 | dPSNR@16 |")
print("|---|---|---|---|---|---|---|---|---|---|")
for steps in [int(s) for s in a.steps.split(",")]:
    for g in [float(x) for x in a.guidance.split(",")]:
        w = World.from_pretrained(a.checkpoint, steps=steps, guidance_scale=g, device=a.device)
        m = rollout_metrics(w, [eps[i] for i in val], horizons=(1, 4, 16), per_episode=a.starts)
        print(f"| {steps} | {g} | " + " | ".join(f"{m['psnr'][h]:.2f}" for h in ("1", "4", "16")) + " | "
              + f"{m['psnr_copy_last']['4']:.2f} | {m['psnr_copy_last']['16']:.2f} | "
              + " | ".join(f"{m['dpsnr'][h]:.2f}" for h in ("1", "4", "16")) + " |", flush=True)
