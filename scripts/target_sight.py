"""How often an aiming agent sees a target in a world, against the real game, from the same starts.

`aim` (agents/policies.py) fires only at what it sees: columns of strongly red pixels in the
middle band of the view. If a world draws defend_the_center's demons too faint or loses them, aim
sweeps past an empty arena and earns nothing there however well it plays in the game. This plays
`--agent` for `--steps` steps from the real game's start frames of `--episodes` fresh seeds (seeds
1000 * seed + e, as `agents eval` draws them) and prints per source:

- aim's test: the share of frames where aim sees a target (what aim acts on);
- demons: the same test on the frames that show no flash, i.e. neither within 3 steps after a
  fire action (the pistol's muzzle flash is red too, and shows a step or two after the shot) nor
  red across half the view or more (the flash of being hit); this share is about the demons;
- the share of fire actions and each episode's return (the world's from its heads);
- for sources drawn from the game's frames, frame by frame: of the game's frames with a demon
  in sight, the share where the source shows one too, and of the source's, the share where the
  game does (a demon drawn where there is none misleads aim as much as one lost); each beside
  its chance level, the share a source whose demons had nothing to do with the game's would
  score (its own demon rate, and the game's). The test is per frame, not per place.

The sources: the agent in the game; the game's frames passed through the world's autoencoder
(encoded and decoded), which bounds what any dynamics on those latents could show; the world one
step from each of the game's frames (reset there, stepped with the game's action: what a single
prediction keeps, from a past of one frame, before any error can pile up); the world
driven by the game's own actions from the same start frame (open loop: as far as the world
follows the turns it shows the same views, though where the demons walk in is the game's draw,
which no world can know), with the share of the game's demon frames where it shows a demon too;
and the agent playing the world (closed loop), as `agents eval` plays it. Step 0 is not scored:
the world's first frame is the game's own. Last, the one-step frames' PSNR against the game's
next frames, beside repeating the last frame and the game's frames shuffled (context_psnr).

`--sigmas S [S ...]` also runs the network once per noise level S from each of the game's frames
(k >= the network's context W) noised to S, with the game's W frames before it as the past (at the
context noise, as play feeds them), and decodes its estimate of the clean frame: the noise level
where the network stops keeping the demons that its past shows; beside it, the game's previous
frame through the autoencoder (repeating the last frame keeps the demons that stood still).

`--pca C [C ...] --recording DIR` also passes the game's frames through patch PCAs of C channels
fitted on the world's recording (every 4th frame of every 3rd episode), to see what a finer
latent would keep. `--bins N` adds the demons' share per N steps of the episode, to tell a world that never draws
them from one that loses them as it plays on; `--strip PNG` saves the first episode's frames every
10 steps, the game above the open-loop world.
Usage: python scripts/target_sight.py WORLD [--episodes 4] [--steps 120] [--slow] [--bins 20] [--strip out.png]
"""
from __future__ import annotations

import argparse

import numpy as np

