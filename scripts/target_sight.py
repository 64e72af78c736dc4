"""How often an aiming agent sees a target in a world, against the real game, from the same starts.

`aim` (agents/policies.py) fires only at what it sees: columns of strongly red pixels in the
middle band of the view. If a world draws defend_the_center's demons too faint or loses them, aim
sweeps past an empty arena and earns nothing there however well it plays in the game. This plays
`--agent` for `--steps` steps from the real game's start frames of `--episodes` fresh seeds (the
world's game, seeds 1000 * seed + e as `agents eval`) and prints, per source, the share of frames
where aim would see a target, the share of fire actions, and each episode's return (the world's
from its heads). The sources:

- game: the agent in the real game;
- game through the autoencoder: the game's own frames encoded and decoded by the world's
  autoencoder, which bounds what any dynamics on those latents could show;
- world, the game's actions: the world from the same start, driven by the actions the agent took
  in the game (open loop), so that its frames show the same views as the game's; also the share
  of the game's in-sight frames where the world shows a target too;
- world: the agent playing the world (closed loop), as `agents eval` plays it.

`--bins N` adds the sight share per N steps of the episode, to tell a world that never draws the
demons from one that loses them as it plays on; `--strip PNG` saves the first episode's frames
every 10 steps, game above the open-loop world.
Usage: python scripts/target_sight.py WORLD [--episodes 4] [--steps 120] [--slow] [--bins 20] [--strip out.png]
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
    p.add_argument("--strip", default=None, help="save the first episode's game and open-loop world frames here (PNG)")
    args = p.parse_args()
    if args.bins < 0:
        p.error("--bins must be >= 0")
    if args.episodes < 1 or args.steps < 1:
        p.error("--episodes and --steps must be >= 1")

    from worldmodel import World
    from worldmodel.envs import make_env

    world = World.from_pretrained(args.world, device="cpu", **({"fast": False} if args.slow else {}))
    game = world.config["env"]["env"]
    env = make_env(game, size=world.resolution[0])
    try:
        run(args, world, env, game)
    finally:
        env.close()


def run(args, world, env, game: str) -> None:
    from agents.policies import red_mass

    played = [play_game(env, game, args.agent, args.seed, e, args.steps) for e in range(args.episodes)]
    fire = {i for i, a in enumerate(env.action_set) if "left" in a.buttons}

    def sight(frames):
        return np.array([red_mass(f).max() >= 2 for f in frames])  # aim's own test

    def report(name, episodes, fires=None):
        seen = np.concatenate([sight(ep["frames"]) for ep in episodes])
        line = f"{name}: {len(seen)} steps, target in sight {seen.mean():.2f} of frames"
        if "actions" in episodes[0]:
            line += f", fire {np.mean([i in fire for ep in episodes for i in ep['actions']]):.2f} of actions"
        if "return" in episodes[0]:
            line += f", returns {[ep['return'] for ep in episodes]}"
        print(line)
        if args.bins:
            at = np.concatenate([np.arange(len(ep["frames"])) for ep in episodes]) // args.bins
            print(f"  in sight per {args.bins} steps: " + ", ".join(
                f"{b * args.bins}-{(b + 1) * args.bins - 1}: {seen[at == b].mean():.2f}"
                for b in range(int(at.max()) + 1)))
        return seen

    in_game = report("game", played)
    report("game through the autoencoder", [{"frames": through_autoencoder(world, ep["frames"])} for ep in played])
    replayed = [replay_world(world, ep) for ep in played]
    in_replay = report("world, the game's actions", replayed)
    print(f"  of the game's frames with a target in sight, the world shows one too in "
          f"{in_replay[in_game].mean():.2f}" if in_game.any() else "  the game never had a target in sight")
    report("world", [play_world(world, env, game, args.agent, args.seed, e, args.steps) for e in range(args.episodes)])
    if args.strip:
        save_strip(args.strip, played[0]["frames"], replayed[0]["frames"])
        print(f"wrote {args.strip}")


def play_game(env, game: str, agent_name: str, seed: int, e: int, steps: int) -> dict:
    """The agent in the real game, episode e: its frames (those it acted on), actions, return."""
    from agents.policies import make_agent
    from worldmodel.data.episodes import episode_seed

    s = episode_seed(seed, e)
    agent = make_agent(agent_name, env.action_set, game)
    agent.reset(s)
    frame = env.reset(s)
    frames, actions, total = [], [], 0.0
    for _ in range(steps):
        i = agent.act(frame)
        frames.append(frame)
        actions.append(i)
        frame, reward, done = env.step_native(i)
        total += reward
        if done:
            break
    return {"frames": np.stack(frames), "actions": actions, "return": round(total, 2), "seed": s}


def replay_world(world, ep: dict) -> dict:
    """The world from the game episode's start frame, stepped with the game's actions (open loop)."""
    frames = [world.reset([ep["frames"][0]], seed=[ep["seed"]])[0]]
    for i in ep["actions"][:-1]:
        frames.append(world.step([world.action_set[i]])[0])
    return {"frames": np.stack(frames)}


def play_world(world, env, game: str, agent_name: str, seed: int, e: int, steps: int) -> dict:
    """The agent playing the world (closed loop) from the game's start frame of episode e."""
    from agents.policies import make_agent
    from worldmodel.data.episodes import episode_seed

    s = episode_seed(seed, e)
    agent = make_agent(agent_name, env.action_set, game)
    agent.reset(s)
    frame = world.reset([env.reset(s)], seed=[s])[0]
    frames, actions, total = [], [], 0.0
    for _ in range(steps):
        i = agent.act(frame)
        frames.append(frame)
        actions.append(i)
        frame = world.step([world.action_set[i]])[0]
        total += float(world.reward[0])
        if bool(world.done[0]):
            break
    return {"frames": np.stack(frames), "actions": actions, "return": round(total, 2)}


def through_autoencoder(world, frames: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 frames (n, H, W, 3) -> the same frames encoded and decoded by the world's autoencoder."""
    import torch

    from autoencoder.models import frames_to_tensor, tensor_to_frames

    out = []
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            x = frames_to_tensor(frames[i: i + batch]).to(world.device)
            out.append(tensor_to_frames(world.autoencoder.decode(world.autoencoder.encode(x))).cpu().numpy())
    return np.concatenate(out)


def save_strip(path: str, game: np.ndarray, world: np.ndarray, every: int = 10, scale: int = 3) -> None:
    """Game frames (top row) over the world's (bottom row) at steps 0, every, 2*every, ..."""
    from PIL import Image

    n = min(len(game), len(world))
    idx = list(range(0, n, every))
    rows = [np.concatenate([f[i] for i in idx], axis=1) for f in (game, world)]
    strip = np.concatenate(rows, axis=0)
    h, w = strip.shape[:2]
    Image.fromarray(strip).resize((w * scale, h * scale), Image.NEAREST).save(path, optimize=True)


if __name__ == "__main__":
    main()
