"""Samplers: turn a denoiser into the next latent frame.

A sampler only sees `denoise_fn(x, sigma, action_on) -> denoised`, where x is (b', c, h, w),
sigma a float and action_on a (b',) bool tensor (False = the null action). Whether past frames
come from a KV cache or are recomputed is the caller's business (worldmodel.World). Every
sampler has the signature `sampler(denoise_fn, noise, sigmas, guidance) -> x0`, so a distilled
few-step sampler plugs in the same way.
"""
from __future__ import annotations

from typing import Callable

import torch

from .diffusion import DiffusionConfig

DenoiseFn = Callable[[torch.Tensor, float, torch.Tensor], torch.Tensor]


def karras_sigmas(steps: int, cfg: DiffusionConfig, sigma_max: float | None = None) -> list[float]:
    """EDM's schedule: `steps` noise levels from sigma_max (cfg's, or a warm start's lower one)
    down to sigma_min, then 0."""
    if steps < 1:
        raise ValueError(f"need at least 1 denoising step, got {steps}")
    top = cfg.sigma_max if sigma_max is None else float(sigma_max)
    if not cfg.sigma_min < top <= cfg.sigma_max:
        raise ValueError(f"a schedule must start in ({cfg.sigma_min:g}, {cfg.sigma_max:g}], got {top:g}")
    if steps == 1:
        return [top, 0.0]
    lo, hi = cfg.sigma_min ** (1 / cfg.rho), top ** (1 / cfg.rho)
    s = [(hi + i / (steps - 1) * (lo - hi)) ** cfg.rho for i in range(steps)]
    return s + [0.0]


def warm_start_input(previous: torch.Tensor, noise: torch.Tensor, sigma0: float) -> torch.Tensor:
    """What to hand a sampler so that it starts from the previous latent frame noised to sigma0
    rather than from pure noise (SDEdit, Meng et al. 2022): samplers scale their input by the
    schedule's first level, so previous / sigma0 + noise becomes previous + sigma0 * noise. What the
    previous frame shows and the noise does not hide (a sprite, at a low enough sigma0) stays in the
    sampler's input; a schedule that starts at sigma_max hides everything and the denoiser must
    redraw it from the past frames alone."""
    return previous / sigma0 + noise


def guided(denoise_fn: DenoiseFn, x: torch.Tensor, sigma: float, guidance: float) -> torch.Tensor:
    """Classifier-free guidance on the action: uncond + w (cond - uncond).
    w = 1 is the plain conditional prediction and w = 0 the unconditional one, each in one pass;
    any other w batches both passes into one call."""
    b = x.shape[0]
    on = torch.ones(b, dtype=torch.bool, device=x.device)
    if guidance == 1.0:
        return denoise_fn(x, sigma, on)
    if guidance == 0.0:
        return denoise_fn(x, sigma, ~on)
    cond, uncond = denoise_fn(torch.cat([x, x]), sigma, torch.cat([on, ~on])).chunk(2)
    return uncond + guidance * (cond - uncond)


def subsample_sigmas(sigmas: list[float], steps: int) -> list[float]:
    """Every (len-1)/steps-th level of a schedule, ending at its final 0: the noise levels of a
    `steps`-step student that sit exactly on its teacher's schedule."""
    n = len(sigmas) - 1
    if steps < 1 or n % steps:
        raise ValueError(f"a {steps}-step schedule must divide the teacher's {n} steps evenly")
    return [sigmas[i] for i in range(0, n, n // steps)] + [sigmas[-1]]


def euler_step(x: torch.Tensor, denoised: torch.Tensor, s: float, s_next: float) -> torch.Tensor:
    """One Euler step of the probability-flow ODE dx/ds = (x - D(x; s)) / s from s to s_next."""
    return denoised if s_next == 0 else x + (x - denoised) / s * (s_next - s)


def euler_solve(denoise_fn: DenoiseFn, x: torch.Tensor, sigmas: list[float], guidance: float) -> torch.Tensor:
    """Euler steps from x, which is already at noise level sigmas[0], through every later level."""
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        x = euler_step(x, guided(denoise_fn, x, s, guidance), s, s_next)
    return x


@torch.no_grad()
def euler_sample(denoise_fn: DenoiseFn, noise: torch.Tensor, sigmas: list[float], guidance: float) -> torch.Tensor:
    """Deterministic Euler steps of the probability-flow ODE (EDM Algorithm 1 without Heun). A
    distilled student samples with this too, on its own few noise levels and with guidance 1."""
    return euler_solve(denoise_fn, noise * sigmas[0], sigmas, guidance)


@torch.no_grad()
def heun_sample(denoise_fn: DenoiseFn, noise: torch.Tensor, sigmas: list[float], guidance: float) -> torch.Tensor:
    """EDM Algorithm 1 (2nd-order Heun correction), twice the cost per step of Euler."""
    x = noise * sigmas[0]
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        den = guided(denoise_fn, x, s, guidance)
        d = (x - den) / s
        if s_next == 0:
            x = den
            continue
        x_next = x + d * (s_next - s)
        d2 = (x_next - guided(denoise_fn, x_next, s_next, guidance)) / s_next
        x = x + (d + d2) / 2 * (s_next - s)
    return x


SAMPLERS = {"euler": euler_sample, "heun": heun_sample}
