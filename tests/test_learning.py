"""Learning, not just running: a tiny autoencoder + dynamics trained for a bounded number of steps
on procedural-world data must beat copy-last-frame on 4-step autoregressive PSNR with the real
actions, and real actions must beat random ones (the world listens to the player).

Budget on 2 CPU cores: ~2-3 minutes (the PCA autoencoder fits in a second; 1200 dynamics steps)."""
import json

import pytest

from autoencoder.train import train_autoencoder
from dynamics.train import train_dynamics
from worldmodel import World
from worldmodel.data import load_episodes, record, split_episodes
from worldmodel.envs import make_env
from worldmodel.evaluate import rollout_metrics


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    record(make_env("procedural", size=32), root / "data", episodes=40, steps=40, policy="random", seed=1, progress=False)
    ae = train_autoencoder(root / "data", root / "ae", "pca-tiny", progress=False)
    world = train_dynamics(root / "data", root / "ae", root / "world", "tiny", progress=False)
    _, eps = load_episodes(root / "data")
    _, val = split_episodes(len(eps))
    m = rollout_metrics(World.from_pretrained(world), [eps[i] for i in val], horizons=(1, 4), per_episode=8)
    print(json.dumps({"recon_psnr": ae["val_psnr"], **m}, indent=1))  # shown with pytest -s
    return ae, m


def test_beats_copy_last_frame(trained):
    _, m = trained
    assert m["psnr"]["4"] > m["psnr_copy_last"]["4"] + 0.3, m  # 0.3 dB: clear of numerical noise


def test_actions_matter(trained):
    _, m = trained
    assert m["psnr"]["1"] > m["psnr_random_actions"]["1"] + 0.2, m
    assert m["psnr"]["4"] > m["psnr_random_actions"]["4"], m


def test_conv_autoencoder_learns(recording, tmp_path):
    """The learned autoencoder, briefly trained, reconstructs far better than its untrained self."""
    m = train_autoencoder(recording, tmp_path / "ae", "tiny", steps=120, progress=False)
    m0 = train_autoencoder(recording, tmp_path / "ae0", "tiny", steps=1, progress=False)
    assert m["val_psnr"] > m0["val_psnr"] + 3, (m, m0)
