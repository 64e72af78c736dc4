"""What a player sees: a world and its real game side by side, from one image of real play.

    python scripts/turn_strip.py WORLD DATA --out strip.png [--episode 2 --frame 100]
        [--actions "turn left,turn right,move forward"] [--steps 8] [--guidance 1] [--denoise 1]

From frame FRAME of held-out episode EPISODE of the world's recording DATA (the real game replayed
there from the episode's seed and actions), each action is held for --steps steps in the real game
and in the world reset with that one frame. The PNG has two rows per action, real above world, the
start frame first; the console prints, per step, the world's PSNR against the real frame and the
sharpness of the world's frame (gradient energy against the real frame's, 1 = as sharp).
Numbers such as PSNR@1 average over many rollouts and can look good while each frame is a blur;
this shows the frames.
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from worldmodel.data import load_episode, read_meta, split_episodes
from worldmodel.data.episodes import episode_seed, replay
from worldmodel.envs import make_env
from worldmodel.evaluate import gradient_energy
from worldmodel.metrics import mean_psnr
from worldmodel.world import World


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("world", help="a world folder or shipped name")
    p.add_argument("data", help="the world's recording (its held-out episodes give the start)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--episode", type=int, default=2, help="held-out episode (index into the held-out list)")
    p.add_argument("--frame", type=int, default=100, help="start frame within that episode")
    p.add_argument("--actions", default="turn left,turn right", help="comma-separated action names of the game (vizdoom)")
    p.add_argument("--steps", type=int, default=8, help="steps each action is held")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the world's)")
    p.add_argument("--denoise", type=int, default=None, help="denoising steps (default: the world's)")
    p.add_argument("--scale", type=int, default=3, help="pixel zoom of the PNG")
    args = p.parse_args()
    if args.steps < 1 or args.scale < 1:
        raise SystemExit("--steps and --scale must be at least 1")
    wanted = [n.strip() for n in args.actions.split(",") if n.strip()]

    meta = read_meta(args.data)
    _, val = split_episodes(len(meta["episodes"]), seed=0)        # the trainers' split
    if not 0 <= args.episode < len(val):
        raise SystemExit(f"the recording has {len(val)} held-out episodes; --episode {args.episode} is outside them")
    i = val[args.episode]
    ep = load_episode(args.data, meta["episodes"][i]["name"])
    if not 0 <= args.frame < len(ep):
        raise SystemExit(f"episode {i} has {len(ep)} frames; --frame {args.frame} is outside it")
    world = World.from_pretrained(args.world, device="cpu", seed=0, steps=args.denoise, guidance_scale=args.guidance)
    if world.config["env"]["env"] != meta["env"] or world.resolution[0] != ep.frames.shape[1]:
        raise SystemExit(f"the world was trained on {world.config['env']['env']} at {world.resolution[0]} px; "
                         f"the recording is {meta['env']} at {ep.frames.shape[1]} px: give the world's own recording")
    env = make_env(meta["env"], size=ep.frames.shape[1])
    rows = []
    try:
        names = getattr(env, "action_names", None)
        if names is None:
            raise SystemExit(f"{meta['env']} does not name its actions; turn_strip needs a vizdoom recording")
        missing = [n for n in wanted if n not in names]
        if missing:
            raise SystemExit(f"{meta['env']} has no action {', '.join(map(repr, missing))}; it has {', '.join(names)}")
        for name in wanted:
            a = list(names).index(name)
            start = replay(env, episode_seed(meta["seed"], i), ep.native[1:args.frame + 1])
            if not np.array_equal(start, ep.frames[args.frame]):
                print(f"note: the replayed start differs from the recorded frame {args.frame} (ViZDoom's weapon "
                      "bob right after a reset); both rows start from the replayed one")
            real = [env.step_native(a)[0] for _ in range(args.steps)]
            world.reset(start)
            gen = [world.step(world.action_set[a]) for _ in range(args.steps)]
            psnr = [mean_psnr(g, r) for g, r in zip(gen, real)]
            sharp = [gradient_energy(g) / max(gradient_energy(r), 1e-6) for g, r in zip(gen, real)]
            print(f"{name}: PSNR world vs game  " + " ".join(f"{x:5.1f}" for x in psnr))
            print(f"{name}: sharpness           " + " ".join(f"{x:5.2f}" for x in sharp))
            rows += [np.concatenate([start] + real, 1), np.concatenate([start] + gen, 1)]
    finally:
        env.close()
    strip = np.concatenate(rows, 0)
    h, w = strip.shape[:2]
    Image.fromarray(strip).resize((w * args.scale, h * args.scale), Image.NEAREST).save(args.out, optimize=True)
    print(f"wrote {args.out}: per action, the real game above the world, {world.settings()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