FLASH_STEPS = 3  # frames this many steps after a fire action or fewer may show the muzzle flash


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("world", help="a world checkpoint of a ViZDoom game (without heads its returns read 0)")
    p.add_argument("--agent", default="aim")
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--seed", type=int, default=7, help="episode e uses game seed 1000*seed+e (default 7: 7000+)")
    p.add_argument("--slow", action="store_true",
                   help="play a distilled world's teacher (its guided many-step sampling) instead of the one-step student")
    p.add_argument("--sample-steps", type=int, default=None,
                   help="sample the world in this many denoising steps instead of its own setting")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale instead of the world's own setting")
    p.add_argument("--warm-start", type=float, default=None, metavar="SIGMA",
                   help="sample from the previous frame noised to SIGMA instead of pure noise (World's warm_start)")
    p.add_argument("--context-noise", type=float, default=None,
                   help="noise level of the past frames at play instead of the world's own setting")
    p.add_argument("--bins", type=int, default=0,
                   help="also print the demons' share per this many steps of the episodes (0: not)")
    p.add_argument("--pca", type=int, nargs="+", default=None, metavar="C",
                   help="also pass the game's frames through patch PCAs of C channels fitted on --recording")
    p.add_argument("--recording", default=None,
                   help="the world's recording (OUT/work/data of `worldmodel train`), for --pca")
    p.add_argument("--sigmas", type=float, nargs="+", default=None, metavar="S",
                   help="also: one network pass from the game's next frame noised to each S, the game's frames as the "
                        "past (the world's network: for a distilled world add --slow to probe its teacher, since "
                        "the one-step student only learned the top noise level)")
    p.add_argument("--one-step-only", action="store_true",
                   help="of the world's sources, only the one-step one (fast, even with --slow)")
    p.add_argument("--strip", default=None, help="save the first episode's game and open-loop world frames here (PNG)")
    args = p.parse_args()
    if args.bins < 0:
        p.error("--bins must be >= 0")
    if args.episodes < 1 or args.steps < 2:
        p.error("--episodes must be >= 1 and --steps >= 2")
    if args.one_step_only and args.strip:
        p.error("--strip shows the open-loop world, which --one-step-only skips")
    if args.sigmas is not None and not all(s > 0 for s in args.sigmas):
        p.error("--sigmas must be > 0")
    if (args.pca is None) != (args.recording is None):
        p.error("--pca and --recording go together")
    from worldmodel.pipeline import PCA_MAX_WIDTH
    if args.pca is not None and not all(1 <= c <= PCA_MAX_WIDTH for c in args.pca):
        p.error(f"--pca channels must be in 1..{PCA_MAX_WIDTH} (a 4x4 patch of 3 colours holds {PCA_MAX_WIDTH} values)")

    from worldmodel import World
    from worldmodel.envs import make_env

    settings = {"fast": False} if args.slow else {}
    if args.context_noise is not None:
        settings["context_noise"] = args.context_noise
    world = World.from_pretrained(args.world, device="cpu", **settings)
    if args.sample_steps is not None or args.guidance is not None or args.warm_start is not None:
        world.set_sampling(steps=args.sample_steps, guidance_scale=args.guidance, warm_start=args.warm_start)
    print(f"sampling: {world.settings()}")
    game = world.config["env"]["env"]
    env = make_env(game, size=world.resolution[0])
    try:
        run(args, world, env, game)
    finally:
        env.close()


def run(args, world, env, game: str) -> None:
    fire = {i for i, a in enumerate(env.action_set) if "left" in a.buttons}
    played = [play(env, None, game, args.agent, args.seed, e, args.steps) for e in range(args.episodes)]
    decoded = [dict(ep, frames=through_autoencoder(world, ep["frames"])) for ep in played]
    one_step = [one_step_world(world, ep) for ep in played]
    replayed, closed = [], []
    if not args.one_step_only:
        replayed = [replay_world(world, ep) for ep in played]
        closed = [play(env, world, game, args.agent, args.seed, e, args.steps) for e in range(args.episodes)]
    refitted = []
    for c in args.pca or []:
        ae = fit_pca(args.recording, c, world.resolution[0])
        refitted.append((f"game through a {c}-channel patch PCA", [dict(ep, frames=through_autoencoder(ae, ep["frames"]))
                                                                 for ep in played]))

    # (name, episodes, first scored step): the network passes need the game's W frames before them
    w = world.denoiser.net.config.context
    passes = []
    if args.sigmas:
        passes.append(("the game's previous frame through the autoencoder",
                       [dict(ep, frames=np.concatenate([ep["frames"][:1], d["frames"][:-1]])) for ep, d in zip(played, decoded)], w))
        passes += [(f"one network pass from the game's frame at noise {sigma:g}, the game's {w} frames before it as past",
                    [denoised_from_game(world, ep, sigma) for ep in played], w) for sigma in args.sigmas]
    sources = [("game", played, 1), ("game through the autoencoder", decoded, 1),
               *((name, eps, 1) for name, eps in refitted), *passes,
               ("world, one step from each game frame", one_step, 1),
               ("world, the game's actions", replayed, 1), ("world", closed, 1)]

    game_sight = sights(played, fire)
    for name, episodes, first in sources:
        if not episodes:  # skipped (--one-step-only)
            continue
        mine = game_sight if episodes is played else sights(episodes, fire, first)
        game_ = game_sight if first == 1 else sights(played, fire, first)       # the game's same frames
        line = (f"{name}: {len(mine['aim'])} steps scored, aim's test {mine['aim'].mean():.2f} of frames, "
                f"demons {mine['aim'][mine['clear']].mean():.2f} of the {mine['clear'].sum()} without a flash")
        if episodes is closed or episodes is played:  # the agent chose these actions itself
            line += (f", fire {np.mean([i in fire for ep in episodes for i in ep['actions']]):.2f} of actions, "
                     f"returns {[ep['return'] for ep in episodes]}")
        print(line)
        if episodes is not played and episodes is not closed:  # frame by frame against the game's same frames
            # beside each share, what it would be if this source's demons had nothing to do with the
            # game's: its own demon rate, and the game's (on the frames both show without a flash)
            clear = mine["clear"] & game_["clear"]
            both, drawn = clear & game_["aim"], clear & mine["aim"]
            print(f"  of the game's frames with a demon in sight, this shows one too in {mine['aim'][both].mean():.2f} "
                  f"(by chance: {mine['aim'][clear].mean():.2f})" if both.any() else "  the game never had a demon in sight")
            if drawn.any():             # a demon drawn where the game has none misleads aim as much as one lost
                print(f"  of its frames with a demon in sight, the game's same frame shows one in "
                      f"{game_['aim'][drawn].mean():.2f} (by chance: {game_['aim'][clear].mean():.2f})")
        if args.bins:
            at = mine["step"] // args.bins
            print(f"  demons per {args.bins} steps: " + ", ".join(
                f"{b * args.bins}-{(b + 1) * args.bins - 1}: {mine['aim'][(at == b) & mine['clear']].mean():.2f}"
                for b in range(int(at.max()) + 1) if ((at == b) & mine["clear"]).any()))
    print(context_psnr(played, one_step))
    if args.strip:
        save_strip(args.strip, played[0]["frames"], replayed[0]["frames"])
        print(f"wrote {args.strip}")


