"""Distil a guided many-step teacher into a few-step student that needs one forward pass per step.

Method (trajectory distillation, guidance folded in):
- The student samples with plain Euler on K noise levels taken from the teacher's own N-level
  schedule (every N/K-th level, `sampler.subsample_sigmas`), with guidance 1: one pass per step.
- For each of its steps, from x at level a to level b, the student learns to land where the
  teacher lands after its N/K Euler steps over the same interval, each step guided with scale w
  (two passes). This is the target of progressive distillation (Salimans & Ho 2022, eq. 8), taken in
  one jump from N to K steps instead of halving, with the guidance folded into the student as in
  Meng et al. 2023 ("On distillation of guided diffusion models"). The student's Euler step lands
  on the target exactly when its denoiser outputs D* = x + (x_b - x) a / (a - b), so D* is
  regressed with EDM's loss weight.
- Inputs match play time: past frames are real latents at the context noise level, the current
  frame is a real latent plus noise at level a (pure noise at the first level, as the sampler
  starts), and the teacher sees the past through the KV cache, as when playing.
The student starts as a copy of the teacher and is an ordinary world checkpoint.
"""
from __future__ import annotations

import copy
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .cache import KVCache
from .diffusion import Denoiser
from .sampler import euler_solve, karras_sigmas, subsample_sigmas


@dataclass
class DistillConfig:
    student_steps: int = 1     # K: denoising steps of the student, one forward pass each
    teacher_steps: int = 8     # N: Euler steps of the teacher it imitates (a multiple of K)
    guidance: float = 2.0      # w: the teacher's classifier-free guidance scale, folded in
    steps: int = 600           # training steps
    batch_size: int = 32
    lr: float = 2e-4
    ema: float = 0.99

    def __post_init__(self):
        if self.student_steps < 1 or self.teacher_steps % self.student_steps:
            raise ValueError(f"teacher steps ({self.teacher_steps}) must be a multiple of student steps "
                             f"({self.student_steps})")
        if not np.isfinite(self.guidance):
            raise ValueError(f"guidance must be finite, got {self.guidance}")

    def schedules(self, diffusion) -> tuple[list[float], list[float]]:
        """(teacher noise levels, student noise levels), both ending at 0; the student's are a subset."""
        teacher = karras_sigmas(self.teacher_steps, diffusion)
        return teacher, subsample_sigmas(teacher, self.student_steps)


@torch.no_grad()
def teacher_target(teacher: Denoiser, past, past_sigma, actions, has_action, x, sigmas: list[float],
                   guidance: float) -> torch.Tensor:
    """Run the guided teacher's Euler steps over `sigmas` on the current frame x (b, c, h, w), which
    sits at sigmas[0]; past (b, t-1, c, h, w) frames at noise past_sigma (b, t-1) go through the KV
    cache once. actions (b, t, a), has_action (b, t) cover the past and the current frame."""
    b, t = actions.shape[:2]
    cfg = teacher.net.config
    cache = KVCache(cfg.depth, cfg.context)
    positions = torch.arange(t)
    teacher(past, past_sigma, actions[:, :-1], has_action[:, :-1], positions[:-1], cache=cache, commit=True)
    act, has = actions[:, -1:], has_action[:, -1]

    def denoise_fn(xx, sigma, action_on):                       # xx (b', c, h, w), b' = b or 2b
        rep = xx.shape[0] // b
        sig = torch.full((xx.shape[0], 1), float(sigma), device=xx.device)
        on = (has.repeat(rep) & action_on)[:, None]
        return teacher(xx[:, None], sig, act.repeat(rep, 1, 1), on, positions[-1:], cache=cache)[:, 0].float()

    return euler_solve(denoise_fn, x, sigmas, guidance)


def distill_loss(student: Denoiser, teacher: Denoiser, x0, actions, has_action, cfg: DistillConfig,
                 segment: int, generator=None) -> torch.Tensor:
    """The student's loss on clips x0 (b, t, c, h, w) for its step number `segment` (0 = first)."""
    dc = teacher.config
    t_sig, s_sig = cfg.schedules(dc)
    per = cfg.teacher_steps // cfg.student_steps
    a, b_ = s_sig[segment], s_sig[segment + 1]
    b, t = x0.shape[:2]
    dev = x0.device
    sig_ctx = max(dc.context_noise, dc.sigma_min)
    past = x0[:, :-1] + sig_ctx * torch.randn(x0[:, :-1].shape, generator=generator, device=dev)
    past_sigma = torch.full((b, t - 1), sig_ctx, device=dev)
    eps = torch.randn(x0[:, -1].shape, generator=generator, device=dev)
    x = eps * a if segment == 0 else x0[:, -1] + a * eps              # (b, c, h, w), like the sampler
    x_b = teacher_target(teacher, past, past_sigma, actions, has_action, x,
                         t_sig[segment * per:(segment + 1) * per + 1], cfg.guidance)
    target = x_b if b_ == 0 else x + (x_b - x) * (a / (a - b_))   # the D that makes Euler land on x_b
    xs = torch.cat([past, x[:, None]], 1)                             # (b, t, c, h, w)
    sigmas = torch.cat([past_sigma, torch.full((b, 1), a, device=dev)], 1)
    den = student(xs, sigmas, actions, has_action, torch.arange(t))[:, -1]
    weight = (a ** 2 + dc.sigma_data ** 2) / (a * dc.sigma_data) ** 2
    return weight * (den.float() - target.float()).pow(2).mean()


