"""Train (or fit, for PCA) an autoencoder on recorded episodes; resumable after a kill.

A run folder holds the checkpoint (config.json + model.safetensors), plus while training the
optimizer state (optimizer.safetensors), train_state.json and log.jsonl; metrics.json at the end.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from worldmodel.checkpoint import load_checkpoint, load_into, save_checkpoint
from worldmodel.data import load_episodes, split_episodes
from worldmodel.metrics import mean_psnr
from worldmodel.training import JsonlLog, load_optimizer, lr_at, save_optimizer

from .models import Autoencoder, build_autoencoder, frames_to_tensor, tensor_to_frames
from .presets import PRESETS, AETrainConfig


def load_autoencoder(path: str | Path) -> Autoencoder:
    from worldmodel.checkpoint import CheckpointError
    from .models import AutoencoderConfig
    config, tensors = load_checkpoint(path)
    if config.get("kind") != "autoencoder":
        raise CheckpointError(f"{path} is a {config.get('kind', 'unknown')!r} checkpoint, not an autoencoder")
    try:
        ae = build_autoencoder(AutoencoderConfig(**config["autoencoder"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}/config.json does not describe an autoencoder: {e}") from e
    load_into(ae, tensors, "", str(path))
    return ae.eval()


def split_frames(data: str | Path, seed: int = 0):
    """All frames of the training and of the validation episodes, uint8 (n, H, W, 3)."""
    meta, eps = load_episodes(data)
    train, val = split_episodes(len(eps), seed=seed)
    if not val:
        raise ValueError(f"{data} has a single episode; record at least 2 so one can be held out")
    return meta, np.concatenate([eps[i].frames for i in train]), np.concatenate([eps[i].frames for i in val])


@torch.no_grad()
def reconstruction_psnr(ae: Autoencoder, frames: np.ndarray, device="cpu", batch: int = 256) -> float:
    recs = []
    for i in range(0, len(frames), batch):
        x = frames_to_tensor(frames[i:i + batch]).to(device)
        recs.append(tensor_to_frames(ae.decode(ae.encode(x)).clamp(-1, 1)).cpu().numpy())
    return mean_psnr(np.concatenate(recs), frames)


def train_autoencoder(data: str | Path, out: str | Path, preset: str = "tiny", steps: int | None = None,
                      batch_size: int | None = None, seed: int = 0, device: str | None = None,
                      save_every: float = 120.0, progress: bool = True) -> dict:
    if preset not in PRESETS:
        raise ValueError(f"unknown autoencoder preset {preset!r}; choose from {sorted(PRESETS)}")
    out = Path(out)
    tc: AETrainConfig = PRESETS[preset]
    tc = replace(tc, steps=tc.steps if steps is None else steps,
                 batch_size=tc.batch_size if batch_size is None else batch_size)
    meta, train_frames, val_frames = split_frames(data, seed)
    if train_frames.shape[1] != tc.model.image_size:
        raise ValueError(f"preset {preset!r} expects {tc.model.image_size}x{tc.model.image_size} frames but "
                         f"{data} holds {train_frames.shape[1]}x{train_frames.shape[2]}; record with "
                         f"--size {tc.model.image_size} or pick another preset")
    from accelerate import Accelerator
    acc = Accelerator(cpu=device == "cpu", mixed_precision="bf16" if torch.cuda.is_available() and device != "cpu" else "no")
    torch.manual_seed(seed)
    ae = build_autoencoder(tc.model)
    config = {"kind": "autoencoder", "autoencoder": asdict(tc.model), "preset": preset,
              "train": {"steps": tc.steps, "batch_size": tc.batch_size, "lr": tc.lr, "seed": seed, "data": str(data)},
              "env": {k: meta[k] for k in ("env", "size", "fps", "action_set")}}
    out.mkdir(parents=True, exist_ok=True)
    log = JsonlLog(out / "log.jsonl")
    t0 = time.time()
    all_train = frames_to_tensor(train_frames)
    if tc.model.kind == "pca":
        ae.fit(all_train, generator=torch.Generator().manual_seed(seed))
    else:
        _train_conv(ae, tc, train_frames, out, config, acc, log, seed, save_every, progress)
    ae = ae.cpu().float().eval()
    ae.fit_latent_stats(all_train[torch.randperm(len(all_train), generator=torch.Generator().manual_seed(seed))[:4096]])
    metrics = {"val_psnr": reconstruction_psnr(ae, val_frames), "train_psnr": reconstruction_psnr(ae, train_frames[:2048]),
               "val_frames": int(len(val_frames)), "train_frames": int(len(train_frames)),
               "seconds": round(time.time() - t0, 1), "preset": preset}
    save_checkpoint(out, {**config, "metrics": metrics}, ae.state_dict())
    for f in ("optimizer.safetensors", "optimizer.safetensors.json", "train_state.json"):
        (out / f).unlink(missing_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.write(event="done", **metrics)
    return metrics


def _train_conv(ae, tc: AETrainConfig, frames: np.ndarray, out: Path, config: dict, acc, log, seed,
                save_every, progress):
    opt = torch.optim.AdamW(ae.parameters(), lr=tc.lr, weight_decay=0.0)
    start = 0
    state_file = out / "train_state.json"
    if state_file.is_file():  # resume after a kill
        start = json.loads(state_file.read_text())["step"]
        _, tensors = load_checkpoint(out)
        load_into(ae, tensors, "", str(out))
        load_optimizer(opt, out / "optimizer.safetensors")
        log.write(event="resume", step=start)
    ae, opt = acc.prepare(ae, opt)
    gen = np.random.default_rng(seed + start)
    last_save = time.time()
    bar = tqdm(range(start, tc.steps), initial=start, total=tc.steps, desc="autoencoder",
               disable=not progress or not acc.is_main_process)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, tc.steps, tc.lr)
        idx = gen.integers(0, len(frames), tc.batch_size)
        x = frames_to_tensor(frames[idx]).to(acc.device)
        with acc.autocast():
            rec = ae(x)
        loss = F.mse_loss(rec.float(), x) + tc.l1_weight * F.l1_loss(rec.float(), x)
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(ae.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == tc.steps - 1:
            bar.set_postfix(loss=f"{loss.item():.4f}")
            log.write(step=step, loss=loss.item(), lr=opt.param_groups[0]["lr"])
        if time.time() - last_save > save_every and acc.is_main_process:
            _save_state(acc.unwrap_model(ae), opt, out, config, step + 1)
            last_save = time.time()


def _save_state(ae, opt, out: Path, config: dict, step: int) -> None:
    save_checkpoint(out, config, ae.state_dict())
    save_optimizer(opt, out / "optimizer.safetensors")
    (out / "train_state.json").write_text(json.dumps({"step": step}))
