"""How much of a frame's detail survives the learned action warp (DynamicsConfig.warp) alone.

    python scripts/warp_detail.py CHECKPOINT DATA [--modes bilinear,bicubic] [--episodes 4]

Real frames of held-out episodes (frames 40, 120 and 200 of each, where the episode is long enough) are encoded, warped by
the world's flow for one held action again and again (no network, no noise), decoded, and their
detail (mean spatial-gradient energy, `worldmodel.evaluate.gradient_energy`) compared with the
real frames': 1 = as sharp as the real frames. The autoencoder alone sets the ceiling. Each
--modes entry resamples the same trained flow with that grid_sample mode (DynamicsConfig.warp_mode).
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from worldmodel import World
from worldmodel.action import actions_to_array
from worldmodel.data import load_episode, read_meta, split_episodes
from worldmodel.evaluate import gradient_energy


def decoded(world, z: torch.Tensor) -> np.ndarray:
    """Latent frames (b, c, h, w) -> uint8-range float frames (b, H, W, 3)."""
    return world.autoencoder.decode(z).clamp(-1, 1).add(1).mul(127.5).permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a world checkpoint with warp=true (a shipped name or a run folder)")
    p.add_argument("data", help="a recording of the world's game")
    p.add_argument("--modes", default="bilinear,bicubic", help="grid_sample modes to compare, comma-separated")
    p.add_argument("--episodes", type=int, default=4, help="how many held-out episodes to take frames from")
    p.add_argument("--actions", default="0,5,1",
                   help="native action ids of the world's action set, comma-separated (default 0,5,1: in ViZDoom "
                        "idle, turn left, forward)")
    a = p.parse_args()
    world = World.from_pretrained(a.checkpoint, device="cpu")
    net = world.denoiser.net.float()
    if not net.config.warp:
        raise SystemExit(f"{a.checkpoint} has no action warp (warp=false)")
    meta = read_meta(a.data)
    _, val = split_episodes(len(meta["episodes"]), seed=0)      # the trainers' held-out episodes
    eps = [load_episode(a.data, meta["episodes"][i]["name"]) for i in val[:a.episodes]]
    picked = [ep.frames[s] for ep in eps for s in (40, 120, 200) if s < len(ep)]
    if not picked:
        raise SystemExit(f"no held-out episode of {a.data} reaches frame 40")
    frames = np.stack(picked)
    z0 = world._encode(frames)[:, None]                                       # (b, 1, c, h, w)
    real = gradient_energy(frames)
    print(f"{len(frames)} real frames; the autoencoder alone keeps {gradient_energy(decoded(world, z0[:, 0])) / real:.2f} "
          "of their detail")
    steps = (1, 2, 4, 8)
    print("mode      action        detail after " + " / ".join(f"{k}" for k in steps) + " warps")
    for mode in a.modes.split(","):
        net.config = replace(net.config, warp_mode=mode.strip())
        for i in a.actions.split(","):
            act = world.action_set[int(i)]
            acts = torch.from_numpy(actions_to_array([act] * len(frames)))[:, None].float()
            on = torch.ones(len(frames), 1, dtype=torch.bool)
            z, out = z0, []
            for k in range(1, steps[-1] + 1):
                z = net._warp(z, acts, on)
                if k in steps:
                    out.append(gradient_energy(decoded(world, z[:, 0])) / real)
            print(f"{mode:9s} {str(act):13s} " + " / ".join(f"{v:.2f}" for v in out))


if __name__ == "__main__":
    main()