def distill_world(teacher_path, data, out, cfg: DistillConfig, seed: int = 0, device: str | None = None,
                  save_every: float = 120.0, progress: bool = True, source: str | None = None,
                  precision: str = "auto") -> Path:
    """Train a student of the world at `teacher_path` on the latent clips of the recording `data`.
    `data` None = the recording the teacher was trained on, if it is still there.
    OUT becomes a world checkpoint (the student), with the teacher copied into OUT/teacher so the
    slow path travels with it. Resumes if OUT holds a killed run. `source` names the teacher in
    the student's config (default: its path). precision: "auto" (bf16 autocast where it is faster,
    as in train_dynamics; the same network), "bf16" or "fp32"."""
    from worldmodel.data import load_episodes, split_episodes
    from worldmodel.training import EMA, JsonlLog, autocast, lr_at, use_bf16
    from worldmodel.world import load_world_parts, save_world, teacher_dir
    from .train import LatentClips, latent_key, load_or_encode, load_resumable, save_resumable

    teacher_path, out = Path(teacher_path), Path(out)
    config, ae, teacher = load_world_parts(teacher_path)
    if "distilled" in config:
        raise ValueError(f"{teacher_path} is already a distilled student; distil its teacher "
                         f"({teacher_dir(teacher_path, config)}) instead")
    if data is None:
        data = _teacher_recording(config)
    meta, episodes = load_episodes(data)
    if meta.get("env") != config.get("env", {}).get("env"):
        raise ValueError(f"{data} holds {meta.get('env')!r} but the teacher learned {config.get('env', {}).get('env')!r}")
    if episodes[0].frames.shape[1] != ae.config.image_size:
        raise ValueError(f"the teacher works at {ae.config.image_size}px but {data} holds {episodes[0].frames.shape[1]}px frames")
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    bf16 = use_bf16(dev, precision)
    train_ids, _ = split_episodes(len(episodes), seed=seed)
    names = [e["name"] for e in meta["episodes"]]
    clips = LatentClips(load_or_encode(ae, episodes, out, dev, latent_key(ae, data, names)), episodes, train_ids,
                        teacher.net.config.context + 1)
    teacher = teacher.to(dev).requires_grad_(False)
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.99))
    ema = EMA(student.net, cfg.ema)
    _, s_sig = cfg.schedules(teacher.config)
    student_config = {**{k: v for k, v in config.items() if k not in ("trained_steps", "train")},
                      "sampling": {"steps": cfg.student_steps, "guidance_scale": 1.0, "sampler": "euler",
                                   "sigmas": s_sig},
                      "distilled": {"teacher": "teacher", "method": "trajectory", **asdict(cfg),
                                    "seed": seed, "data": str(data), "teacher_source": source or str(teacher_path)}}
    _copy_teacher(teacher_path, out / "teacher", cfg)
    log = JsonlLog(out / "log.jsonl")
    start, total = 0, cfg.steps
    if (out / "train_state.json").is_file():
        start, _ = load_resumable(out, student.net, ema, opt)
        log.write(event="resume", step=start)
    gen = torch.Generator(dev).manual_seed(seed * 1000 + start)
    rng = np.random.default_rng(seed * 1000 + start)
    log.write(event="start", windows=len(clips), precision="bf16" if bf16 else "fp32", **asdict(cfg))

    def save(step: int):
        shadow = copy.deepcopy(student.net)
        shadow.load_state_dict({k: v.to(dev) for k, v in ema.shadow.items()})
        save_world(out, {**student_config, "trained_steps": step}, ae, Denoiser(shadow, teacher.config), half=True)
        save_resumable(out, student.net, ema, opt, step, total)
        if (teacher_path / "start.png").is_file():
            shutil.copy(teacher_path / "start.png", out / "start.png")

    last_save = t0 = time.time()
    bar = tqdm(total=total, initial=start, desc=f"distilling {cfg.teacher_steps}x2 -> {cfg.student_steps} steps",
               disable=not progress)
    for step in range(start, total):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, cfg.lr, warmup=min(100, total // 10))
        x0, a, m = clips.sample(rng, cfg.batch_size, dev)
        with autocast(dev, bf16):
            loss = distill_loss(student, teacher, x0, a, m, cfg, segment=step % cfg.student_steps, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        ema.update(student.net, step)
        if step % 25 == 0 or step == total - 1:
            bar.set_postfix(loss=f"{loss.item():.4f}")
            log.write(step=step, loss=loss.item(), segment=step % cfg.student_steps)
        bar.update(1)
        if time.time() - last_save > save_every:
            save(step + 1)
            last_save = time.time()
    bar.close()
    save(total)
    log.write(event="done", step=total, seconds=round(time.time() - t0, 1))
    return out


def _teacher_recording(config: dict) -> str:
    data = config.get("train", {}).get("data")
    if not data or not Path(data, "meta.json").is_file():
        env = config.get("env", {})
        raise ValueError(f"no --data given and the teacher's training recording ({data}) is not here; record one, e.g. "
                         f"`worldmodel record --env {env.get('env', 'ENV')} --size {env.get('size', 64)} --episodes 100 "
                         f"--steps 300 --policy sticky --out data/rec` and pass --data data/rec")
    return data


def _copy_teacher(src: Path, dst: Path, cfg: DistillConfig) -> None:
    """The teacher's checkpoint, with its sampling set to what the student imitates."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and (f.suffix == ".safetensors" and f.name.startswith("model") or
                            f.name in ("MODEL_CARD.md", "start.png", "metrics.json", "log.jsonl")):
            shutil.copy(f, dst / f.name)
    config = json.loads((src / "config.json").read_text())
    config["sampling"] = {**config.get("sampling", {}), "steps": cfg.teacher_steps, "guidance_scale": cfg.guidance,
                          "sampler": "euler"}
    (dst / "config.json").write_text(json.dumps(config, indent=2))
