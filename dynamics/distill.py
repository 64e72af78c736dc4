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
- A teacher trained with a salience weight (DiffusionConfig.salience_weight) passes it on: the
  student's error is weighted where the teacher's frame differs from the batch's median frame.
  The teacher's map from noise to frame is deterministic, so the weight does not move the
  optimum; it decides where a student too small to match it everywhere spends its capacity:
  on the small things the teacher draws, as the teacher's own loss did.
- Inputs match play time: past frames are real latents at the context noise level, the current
  frame is a real latent plus noise at level a (pure noise at the first level, as the sampler
  starts; with a warm start, the previous real latent plus noise at that level, as
  sampler.warm_start_input starts), and the teacher sees the past through the KV cache, as when
  playing.
The student starts as a copy of the teacher and is an ordinary world checkpoint; the loop that
trains it is worldmodel/train/distill.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .diffusion import Denoiser, salience_weights, shorten_past
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
    warm_start: float = 0.0    # > 0: both sample from the previous frame noised to this sigma (SDEdit)

    def __post_init__(self):
        if self.student_steps < 1 or self.teacher_steps % self.student_steps:
            raise ValueError(f"teacher steps ({self.teacher_steps}) must be a multiple of student steps "
                             f"({self.student_steps})")
        if not np.isfinite(self.guidance):
            raise ValueError(f"guidance must be finite, got {self.guidance}")
        if not self.warm_start >= 0:
            raise ValueError(f"warm_start must be >= 0 (0: off), got {self.warm_start}")

    def schedules(self, diffusion) -> tuple[list[float], list[float]]:
        """(teacher noise levels, student noise levels), both ending at 0; the student's are a subset."""
        teacher = karras_sigmas(self.teacher_steps, diffusion, self.warm_start or None)
        return teacher, subsample_sigmas(teacher, self.student_steps)


@torch.no_grad()
def teacher_target(teacher: Denoiser, past, past_sigma, actions, has_action, x, sigmas: list[float],
                   guidance: float) -> torch.Tensor:
    """Run the guided teacher's Euler steps over `sigmas` on the current frame x (b, c, h, w), which
    sits at sigmas[0]; past (b, t-1, c, h, w) frames at noise past_sigma (b, t-1) go through the KV
    cache once. actions (b, t, a), has_action (b, t) cover the past and the current frame."""
    b, t = actions.shape[:2]
    cache = teacher.net.new_cache()
    positions = torch.arange(t)
    teacher(past, past_sigma, actions[:, :-1], has_action[:, :-1], positions[:-1], cache=cache, commit=True, last=0)
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
    if segment == 0:                                                  # (b, c, h, w), as the sampler starts
        x = x0[:, -2] + a * eps if cfg.warm_start else eps * a
    else:
        x = x0[:, -1] + a * eps
    xs = torch.cat([past, x[:, None]], 1)                             # (b, t, c, h, w)
    sigmas = torch.cat([past_sigma, torch.full((b, 1), a, device=dev)], 1)
    # as the teacher was trained: some clips keep only their newest past frames, since a play
    # starts from one frame (diffusion.shorten_past); both networks see the same short past
    xs, sigmas, has_action = shorten_past(dc, xs, sigmas, has_action, generator)
    x_b = teacher_target(teacher, xs[:, :-1], sigmas[:, :-1], actions, has_action, x,
                         t_sig[segment * per:(segment + 1) * per + 1], cfg.guidance)
    target = x_b if b_ == 0 else x + (x_b - x) * (a / (a - b_))   # the D that makes Euler land on x_b
    den = student(xs, sigmas, actions, has_action, torch.arange(t), last=1)[:, -1]    # the U-Net computes only it
    weight = (a ** 2 + dc.sigma_data ** 2) / (a * dc.sigma_data) ** 2
    per_pos = (den.float() - target.float()).pow(2).mean(dim=1)      # (b, h, w)
    if dc.salience_weight > 0:      # the teacher's loss weight, on the clean frame the teacher draws
        # (target: x_b itself at the last step, before it the clean estimate that lands on x_b)
        drawn = torch.cat([x0[:, :-1].float(), target[:, None].float()], 1)
        per_pos = per_pos * salience_weights(drawn, dc.salience_weight)[:, -1]
    return weight * per_pos.mean()
