"""The numbers of issue 16's start-frame turn test (tests/test_world.py) for any world.

    python scripts/turn_test.py checkpoints/doom --guidance 1 2

From the world's start frame, 8 steps turning left and 8 turning right, in the world and in the
real game. The test passes when each of the world's frames is closer (PSNR) to the real frame after
the same turns than to the real frame after the opposite turns, by 0.5 dB, and the world's two
frames are less than 35 dB apart.
"""
from __future__ import annotations

import argparse
import json

from worldmodel.evaluate import start_frame_turns
from worldmodel.world import World


def _rounded(x):
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    return round(x, 2) if isinstance(x, float) else x


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("world", help="a world folder or shipped name")
    p.add_argument("--guidance", type=float, nargs="+", default=[None], help="guidance scales (default: the world's)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the world's)")
    args = p.parse_args()
    for g in args.guidance:
        world = World.from_pretrained(args.world, device="cpu", seed=0, steps=args.steps, guidance_scale=g)
        r = start_frame_turns(world)
        print(json.dumps({"world": args.world, **world.settings(), **_rounded(r)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