def context_psnr(played: list[dict], one_step: list[dict]) -> str:
    """How much the world's one-step frames owe to the game frame they start from: their PSNR
    against the game's next frames, beside repeating the last frame and beside the game's next
    frames in shuffled order (a prediction that ignored its start frame would score about that).
    In an arena that looks alike from every side the three sit close: most of a frame is the
    same arena, and the small things that differ weigh little in the squared error."""
    from worldmodel.metrics import mean_psnr as psnr   # pooled over all frames

    nxt = np.concatenate([ep["frames"][1:] for ep in played])
    last = np.concatenate([ep["frames"][:-1] for ep in played])
    pred = np.concatenate([ep["frames"][1:] for ep in one_step])
    shuffled = nxt[np.random.default_rng(0).permutation(len(nxt))]
    return (f"PSNR against the game's next frames (pooled): the world one step {psnr(pred, nxt):.2f} dB, "
            f"repeating the last frame {psnr(last, nxt):.2f} dB, the game's own frames shuffled {psnr(shuffled, nxt):.2f} dB")


def sights(episodes: list[dict], fire: set, first: int = 1) -> dict:
    """Per scored frame (every step from `first` on, step 0 never) of the episodes: aim's test,
    whether the frame shows no flash ('clear'), and its step. Each episode's frames[k] followed
    actions[k - 1]."""
    from agents.policies import hit_flash, red_mass

    aim, clear, step = [], [], []
    for ep in episodes:
        fired = np.array([i in fire for i in ep["actions"]])
        for k in range(max(first, 1), len(ep["frames"])):
            mass = red_mass(ep["frames"][k])
            aim.append(mass.max() >= 2)                                   # aim's own test
            muzzle = fired[max(0, k - FLASH_STEPS): k].any()
            clear.append(not muzzle and not hit_flash(ep["frames"][k]))
            step.append(k)
    return {"aim": np.array(aim), "clear": np.array(clear), "step": np.array(step)}


def play(env, world, game: str, agent_name: str, seed: int, e: int, steps: int) -> dict:
    """The agent in the game (world None) or in the world from the game's start frame, episode e:
    the frames it acted on, its actions and its return."""
    from agents.harness import episode_seed
    from agents.policies import make_agent

    s = episode_seed(seed, e)
    agent = make_agent(agent_name, env.action_set, game)
    agent.reset(s)
    frame = env.reset(s)
    if world is not None:
        frame = world.reset([frame], seed=[s])[0]
    frames, actions, total = [], [], 0.0
    for _ in range(steps):
        i = agent.act(frame)
        frames.append(frame)
        actions.append(i)
        if world is None:
            frame, reward, done = env.step_native(i)
        else:
            frame = world.step([world.action_set[i]])[0]
            # a world without heads (a bare train-dynamics folder) pays nothing and never ends
            reward = 0.0 if world.reward is None else float(world.reward[0])
            done = False if world.done is None else bool(world.done[0])
        total += reward
        if done:
            break
    return {"frames": np.stack(frames), "actions": actions, "return": round(total, 2), "seed": s}


