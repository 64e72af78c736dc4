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

import torch

from worldmodel.action import ACTION_DIM
from worldmodel.bench import machine
from worldmodel.train.dynamics import synthetic_step


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
    step = synthetic_step(args.preset, args.latent[0], args.latent[1], ACTION_DIM, batch_size=args.batch_size,
                          optimizer=args.optimizer, device="cpu")
    b = args.batch_size

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
    out = {"preset": args.preset, "batch_size": b, "machine": machine(torch.device("cpu")),
           "ms_per_step": med, "rounds": runs, "fp32_over_bf16": med["fp32"] / med["bf16"]}
    print(f"median: fp32 {med['fp32']:.0f} ms, bf16 {med['bf16']:.0f} ms; fp32/bf16 = {out['fp32_over_bf16']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
