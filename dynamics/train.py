"""Train the dynamics model on latent episodes; resumable after a kill.

Every frame of the recording is encoded once by the (frozen) autoencoder and cached in
RUN/latents.safetensors. Training samples windows of context+1 latent frames. The run folder is a
playable world checkpoint at every save (config.json + model.safetensors, EMA weights), next to
the resumable state (dynamics_raw.safetensors, optimizer.safetensors, train_state.json) and
log.jsonl.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from autoencoder import frames_to_tensor
from autoencoder.train import load_autoencoder
from worldmodel.checkpoint import CheckpointError
from worldmodel.data import load_episodes, split_episodes, window_index
from worldmodel.training import EMA, JsonlLog, load_optimizer, lr_at, save_optimizer

from .diffusion import Denoiser, DiffusionConfig, diffusion_loss
from .presets import PRESETS, DynamicsTrainConfig
from .transformer import DynamicsTransformer


@torch.no_grad()
def encode_episodes(ae, episodes, device, batch: int = 256) -> list[torch.Tensor]:
    out = []
    for ep in episodes:
        zs = [ae.encode(frames_to_tensor(ep.frames[i:i + batch]).to(device)).float().cpu()
              for i in range(0, len(ep), batch)]
        out.append(torch.cat(zs))  # (n, c, h, w)
    return out


def load_or_encode(ae, episodes, out: Path, device) -> list[torch.Tensor]:
    cache = out / "latents.safetensors"
    if cache.is_file():
        z = load_file(str(cache))
        if len(z) == len(episodes) and all(z[f"ep{i}"].shape[0] == len(e) for i, e in enumerate(episodes)):
            return [z[f"ep{i}"] for i in range(len(episodes))]
    latents = encode_episodes(ae.to(device), episodes, device)
    save_file({f"ep{i}": z.contiguous() for i, z in enumerate(latents)}, str(cache))
    return latents


def train_dynamics(data: str | Path, autoencoder: str | Path, out: str | Path, preset: str = "tiny",
                   steps: int | None = None, batch_size: int | None = None, seed: int = 0,
                   device: str | None = None, save_every: float = 120.0, progress: bool = True,
                   overrides: dict | None = None, minutes: float | None = None,
                   init: str | Path | None = None) -> Path:
    """Returns the run folder, which is a world checkpoint. `minutes` caps the run: after 50
    steps the total is set to what fits that wall time (the LR schedule follows). `init`: a world
    checkpoint with the same network shape to start from (fine-tuning) instead of random weights."""
    from worldmodel.world import save_world, world_config  # run folders are world checkpoints
    if preset not in PRESETS:
        raise ValueError(f"unknown dynamics preset {preset!r}; choose from {sorted(PRESETS)}")
    tc: DynamicsTrainConfig = PRESETS[preset]
    out = Path(out)
    overrides = dict(overrides or {})
    diffusion = overrides.pop("diffusion", None)  # a dict of DiffusionConfig fields to change
    # a resumed run keeps the learning rate, loss settings and start weights it began with,
    # unless they are given again
    resuming = (out / "train_state.json").is_file()
    saved = json.loads((out / "train_state.json").read_text()).get("settings", {}) if resuming else {}
    if saved and "lr" not in overrides:
        overrides["lr"] = saved["lr"]
    if saved and not diffusion:
        tc = replace(tc, diffusion=DiffusionConfig(**saved["diffusion"]))
    init = str(init) if init is not None else saved.get("init")
    tc = replace(tc, steps=tc.steps if steps is None else steps,
                 batch_size=tc.batch_size if batch_size is None else batch_size, **overrides)
    if diffusion:
        tc = replace(tc, diffusion=replace(tc.diffusion, **diffusion))
    meta, episodes = load_episodes(data)          # check the inputs before creating anything
    try:
        ae = load_autoencoder(autoencoder)
    except CheckpointError as e:
        raise CheckpointError(f"--autoencoder: {e}") from e
    if episodes[0].frames.shape[1] != ae.config.image_size:
        raise ValueError(f"autoencoder {autoencoder} works at {ae.config.image_size}px but {data} holds "
                         f"{episodes[0].frames.shape[1]}px frames")
    out.mkdir(parents=True, exist_ok=True)
    from accelerate import Accelerator
    use_cuda = torch.cuda.is_available() and device != "cpu"
    acc = Accelerator(cpu=not use_cuda, mixed_precision="bf16" if use_cuda else "no")
    latents = load_or_encode(ae, episodes, out, acc.device)
    train_ids, _ = split_episodes(len(episodes), seed=seed)
    model_cfg = replace(tc.model, latent_channels=ae.config.latent_channels,
                        latent_size=ae.config.latent_size, action_dim=episodes[0].actions.shape[1])
    clips = LatentClips(latents, episodes, train_ids, model_cfg.context + 1)

    torch.manual_seed(seed)
    denoiser = Denoiser(DynamicsTransformer(model_cfg), tc.diffusion)
    opt = torch.optim.AdamW(denoiser.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, betas=(0.9, 0.99))
    if init is not None and not resuming:
        init_from_world(denoiser.net, init, model_cfg, ae)
    ema = EMA(denoiser.net, tc.ema)
    env_meta = {k: meta[k] for k in ("env", "size", "fps", "action_set")}
    sampling = {"steps": tc.sample_steps, "guidance_scale": tc.guidance_scale, "sampler": "euler"}
    config = world_config(ae.config, model_cfg, tc.diffusion, env_meta, sampling,
                          {"preset": preset, "train": {"steps": tc.steps, "batch_size": tc.batch_size, "lr": tc.lr,
                                                       "seed": seed, "data": str(data), "autoencoder": str(autoencoder),
                                                       "init": init,
                                                       "train_episodes": len(train_ids),
                                                       "train_frames": clips.frames}})
    log = JsonlLog(out / "log.jsonl")
    start = 0
    total = tc.steps
    if resuming:  # after a kill
        start, saved_total = load_resumable(out, denoiser.net, ema, opt)
        total = total if steps is not None else saved_total  # an explicit --steps wins
        log.write(event="resume", step=start)
    denoiser, opt = acc.prepare(denoiser, opt)
    gen = torch.Generator(acc.device).manual_seed(seed * 1000 + start)
    rng = np.random.default_rng(seed * 1000 + start)
    n_params = sum(p.numel() for p in denoiser.parameters())
    log.write(event="start", params=n_params, windows=len(clips), preset=preset)

    def save(step: int):
        net = acc.unwrap_model(denoiser).net
        shadow = DynamicsTransformer(model_cfg)
        shadow.load_state_dict({k: v.cpu() for k, v in ema.shadow.items()})
        config["train"]["steps"] = total
        # fp16 like the shipped files, so the final evaluation measures exactly what ships
        save_world(out, {**config, "trained_steps": step}, ae, Denoiser(shadow, tc.diffusion), half=True)
        save_resumable(out, net, ema, opt, step, total,
                       settings={"lr": tc.lr, "diffusion": asdict(tc.diffusion), "init": init})
        _write_start_image(out, episodes, seed)

    last_save = t_start = time.time()
    bar = tqdm(total=total, initial=start, desc=f"dynamics ({n_params / 1e6:.1f}M params)",
               disable=not progress or not acc.is_main_process)
    step = start
    while step < total:
        if minutes is not None and step == start + 50:
            per_step = (time.time() - t_start) / 50
            total = min(total, max(step + 1, start + 50 + int((minutes * 60 - (time.time() - t_start)) / per_step)))
            bar.total = total
            log.write(event="budget", minutes=minutes, seconds_per_step=per_step, total=total)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, tc.lr)
        x0, a, m = clips.sample(rng, tc.batch_size, acc.device)
        with acc.autocast():
            loss = diffusion_loss(denoiser, x0, a, m, generator=gen)
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(denoiser.parameters(), 1.0)
        opt.step()
        ema.update(acc.unwrap_model(denoiser).net, step)
        if step % 50 == 0 or step == total - 1:
            bar.set_postfix(loss=f"{loss.item():.4f}")
            log.write(step=step, loss=loss.item(), lr=opt.param_groups[0]["lr"])
        step += 1
        bar.update(1)
        if time.time() - last_save > save_every and acc.is_main_process:
            save(step)
            last_save = time.time()
    bar.close()
    if acc.is_main_process:
        save(total)
        log.write(event="done", step=total, seconds=round(time.time() - t_start, 1))
    return out


class LatentClips:
    """Windows of `clip` consecutive latent frames, with their actions, from the training episodes."""

    def __init__(self, latents: list[torch.Tensor], episodes, ids, clip: int):
        self.clip = clip
        self.z = [latents[i] for i in ids]
        self.acts = [torch.from_numpy(episodes[i].actions) for i in ids]
        self.has = [torch.from_numpy(episodes[i].has_action) for i in ids]
        self.index = window_index([len(x) for x in self.z], clip)
        if len(self.index) == 0:
            raise ValueError(f"training episodes are shorter than a clip of {clip} frames; record longer episodes")

    def __len__(self) -> int:
        return len(self.index)

    @property
    def frames(self) -> int:
        return int(sum(len(x) for x in self.z))

    def sample(self, rng: np.random.Generator, batch: int, device):
        """(x0 (b, t, c, h, w), actions (b, t, a), has_action (b, t)) of `batch` random windows."""
        rows = self.index[rng.integers(0, len(self.index), batch)]
        c = self.clip
        x0 = torch.stack([self.z[e][s:s + c] for e, s in rows]).to(device)
        a = torch.stack([self.acts[e][s:s + c] for e, s in rows]).to(device)
        m = torch.stack([self.has[e][s:s + c] for e, s in rows]).to(device)
        return x0, a, m


def init_from_world(net: DynamicsTransformer, path: str | Path, model_cfg, autoencoder) -> None:
    """Copy the dynamics weights of world checkpoint `path` into `net`: same network shape and
    same autoencoder (its latents are what the weights learned to read) required."""
    from worldmodel.world import load_world_parts, resolve_checkpoint
    _, ae, den = load_world_parts(resolve_checkpoint(path))
    if den.net.config != model_cfg:
        raise ValueError(f"--init {path}: its network {den.net.config} differs from this run's {model_cfg}")
    mine, theirs = autoencoder.state_dict(), ae.state_dict()
    same = ae.config == autoencoder.config and mine.keys() == theirs.keys() and all(
        torch.equal(mine[k].cpu().half(), theirs[k].cpu().half()) for k in mine)   # worlds store fp16
    if not same:
        raise ValueError(f"--init {path}: it was trained on another autoencoder than this run's --autoencoder")
    net.load_state_dict({k: v.float() for k, v in den.net.state_dict().items()})


def save_resumable(out: Path, net, ema: EMA, opt, step: int, total: int, settings: dict | None = None) -> None:
    """Raw weights, EMA, optimizer, step and the run's settings: what a killed run needs to go on."""
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
              str(out / "dynamics_raw.safetensors"))
    save_file({k: v.detach().cpu().contiguous() for k, v in ema.shadow.items()}, str(out / "dynamics_ema.safetensors"))
    save_optimizer(opt, out / "optimizer.safetensors")
    (out / "train_state.json").write_text(json.dumps({"step": step, "total": total, "settings": settings or {}}))


def load_resumable(out: Path, net, ema: EMA, opt) -> tuple[int, int]:
    """Restore what save_resumable wrote; returns (step, total)."""
    state = json.loads((out / "train_state.json").read_text())
    net.load_state_dict(load_file(str(out / "dynamics_raw.safetensors")))
    ema.shadow = load_file(str(out / "dynamics_ema.safetensors"))
    load_optimizer(opt, out / "optimizer.safetensors")
    return state["step"], state["total"]


def _write_start_image(out: Path, episodes, seed: int) -> None:
    """The first frame of a held-out episode becomes the world's start image."""
    from PIL import Image
    _, val = split_episodes(len(episodes), seed=seed)
    ep = episodes[val[0] if val else 0]
    Image.fromarray(ep.frames[0]).save(out / "start.png")


def finalize(out: Path) -> None:
    """Drop resumable state once a run is finished and evaluated (keeps the folder small)."""
    for f in ("latents.safetensors", "dynamics_raw.safetensors", "dynamics_ema.safetensors", "optimizer.safetensors",
              "optimizer.safetensors.json", "train_state.json"):
        (out / f).unlink(missing_ok=True)
