"""Shared fixtures: a small procedural recording and an untrained tiny world (for API tests;
the learning test trains its own)."""
from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pytest
import torch

from autoencoder import AutoencoderConfig, build_autoencoder
from dynamics import Denoiser, DiffusionConfig, DynamicsConfig, build_network
from worldmodel.action import ACTION_DIM
from worldmodel.data import record
from worldmodel.envs import make_env

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "proc"
    record(make_env("procedural", size=32), out, episodes=4, steps=20, policy="sticky", seed=3, progress=False)
    return out


def make_tiny_world(path, seed: int = 0, context: int = 3, arch: str = "transformer", clock: bool = False):
    from worldmodel.world_checkpoint import save_world, world_config
    torch.manual_seed(seed)
    ae_cfg = AutoencoderConfig("conv", 32, 4, 4, 8, 1)
    ae = build_autoencoder(ae_cfg)
    dyn_cfg = DynamicsConfig(arch=arch, latent_channels=4, latent_size=8, action_dim=ACTION_DIM, patch=2,
                             dim=32 if arch == "transformer" else 8, depth=2, heads=2, context=context,
                             clock=clock, clock_max=50)
    net = build_network(dyn_cfg)
    for p in net.parameters():  # zero-init output layers would make every frame equal: randomise
        torch.nn.init.normal_(p, std=0.05)
    for p in net.action_mlp.parameters():  # and let actions visibly change frames (UI tests check it)
        torch.nn.init.normal_(p, std=0.5)
    for p in (net.clock_mlp.parameters() if clock else ()):   # and the episode clock (tests/test_clock.py)
        torch.nn.init.normal_(p, std=0.5)
    env = make_env("procedural", size=32)
    cfg = world_config(ae_cfg, dyn_cfg, DiffusionConfig(), env.meta(), {"steps": 2, "guidance_scale": 1.5})
    return save_world(path, cfg, ae, Denoiser(net, DiffusionConfig()))


def make_headed_world(tiny_world, out, seed: int = 0, std: float | None = None):
    """A copy of the tiny world with untrained reward/end heads saved in its checkpoint (weights
    drawn from N(0, std) if std is given, else PyTorch's default init)."""
    import shutil
    from dataclasses import asdict
    from dynamics.heads import HeadsConfig, RewardEndHeads
    from worldmodel.checkpoint import load_checkpoint, save_checkpoint
    shutil.copytree(tiny_world, out)
    config, tensors = load_checkpoint(out)
    torch.manual_seed(seed)
    heads = RewardEndHeads(HeadsConfig(latent_channels=4, latent_size=8, action_dim=ACTION_DIM, dim=16))
    if std is not None:
        for q in heads.parameters():
            torch.nn.init.normal_(q, std=std)
    config["heads"] = {"config": asdict(heads.config), "metrics": {}}
    tensors.update({f"heads.{k}": v for k, v in heads.state_dict().items()})
    for f in out.glob("*.safetensors"):
        f.unlink()
    save_checkpoint(out, config, tensors)
    return out


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    path = make_tiny_world(tmp_path_factory.mktemp("world") / "tiny")
    from PIL import Image
    env = make_env("procedural", size=32)
    Image.fromarray(env.reset(0)).save(path / "start.png")
    return path


@pytest.fixture(scope="session")
def tiny_unet_world(tmp_path_factory):
    """The tiny world with the frame-stacking U-Net (DynamicsConfig.arch = "unet") as its network."""
    path = make_tiny_world(tmp_path_factory.mktemp("world") / "tiny-unet", arch="unet")
    from PIL import Image
    Image.fromarray(make_env("procedural", size=32).reset(0)).save(path / "start.png")
    return path


@pytest.fixture(scope="session")
def tiny_ae(recording, tmp_path_factory):
    from worldmodel.train.autoencoder import train_autoencoder
    out = tmp_path_factory.mktemp("ae") / "pca"
    train_autoencoder(recording, out, "pca-tiny", progress=False)
    return out
