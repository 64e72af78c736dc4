"""How much `--salience-weight` weighs defend_the_center's demons: on the game's own frames.

Plays `aim` in the game for a few episodes, encodes the frames with a world's autoencoder and
marks the demons' latent cells (4x4-pixel cells holding 2 or more of the strongly red pixels that
`aim` looks for, outside frames red across half the view, the flash of being hit, and outside the
pistol's muzzle). Prints how far those cells lie from the frames' median latent frame against the
rest of the view's middle band, in mean |difference| and in squared difference over channels (what
dynamics.diffusion.salience_weights measures), and what the weights at --strength give them: their
mean against the band's, and their share of all the weight against their share of the cells. The
median here is over these episodes' frames, where training takes it over each batch.
Usage: python scripts/salience_probe.py WORLD [--episodes 2] [--steps 120] [--strength 10]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("world", help="a world (or train-dynamics folder) of vizdoom:defend_the_center")
    p.add_argument("--episodes", type=int, default=2)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--strength", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=7, help="episode e uses game seed 1000*seed+e (default 7: 7000+)")
    args = p.parse_args()
    if args.episodes < 1 or args.steps < 2 or not args.strength > 0:
        p.error("--episodes >= 1, --steps >= 2 and --strength > 0")

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from target_sight import play
    from agents.policies import hit_flash, red_pixels
    from dynamics.diffusion import salience_weights
    from worldmodel import World
    from worldmodel.envs import make_env

    world = World.from_pretrained(args.world, device="cpu")
    game = world.config["env"]["env"]
    env = make_env(game, size=world.resolution[0])
    try:
        frames = np.concatenate([play(env, None, game, "aim", args.seed, e, args.steps)["frames"]
                                 for e in range(args.episodes)])
    finally:
        env.close()
    with torch.no_grad():
        z = world._encode(frames).float()                                       # (n, c, h, w)
    n, _, h, w = z.shape
    f = world.resolution[0] // h                                               # pixels per latent cell
    red = red_pixels(frames)                                                    # aim's strongly red pixels
    cells = red.reshape(n, h, f, w, f).sum((2, 4))                              # (n, h, w)
    hit = np.array([hit_flash(x) for x in frames])
    demon = (cells >= 2) & ~hit[:, None, None]
    demon[:, 3 * h // 4:, 3 * w // 8: 5 * w // 8] = False                       # the pistol and its muzzle flash
    band = np.zeros_like(demon)
    band[:, h // 4: 3 * h // 4] = True                                          # the view's middle band
    rest = band & ~demon
    if not demon.any():
        raise SystemExit("no demon in these frames; play more --episodes or --steps")
    median = z.median(0).values
    for name, d in (("mean |difference|", (z - median).abs().mean(1)), ("squared difference", (z - median).pow(2).mean(1))):
        d = d.numpy()
        print(f"{name} from the median frame: demon cells {d[demon].mean():.3f}, the rest of the band "
              f"{d[rest].mean():.3f} ({d[demon].mean() / d[rest].mean():.1f}x)")
    wt = salience_weights(z[None], args.strength)[0].numpy()                    # consecutive frames as one clip
    print(f"weights at strength {args.strength:g}: demon cells {wt[demon].mean():.1f}, the rest of the band "
          f"{wt[rest].mean():.1f} ({wt[demon].mean() / wt[rest].mean():.1f}x); {wt[demon].sum() / wt.sum():.3f} "
          f"of all the weight on {demon.mean():.4f} of the cells ({demon.sum()} demon cells in {n} frames)")


if __name__ == "__main__":
    main()
