"""Compare World.step time of two checkouts of this repository on one world, alternating runs.

    git worktree add /tmp/old <commit>
    python scripts/ab_step_time.py /tmp/old . --world checkpoints/doom/teacher --rounds 3

Each round times 200 steps (after 20 warm-up) in a fresh process per checkout, so that two code
versions never share one interpreter; prints each run's median and the ratio of the medians.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import sys, time, json
sys.path.insert(0, sys.argv[1])
import numpy as np
from worldmodel import World
from worldmodel.eval_report import scripted_actions
w = World.from_pretrained(sys.argv[2], device="cpu", steps=int(sys.argv[3]), guidance_scale=1.0)
w.reset(w.start_image())
acts = scripted_actions(w.action_set, 220, 0)
for a in acts[:20]:
    w.step(a)
ts = []
for a in acts[20:]:
    t = time.perf_counter(); w.step(a); ts.append(time.perf_counter() - t)
print(json.dumps(1e3 * float(np.median(ts))))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="root of checkout A (e.g. an older commit's worktree)")
    p.add_argument("b", help="root of checkout B")
    p.add_argument("--world", required=True, help="a world checkpoint folder both versions can load")
    p.add_argument("--steps", type=int, default=1, help="denoising steps (default 1, guidance 1)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    runs = {"a": [], "b": []}
    for _ in range(args.rounds):
        for key in ("a", "b"):
            out = subprocess.run([sys.executable, "-c", CHILD, getattr(args, key), args.world, str(args.steps)],
                                 capture_output=True, text=True, check=True).stdout
            runs[key].append(json.loads(out.strip().splitlines()[-1]))
            print(f"{key}: median {runs[key][-1]:.1f} ms/step", flush=True)
    med = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
    print(f"median of medians: A {med['a']:.1f} ms, B {med['b']:.1f} ms; A/B = {med['a'] / med['b']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
