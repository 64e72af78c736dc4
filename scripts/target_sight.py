"""How often an aiming agent sees a target in a world, against the real game, from the same starts.

`aim` (agents/policies.py) fires only at what it sees: columns of strongly red pixels in the
middle band of the view. If a world draws defend_the_center's demons too faint or loses them, aim
sweeps past an empty arena and earns nothing there however well it plays in the game. This plays
`--agent` for `--steps` steps from the real game's start frames of `--episodes` fresh seeds (the
world's game, seeds 1000 * seed + e as `agents eval`) in both, and prints per source: the share of
frames where aim would see a target, the share of fire actions, and each episode's return (the
world's from its heads); `--bins N` adds the sight share per N steps of the episode, to tell a
world that never draws the demons from one that loses them as it plays on.
Usage: python scripts/target_sight.py WORLD [--episodes 4] [--steps 120] [--slow] [--bins 20]
"""
from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("world", help="a world checkpoint with heads (of a ViZDoom game)")
    p.add_argument("--agent", default="aim")
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--seed", type=int, default=7, help="episode e uses game seed 1000*seed+e (default 7: 7000+)")
    p.add_argument("--slow", action="store_true",
                   help="play a distilled world's teacher (its guided many-step sampling) instead of the one-step student")
    p.add_argument("--bins", type=int, default=0,
                   help="also print the sight share per this many steps of the episodes (0: not)")
    args = p.parse_args()
    if args.bins < 0:
        p.error("--bins must be >= 0")

    from agents.policies import make_agent, red_mass
    from worldmodel import World
    from worldmodel.data.episodes import episode_seed
    from worldmodel.envs import make_env

    world = World.from_pretrained(args.world, device="cpu", **({"fast": False} if args.slow else {}))
    game = world.config["env"]["env"]
    env = make_env(game, size=world.resolution[0])
    fire = {i for i, a in enumerate(env.action_set) if "left" in a.buttons}
    game_frames = []
    try:
        for source in ("game", "world"):
            sights, fires, returns, at = [], [], [], []
            for e in range(args.episodes):
                seed = episode_seed(args.seed, e)
                agent = make_agent(args.agent, env.action_set, game)
                agent.reset(seed)
                frame = env.reset(seed)
                if source == "world":
                    frame = world.reset([frame], seed=[seed])[0]
                total = 0.0
                for t in range(args.steps):
                    i = agent.act(frame)
                    at.append(t)
                    if source == "game":
                        game_frames.append(frame)
                    sights.append(red_mass(frame).max() >= 2)          # aim's own test
                    fires.append(i in fire)
                    if source == "game":
                        frame, reward, done = env.step_native(i)
                    else:
                        frame = world.step([world.action_set[i]])[0]
                        reward, done = float(world.reward[0]), bool(world.done[0])
                    total += reward
                    if done:
                        break
                returns.append(round(total, 2))
            print(f"{source}: {len(sights)} steps, target in sight {np.mean(sights):.2f} of frames, "
                  f"fire {np.mean(fires):.2f} of actions, returns {returns}")
            if args.bins:
                bins = np.asarray(at) // args.bins
                sight = np.asarray(sights, dtype=float)
                print(f"  in sight per {args.bins} steps: " + ", ".join(
                    f"{b * args.bins}-{(b + 1) * args.bins - 1}: {sight[bins == b].mean():.2f}"
                    for b in range(int(bins.max()) + 1)))
            if source == "game":
                decoded = through_autoencoder(world, np.stack(game_frames))
                print(f"game through the autoencoder: target in sight "
                      f"{np.mean([red_mass(f).max() >= 2 for f in decoded]):.2f} of the same frames")
    finally:
        env.close()


def through_autoencoder(world, frames: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 frames (n, H, W, 3) -> the same frames encoded and decoded by the world's autoencoder."""
    import torch

    from autoencoder.models import frames_to_tensor, tensor_to_frames

    out = []
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            x = frames_to_tensor(frames[i: i + batch])
            out.append(tensor_to_frames(world.autoencoder.decode(world.autoencoder.encode(x))).numpy())
    return np.concatenate(out)


if __name__ == "__main__":
    main()
