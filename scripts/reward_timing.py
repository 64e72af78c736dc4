#!/usr/bin/env python
"""When does a game pay for a key? From a `worldmodel record` folder: the share of steps with a
positive reward, by how long one native action (default: "fire") has been held at that step
(held 1, 2, ... steps; "released" = the step after letting go; "other" = neither). What
`worldmodel train-heads --action-history K` is for: if the payoff comes a step after the key,
or only every few steps of a held key, heads that read the step's own action cannot tell.

Usage: python scripts/reward_timing.py RECORDING [--action fire] [--max-run 8]
"""
from __future__ import annotations

import argparse

import numpy as np

from worldmodel.data import load_episodes, read_meta


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("recording", help="a `worldmodel record` folder")
    p.add_argument("--action", default="fire", help="native action name (the game's action_names; default fire)")
    p.add_argument("--max-run", type=int, default=8, help="runs this long or longer share a row (default 8)")
    args = p.parse_args()
    from worldmodel.envs import make_env
    env = make_env(read_meta(args.recording)["env"], size=64)
    names = list(getattr(env, "action_names", []))
    env.close()
    if args.action not in names:
        raise SystemExit(f"no action {args.action!r} in this game; it has: {', '.join(names)}")
    key = names.index(args.action)
    _, episodes = load_episodes(args.recording)
    counts: dict[str, list] = {}
    for ep in episodes:
        run = 0
        for t in range(1, len(ep)):
            prev = run
            run = run + 1 if ep.native[t] == key else 0
            row = f"held {min(run, args.max_run)}{'+' if run >= args.max_run else ''}" if run else \
                ("released" if prev else "other")
            c = counts.setdefault(row, [0, 0])
            c[0] += 1
            c[1] += int(ep.rewards[t] > 0)
    order = ["other", "released"] + sorted((k for k in counts if k.startswith("held")), key=lambda k: int(k[5:].rstrip("+")))
    print(f"{args.recording}: {len(episodes)} episodes; steps with a positive reward, by '{args.action}'")
    print(f"{'step':>10} {'steps':>7} {'paid':>6} {'share':>7}")
    for k in order:
        if k in counts:
            n, paid = counts[k]
            print(f"{k:>10} {n:7d} {paid:6d} {paid / n:7.3f}")


if __name__ == "__main__":
    main()
