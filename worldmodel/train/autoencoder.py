"""Train (or fit, for PCA) an autoencoder on recorded episodes; resumable after a kill.

A run folder holds the checkpoint (config.json + model.safetensors) and log.jsonl, plus while a
conv autoencoder trains the loop's resumable state (worldmodel.train.loop); metrics.json at the end.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from autoencoder import PRESETS, AETrainConfig, build_autoencoder, frames_to_tensor

from ..checkpoint import save_checkpoint
from ..data import load_episodes, split_episodes
from ..metrics import reconstruction_psnr
from .common import JsonlLog
from .loop import LoopConfig, TrainLoop, clear_state


def split_frames(data: str | Path, seed: int = 0):
    """All frames of the training and of the validation episodes, uint8 (n, H, W, 3)."""
    meta, eps = load_episodes(data)
    train, val = split_episodes(len(eps), seed=seed)
    if not val:
        raise ValueError(f"{data} has a single episode; record at least 2 so one can be held out")
    return meta, np.concatenate([eps[i].frames for i in train]), np.concatenate([eps[i].frames for i in val])


def train_autoencoder(data: str | Path, out: str | Path, preset: str = "tiny", steps: int | None = None,
                      batch_size: int | None = None, seed: int = 0, device: str | None = None,
                      save_every: float = 120.0, progress: bool = True, latent_channels: int | None = None,
                      latent_norm: str | None = None, downsample: int | None = None) -> dict:
    """Fit (pca) or train (conv) the autoencoder `preset` on the recording `data` into `out`;
    `latent_channels` overrides the preset's latent width, `latent_norm` its latent normalisation
    (see Autoencoder.fit_latent_stats), `downsample` its spatial compression (the patch side of a
    PCA). Returns the validation metrics."""
    if preset not in PRESETS:
        raise ValueError(f"unknown autoencoder preset {preset!r}; choose from {sorted(PRESETS)}")
    out = Path(out)
    tc: AETrainConfig = PRESETS[preset]
    tc = replace(tc, steps=tc.steps if steps is None else steps,
                 batch_size=tc.batch_size if batch_size is None else batch_size)
    if downsample is not None:                     # the config checks it (a power of 2 dividing the frame)
        tc = replace(tc, model=replace(tc.model, downsample=downsample))
    if latent_channels is not None:
        if not 1 <= latent_channels <= 3 * tc.model.downsample ** 2:
            raise ValueError(f"latent_channels must be 1..{3 * tc.model.downsample ** 2} (the numbers in a "
                             f"{tc.model.downsample}x{tc.model.downsample} RGB patch), got {latent_channels}")
        tc = replace(tc, model=replace(tc.model, latent_channels=latent_channels))
    if latent_norm is not None:
        tc = replace(tc, model=replace(tc.model, latent_norm=latent_norm))     # the config checks the name
    meta, train_frames, val_frames = split_frames(data, seed)
    if train_frames.shape[1] != tc.model.image_size:
        raise ValueError(f"preset {preset!r} expects {tc.model.image_size}x{tc.model.image_size} frames but "
                         f"{data} holds {train_frames.shape[1]}x{train_frames.shape[2]}; record with "
                         f"--size {tc.model.image_size} or pick another preset")
    torch.manual_seed(seed)
    ae = build_autoencoder(tc.model)
    config = {"kind": "autoencoder", "autoencoder": asdict(tc.model), "preset": preset,
              "train": {"steps": tc.steps, "batch_size": tc.batch_size, "lr": tc.lr, "seed": seed, "data": str(data)},
              "env": {k: meta[k] for k in ("env", "size", "fps", "action_set")}}
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    all_train = frames_to_tensor(train_frames)
    if tc.model.kind == "pca":
        ae.fit(all_train, generator=torch.Generator().manual_seed(seed))
        log = JsonlLog(out / "log.jsonl")
    else:
        log = _train_conv(ae, tc, train_frames, out, config, seed, device, save_every, progress)
    ae = ae.cpu().float().eval()
    ae.fit_latent_stats(all_train[torch.randperm(len(all_train), generator=torch.Generator().manual_seed(seed))[:4096]])
    metrics = {"val_psnr": reconstruction_psnr(ae, val_frames), "train_psnr": reconstruction_psnr(ae, train_frames[:2048]),
               "val_frames": int(len(val_frames)), "train_frames": int(len(train_frames)),
               "seconds": round(time.time() - t0, 1), "preset": preset}
    save_checkpoint(out, {**config, "metrics": metrics}, ae.state_dict())
    clear_state(out, "autoencoder")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.write(event="metrics", **metrics)          # the loop logged "done" already (conv AE)
    return metrics


def _train_conv(ae, tc: AETrainConfig, frames: np.ndarray, out: Path, config: dict, seed, device, save_every,
                progress) -> JsonlLog:
    """The conv autoencoder on the shared loop: MSE + L1 reconstruction of random frames."""
    loop = TrainLoop(out, "autoencoder", ae, LoopConfig(steps=tc.steps, lr=tc.lr, betas=(0.9, 0.999), save_every=save_every,
                                                        # bf16 autocast on a GPU only, as measured before the
                                                        # shared loop; unmeasured on this CPU
                                                        precision="auto" if torch.cuda.is_available() else "fp32"),
                     device=device, desc="autoencoder", progress=progress)
    gen = np.random.default_rng(seed + loop.step)

    def loss_fn(step: int):
        x = frames_to_tensor(frames[gen.integers(0, len(frames), tc.batch_size)]).to(loop.device)
        rec = loop.net(x).float()
        return F.mse_loss(rec, x) + tc.l1_weight * F.l1_loss(rec, x)

    def save(step: int):
        save_checkpoint(out, config, loop.trained().state_dict())

    loop.run(loss_fn, save)
    ae.load_state_dict(loop.trained().state_dict())
    return loop.log
