"""Time a dynamics training step in fp32 against bf16 autocast, alternating, in one process.

    python scripts/train_step_time.py --preset cpu --batch-size 32 --rounds 3 --steps 20

Random latents of the preset's usual shape (16 channels, 16x16, as the PCA autoencoder gives
64x64 frames), the real loss and optimizer step. Prints each round's median ms/step and the ratio of
the medians; run it alone on the cores.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import torch

from dynamics import PRESETS, Denoiser, DynamicsTransformer
from dynamics.diffusion import diffusion_loss
from worldmodel.train.loop import make_optimizer
from worldmodel.action import ACTION_DIM
from worldmodel.train.common import autocast


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--latent", type=int, nargs=2, default=(16, 16), metavar=("CHANNELS", "SIZE"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="timed steps per round and precision (after 3 warm-up)")
    p.add_argument("--optimizer", default="adamw")
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args()
    tc = PRESETS[args.preset]
    cfg = replace(tc.model, latent_channels=args.latent[0], latent_size=args.latent[1], action_dim=ACTION_DIM)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)                        # the initial weights (nn.Module init draws from it)
    den = Denoiser(DynamicsTransformer(cfg), tc.diffusion)
    opts = make_optimizer(den.net, args.optimizer, tc.lr, tc.weight_decay)
    dev = torch.device("cpu")
    b, t = args.batch_size, cfg.context + 1
    x0 = torch.randn(b, t, cfg.latent_channels, cfg.latent_size, cfg.latent_size, generator=gen)
    acts = torch.rand(b, t, ACTION_DIM, generator=gen)
    has = torch.ones(b, t, dtype=torch.bool)

    def step(bf16: bool):
        with autocast(dev, bf16):
            loss = diffusion_loss(den, x0, acts, has, generator=gen)
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in opts:
            o.step()

    runs = {"fp32": [], "bf16": []}
    for r in range(args.rounds):
        for name in ("fp32", "bf16"):
            for _ in range(3):
                step(name == "bf16")
            ts = []
            for _ in range(args.steps):
                t0 = time.perf_counter()
                step(name == "bf16")
                ts.append(time.perf_counter() - t0)
            runs[name].append(1e3 * statistics.median(ts))
            print(f"round {r}: {name} median {runs[name][-1]:.0f} ms/step", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    out = {"preset": args.preset, "batch_size": b, "threads": torch.get_num_threads(), "torch": torch.__version__,
           "ms_per_step": med, "rounds": runs, "fp32_over_bf16": med["fp32"] / med["bf16"]}
    print(f"median: fp32 {med['fp32']:.0f} ms, bf16 {med['bf16']:.0f} ms; fp32/bf16 = {out['fp32_over_bf16']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
