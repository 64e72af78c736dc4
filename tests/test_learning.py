"""Learning, not just running: a tiny autoencoder + dynamics trained for a bounded number of steps
on procedural-world data must beat copy-last-frame on 4-step autoregressive PSNR with the real
actions, and real actions must beat random ones (the world listens to the player).

Budget on 2 CPU cores: ~2-3 minutes (the PCA autoencoder fits in a second; 1200 dynamics steps)."""
import json

import numpy as np
import pytest
import torch

from worldmodel.train.autoencoder import train_autoencoder
from worldmodel.train.dynamics import train_dynamics
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


@pytest.mark.parametrize("arch", ["transformer", "unet"])
def test_action_decides_the_outcome_of_counterfactual_pairs(arch, tmp_path):
    """The action's path through the network works (issue 16's sanity check). 16 pasts, each
    continued in the real game by the action the episode took and by 4 other actions (80 clips
    in all, their real outcomes): a tiny network trained on them (newest-frame loss, clean past,
    no action dropout) must tell the outcomes apart by the action alone, so that denoising a
    branch's next frame with the action the episode took instead is much worse. In recorded play
    the past often tells the next frame by itself, which is why this is tested on pairs. Both
    networks (the transformer and the frame-stacking U-Net) must pass."""
    from worldmodel.world_checkpoint import load_autoencoder
    from dynamics import Denoiser, DiffusionConfig, PRESETS, build_network
    from dynamics.diffusion import diffusion_loss
    from worldmodel.data import LatentClips
    from worldmodel.train.dynamics import encode_episodes
    from worldmodel.data import BranchConfig, load_branches
    from worldmodel.evaluate import branch_gap
    import numpy as np
    from dataclasses import replace
    record(make_env("procedural", size=32), tmp_path / "data", episodes=8, steps=12, policy="sticky", seed=2,
           progress=False, branches=BranchConfig(points=2, actions=4, steps=1, past=4))
    train_autoencoder(tmp_path / "data", tmp_path / "ae", "pca-tiny", progress=False)
    ae = load_autoencoder(tmp_path / "ae")
    _, eps = load_episodes(tmp_path / "data")
    branches = load_branches(tmp_path / "data")
    # the clips: each branch's window, and its episode's own window at the same step
    seqs = [ep for _, ep in branches] + [eps[b["parent"]] for b, _ in branches[::4]]
    ends = [b["past"] for b, _ in branches] + [b["at"] + 1 for b, _ in branches[::4]]
    lat = encode_episodes(ae, seqs, "cpu")
    clips = LatentClips(lat, seqs, list(range(len(seqs))), 4)
    clips.index = np.array([(i, e - 3) for i, e in enumerate(ends)])
    assert len(clips) == 80
    torch.manual_seed(0)
    cfg = replace(PRESETS["tiny"].model, latent_channels=ae.config.latent_channels, latent_size=ae.config.latent_size,
                  action_dim=eps[0].actions.shape[1], context=3, arch=arch, dim=64 if arch == "transformer" else 16)
    den = Denoiser(build_network(cfg), DiffusionConfig(loss_frames="last", p_clean_context=1.0, p_uncond=0.0))
    opt = torch.optim.AdamW(den.parameters(), lr=2e-3)
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    for _ in range(800):
        loss = diffusion_loss(den, *clips.sample(rng, 32, "cpu"), generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    world = World(ae, den.eval(), {}, device="cpu")
    gap = branch_gap(world, eps, branches, sigmas=(1.0, 3.0))
    assert gap["1"]["gap_pct"] > 50 and gap["3"]["gap_pct"] > 100, gap
    # and a network whose action input is cut off shows no gap at all (the measure can fail)
    torch.nn.init.zeros_(den.net.action_mlp[2].weight)
    torch.nn.init.zeros_(den.net.action_mlp[2].bias)
    den.net.null_action.data.zero_()
    cut = branch_gap(world, eps, branches, sigmas=(1.0,))
    assert abs(cut["1"]["gap_pct"]) < 1e-6, cut


def test_channel_latent_norm_whitens_and_reconstructs_the_same(recording, tmp_path):
    """--latent-norm channel: each latent channel at unit std on the recording (the shared default
    leaves the patch PCA's fine channels far under its first), the same reconstruction, and the
    choice travels in the checkpoint's config."""
    from autoencoder.models import frames_to_tensor
    from worldmodel.world_checkpoint import load_autoencoder
    m_shared = train_autoencoder(recording, tmp_path / "shared", "pca-tiny", progress=False)
    m_channel = train_autoencoder(recording, tmp_path / "channel", "pca-tiny", progress=False, latent_norm="channel")
    assert m_channel["val_psnr"] == pytest.approx(m_shared["val_psnr"], abs=1e-3)
    _, eps = load_episodes(recording)
    x = frames_to_tensor(np.concatenate([ep.frames for ep in eps]))     # the stats' frames, and the held-out one
    stds = {}
    for name in ("shared", "channel"):
        ae = load_autoencoder(tmp_path / name)
        assert ae.config.latent_norm == name
        with torch.no_grad():
            stds[name] = ae.encode(x).std(dim=(0, 2, 3))
    assert stds["shared"].max() / stds["shared"].min() > 5, stds["shared"]
    assert torch.allclose(stds["channel"], torch.ones_like(stds["channel"]), atol=0.15), stds["channel"]
    with pytest.raises(ValueError, match="latent_norm"):
        train_autoencoder(recording, tmp_path / "bad", "pca-tiny", progress=False, latent_norm="pixel")


def test_a_finer_patch_pca_has_more_cells(recording, tmp_path):
    """--downsample 2: 2x2-pixel patches, a latent of half the frame's side, and (12 numbers a
    patch) at most 12 channels."""
    from worldmodel.world_checkpoint import load_autoencoder
    m = train_autoencoder(recording, tmp_path / "fine", "pca-tiny", progress=False, downsample=2, latent_channels=8)
    ae = load_autoencoder(tmp_path / "fine")
    assert ae.config.latent_size == 16 and ae.config.latent_channels == 8 and m["val_psnr"] > 20
    with pytest.raises(ValueError, match="latent_channels must be 1..12"):
        train_autoencoder(recording, tmp_path / "wide", "pca-tiny", progress=False, downsample=2, latent_channels=16)
    with pytest.raises(ValueError, match="power of 2"):
        train_autoencoder(recording, tmp_path / "odd", "pca-tiny", progress=False, downsample=3)
