#!/usr/bin/env python
"""What does an agent do in the real game? For each named agent: the share of each native action
over its episodes, its mean return, and the actions of its first episode's first steps (digits
are native action numbers). Made to see which habits a trained agent picked up in a world, e.g.
the direction it sweeps while firing, against the agents whose play the world's heads learned.

Usage: python scripts/agent_actions.py --env vizdoom:defend_the_center --agents aim,trained:DIR
       [--episodes 4] [--seed 13] [--steps 300] [--show 40]
"""
from __future__ import annotations

import argparse

import numpy as np

from agents.harness import real_returns
from worldmodel.envs import make_env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", required=True, help="the real game, e.g. vizdoom:defend_the_center")
    p.add_argument("--agents", required=True, help="comma-separated agent names, as `worldmodel agents eval` takes")
    p.add_argument("--episodes", type=int, default=4, help="episodes per agent (default 4)")
    p.add_argument("--seed", type=int, default=13, help="episode e plays game seed seed*1000+e (default 13)")
    p.add_argument("--steps", type=int, default=300, help="steps per episode at most (default 300)")
    p.add_argument("--show", type=int, default=40, help="actions of the first episode to print (default 40)")
    p.add_argument("--size", type=int, default=64, help="frame size the agents see (default 64)")
    args = p.parse_args()
    env = make_env(args.env, size=args.size)
    names = list(getattr(env, "action_names", [str(i) for i in range(len(env.action_set))]))
    agents = args.agents.split(",")
    played = []                      # native actions of each episode, agent by agent

    def keep(frames, actions):       # real_returns' hook, called once per episode, agent by agent
        played.append([env.action_set.index(a) for a in actions])
        return 0.0

    try:
        returns, _ = real_returns(env, agents, args.episodes, args.steps, args.seed, progress=False,
                                  read=keep, read_out={})
    finally:
        env.close()
    for i, name in enumerate(agents):                # real_returns plays the agents in the order given
        episodes = played[i * args.episodes:(i + 1) * args.episodes]
        counts = np.bincount([a for ep in episodes for a in ep], minlength=len(env.action_set))
        share = ", ".join(f"{names[j]} {c / counts.sum():.2f}" for j, c in enumerate(counts) if c)
        first = [str(a) for a in episodes[0][:args.show]]
        print(f"{name}: return {np.mean(returns[name]):.2f} an episode; actions: {share}\n"
              f"  first episode: {''.join(first) if len(names) <= 10 else ' '.join(first)}")

if __name__ == "__main__":
    main()
