"""Time `World.step` at batch 1 with 1 and 2 torch threads, in the default (contiguous) and the
channels_last memory format, alternating rounds in one process (run it alone on the cores):

    python scripts/play_latency.py doom --rounds 3 --frames 150

Prints p50/p99/mean ms and frames/s per setting over all rounds. It asks whether the shipped
world can reach issue 16's student speed (>= 60 frames/s, p99 <= 25 ms) by settings alone.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from worldmodel.bench import scripted_actions
from worldmodel.world import World


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("world", nargs="?", default="doom")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=150, help="timed steps per round and setting, after 15 warm-up")
    args = ap.parse_args()
    world = World.from_pretrained(args.world, device="cpu")
    actions = scripted_actions(world.action_set, 15 + args.frames, 0)

    def timed() -> np.ndarray:
        world.reset([world.start_image()], seed=0)
        for a in actions[:15]:
            world.step(a)
        out = []
        for a in actions[15:]:
            t0 = time.perf_counter()
            world.step(a)
            out.append(time.perf_counter() - t0)
        return np.array(out) * 1e3

    times: dict[str, list[np.ndarray]] = {}
    for _ in range(args.rounds):
        for threads in (1, 2):
            for fmt in ("contiguous", "channels_last"):
                torch.set_num_threads(threads)
                world.denoiser.to(memory_format=torch.contiguous_format if fmt == "contiguous" else torch.channels_last)
                times.setdefault(f"{threads} thread(s), {fmt}", []).append(timed())
    print(f"{args.world}: World.step at batch 1, {args.rounds} rounds x {args.frames} steps")
    for name, runs in times.items():
        t = np.concatenate(runs)
        print(f"{name:32s} p50 {np.percentile(t, 50):5.1f} ms  p99 {np.percentile(t, 99):5.1f} ms  "
              f"mean {t.mean():5.1f} ms  {1e3 / t.mean():5.1f} frames/s")


if __name__ == "__main__":
    main()
