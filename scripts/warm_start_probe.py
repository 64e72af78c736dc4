"""Does the world keep a demon that its noisy input already holds? One step from each game frame,
sampled from the game frame's own latent plus noise at `start` instead of from pure noise.

The world's usual step starts from pure noise at sigma_max (20) and keeps a demon one step after a
game frame that shows one only at chance level (scripts/target_sight.py). Starting the sampler at
the previous frame's latent noised to a lower level (as SDEdit does) puts that frame's demons in
the input: a denoiser that carries them should then keep most of them where the previous frame had
them (repeating the previous frame keeps 0.62 of the game's demon frames, 0.90 of its own right).
For each world and each start level this prints, on the game's frames without a flash (as
target_sight.py counts them): the share of the world's frames with a demon; of the game's demon
frames, the share the world shows one in (with the chance level: the world's own demon rate); of the
world's demon frames, the share the game shows one in (chance: the game's rate); and the pooled PSNR
against the game's next frames. `aim` plays 4 episodes of 120 steps from seeds 7000+; the worlds
sample in 10 Euler steps at guidance 2 on a Karras schedule from `start` down. It reads World's
internals (the play state after a batched reset), as a probe may; nothing here is an API.
Usage: python scripts/warm_start_probe.py WORLD [WORLD ...]   (a defend_the_center world or
train-dynamics folder; for a distilled world this probes its student)
"""
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import target_sight as ts  # noqa: E402
from autoencoder.models import tensor_to_frames  # noqa: E402
from dynamics.sampler import euler_solve, karras_sigmas  # noqa: E402
from worldmodel import World  # noqa: E402
from worldmodel.envs import make_env  # noqa: E402
from worldmodel.metrics import mean_psnr  # noqa: E402

STARTS = (20.0, 5.0, 2.0, 1.0)


def warm_one_step(world, ep, s0, steps=10, guidance=2.0):
    """Frame k >= 1: the world reset at the game's frame k - 1 and stepped once with the game's
    action, its sampler started from that frame's latent + s0 x noise (all k of an episode in one batch)."""
    fr, ac = ep["frames"], ep["actions"]
    n = len(fr)
    world.reset(list(fr[:-1]), seed=[ep["seed"] * 1000 + k for k in range(n - 1)], clock=list(range(n - 1)))
    st = world._state
    b = n - 1
    acts = world._actions([world.action_set[i] for i in ac[:-1]], b)
    net_acts = world._net_actions(acts, st.clock + 1)
    prev = st.latent                                                    # (b, c, h, w): frame k - 1
    noise = world._randn(prev.shape)
    pos = st.position + 1

    def denoise_fn(x, sigma, action_on):
        rep = x.shape[0] // b
        return world._denoise(x, sigma, net_acts.repeat(rep, 1), action_on, pos)

    sig = karras_sigmas(steps, dataclasses.replace(world.denoiser.config, sigma_max=s0))
    with torch.no_grad(), world._autocast():
        z = euler_solve(denoise_fn, prev + s0 * noise, sig, guidance).float()
        f = tensor_to_frames(world.autoencoder.decode(z).float().clamp(-1, 1)).numpy()
    return {"frames": np.concatenate([fr[:1], f]), "actions": ac}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 else 2)
    env = make_env("vizdoom:defend_the_center", size=64)
    fire = {i for i, a in enumerate(env.action_set) if "left" in a.buttons}
    try:
        played = [ts.play(env, None, "vizdoom:defend_the_center", "aim", 7, e, 120) for e in range(4)]
    finally:
        env.close()
    game = ts.sights(played, fire)
    nxt = np.concatenate([ep["frames"][1:] for ep in played])
    for path in sys.argv[1:]:
        world = World.from_pretrained(path, device="cpu")
        for s0 in STARTS:
            eps = [warm_one_step(world, ep, s0) for ep in played]
            s = ts.sights(eps, fire)
            clear = s["clear"] & game["clear"]
            both, drawn = clear & game["aim"], clear & s["aim"]
            pred = np.concatenate([e["frames"][1:] for e in eps])
            print(f"{Path(path).name} start {s0:g}: demons {s['aim'][s['clear']].mean():.2f}; recall "
                  f"{s['aim'][both].mean():.2f} (chance {s['aim'][clear].mean():.2f}); precision "
                  f"{game['aim'][drawn].mean():.2f} (chance {game['aim'][clear].mean():.2f}); "
                  f"PSNR {mean_psnr(pred, nxt):.2f}", flush=True)


if __name__ == "__main__":
    main()