def one_step_world(world, ep: dict) -> dict:
    """For each k >= 1, the world reset at the game's frame k - 1 (its episode step k - 1) and
    stepped once with the game's action there: all of an episode's k in one batch. Frame 0 is the
    game's own (not scored)."""
    n = len(ep["frames"])
    if n < 2:
        return {"frames": ep["frames"], "actions": ep["actions"]}
    world.reset(list(ep["frames"][:-1]), seed=[ep["seed"] * 1000 + k for k in range(n - 1)], clock=list(range(n - 1)))
    stepped = world.step([world.action_set[i] for i in ep["actions"][:-1]])       # (n - 1, H, W, 3)
    return {"frames": np.concatenate([ep["frames"][:1], stepped]), "actions": ep["actions"]}


def denoised_from_game(world, ep: dict, sigma: float, seed: int = 0) -> dict:
    """For each k >= W (the network's context), the network's estimate of the clean frame k from
    the game's frame k noised to `sigma`, with the game's frames k-W..k-1 as the past (noised to the
    context noise, as World feeds its past) and the game's actions, decoded. Frames 0..W-1 are the
    game's own (score from step W: sights' `first`)."""
    import torch

    from dynamics import network_actions
    from worldmodel.action import actions_to_array

    den, w = world.denoiser, world.denoiser.net.config.context
    fr, n = ep["frames"], len(ep["frames"])
    if n <= w:
        return {"frames": fr, "actions": ep["actions"]}
    z = world._encode(fr)                                                         # (n, c, h, w)
    acts = np.concatenate([np.zeros((1, actions_to_array([world.action_set[0]]).shape[1]), np.float32),
                           actions_to_array([world.action_set[i] for i in ep["actions"][:-1]])])   # frame i's action: (n, a)
    ks = np.arange(w, n)
    idx = ks[:, None] - np.arange(w, -1, -1)[None]                                # (m, W+1): k-W .. k
    x0 = z[torch.from_numpy(idx)]                                                 # (m, W+1, c, h, w)
    clock = torch.from_numpy(idx).float()
    a = network_actions(den.net.config, torch.from_numpy(acts[idx]), clock)
    mask = torch.from_numpy(idx > 0)                                              # frame 0 follows no action
    sig = torch.full(idx.shape, max(world.context_noise, den.config.sigma_min))
    sig[:, -1] = sigma
    gen = torch.Generator().manual_seed(seed)
    x = x0 + sig[..., None, None, None] * torch.randn(x0.shape, generator=gen)
    dtype = next(den.parameters()).dtype
    with torch.no_grad(), world._autocast():
        d = den(x.to(dtype), sig.to(dtype), a.to(dtype), mask, torch.arange(w + 1), last=1)[:, -1].float()
    from autoencoder.models import tensor_to_frames
    frames = tensor_to_frames(world.autoencoder.decode(d).float().clamp(-1, 1)).cpu().numpy()
    return {"frames": np.concatenate([fr[:w], frames]), "actions": ep["actions"]}


def replay_world(world, ep: dict) -> dict:
    """The world from the game episode's start frame, stepped with the game's actions (open loop;
    the world's own episode end is ignored, so it lasts as long as the game's episode)."""
    frames = [world.reset([ep["frames"][0]], seed=[ep["seed"]])[0]]
    for i in ep["actions"][:-1]:
        frames.append(world.step([world.action_set[i]])[0])
    return {"frames": np.stack(frames), "actions": ep["actions"]}


def through_autoencoder(source, frames: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 frames (n, H, W, 3) -> the same frames encoded and decoded by an autoencoder (source:
    one, or a World, for its own), on the CPU."""
    import torch

    from autoencoder.models import frames_to_tensor, tensor_to_frames

    ae = getattr(source, "autoencoder", source)
    out = []
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            x = frames_to_tensor(frames[i: i + batch])
            out.append(tensor_to_frames(ae.decode(ae.encode(x))).numpy())
    return np.concatenate(out)


def fit_pca(recording: str, channels: int, size: int):
    """A patch PCA (4x4 patches, as the `pca` presets) of `channels` latents, fitted on every 4th
    frame of every 3rd episode of a recording."""
    import torch

    from autoencoder.models import AutoencoderConfig, PCAAutoencoder, frames_to_tensor
    from worldmodel.data.episodes import load_episode, read_meta

    names = [e["name"] for e in read_meta(recording)["episodes"]][::3]
    frames = np.concatenate([load_episode(recording, n).frames[::4] for n in names])
    if frames.shape[1] != size:
        raise ValueError(f"{recording} holds {frames.shape[1]}-pixel frames, the world plays {size}")
    ae = PCAAutoencoder(AutoencoderConfig("pca", size, channels, 4))
    ae.fit(frames_to_tensor(frames), generator=torch.Generator().manual_seed(0))
    return ae


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
