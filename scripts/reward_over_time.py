#!/usr/bin/env python
"""When in an episode does a world pay an agent, against the real game? For each named agent,
its mean reward per window of steps (default 25), in the real game and in the world from the
same start frames (as `worldmodel agents eval` plays them), and its mean episode length in both.
Made to see whether a world pays at the right time: a world that cannot tell the start of an
episode from its end pays kills all through it, where the game stops paying when the ammunition
is gone.

Usage: python scripts/reward_over_time.py WORLD --agents aim,trained:DIR [--episodes 16]
       [--seed 7] [--steps 300] [--window 25] [--device cpu]
"""
from __future__ import annotations

import argparse

import numpy as np

from agents.harness import real_returns, world_returns
from worldmodel import World
from worldmodel.envs import make_env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("world", help="a world folder with reward/episode-end heads")
    p.add_argument("--agents", required=True, help="comma-separated agent names, as `worldmodel agents eval` takes")
    p.add_argument("--episodes", type=int, default=16, help="episodes per agent (default 16)")
    p.add_argument("--seed", type=int, default=7, help="episode e plays game and world seed seed*1000+e (default 7)")
    p.add_argument("--steps", type=int, default=300, help="steps per episode at most (default 300)")
    p.add_argument("--window", type=int, default=25, help="steps per window (default 25)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = p.parse_args()
    world = World.from_pretrained(args.world, device=args.device)
    env = make_env(world.config["env"]["env"], size=world.resolution[0])
    agents = args.agents.split(",")
    real, fake, real_len, fake_len = {}, {}, {}, {}
    try:
        _, starts = real_returns(env, agents, args.episodes, args.steps, args.seed, progress=False,
                                 lengths=real_len, rewards=real)
    finally:
        env.close()
    world_returns(world, agents, starts, args.steps, args.seed, progress=False, lengths=fake_len, rewards=fake)
    edges = list(range(0, args.steps, args.window))
    print(f"mean reward per episode in each window of {args.window} steps (from step): "
          + " ".join(f"{e:>5d}" for e in edges))
    for name in agents:
        for where, paid, lens in (("game", real, real_len), ("world", fake, fake_len)):
            per_step = np.mean(paid[name], axis=0)                    # (steps,)
            sums = [per_step[e:e + args.window].sum() for e in edges]
            print(f"{name} in the {where}: return {per_step.sum():.2f}, {np.mean(lens[name]):.0f} steps; "
                  + " ".join(f"{x:5.2f}" for x in sums))


if __name__ == "__main__":
    main()
