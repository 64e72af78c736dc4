"""Noise parameterisation and loss: EDM (Karras et al. 2022) preconditioning around the network,
trained with an independent noise level per frame (Diffusion Forcing, Chen et al. 2024) and the
action dropped to null with probability `p_uncond` (classifier-free guidance, Ho & Salimans 2022).

DIAMOND (Alonso et al. 2024) showed EDM keeps world-model rollouts stable with very few
denoising steps, which is what a real-time world needs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .transformer import DynamicsTransformer, warp_by_action


@dataclass
class DiffusionConfig:
    sigma_data: float = 1.0      # latents are normalised to unit std by the autoencoder
    p_mean: float = -0.4         # log-normal training noise distribution (EDM/DIAMOND)
    p_std: float = 1.2
    sigma_min: float = 2e-3      # sampling schedule
    sigma_max: float = 5.0
    rho: float = 7.0
    context_noise: float = 0.1   # noise added to past frames at play time (fights drift)
    p_uncond: float = 0.15       # action -> null at training, per frame
    p_clean_context: float = 0.5 # clips whose past frames get only context-level noise
    loss_frames: str = "all"     # "all" (Diffusion Forcing) or "last": only the predicted frame
    short_past: float = 0.25     # loss "last": clips whose oldest past frames are made absent (see diffusion_loss)
    motion_weight: float = 0.0   # > 0: up-weight latent positions where the past frames moved
    salience_weight: float = 0.0 # > 0: up-weight latent positions unlike the batch's median frame
    residual: bool = False       # precondition around the previous frame (Denoiser): unsure -> as it was
    warp_weight: float = 1.0     # networks with an action warp: weight of its motion-compensation loss

    def __post_init__(self):
        if self.loss_frames not in ("all", "last"):
            raise ValueError(f"loss_frames must be 'all' or 'last', got {self.loss_frames!r}")
        if not 0 <= self.p_clean_context <= 1:
            raise ValueError(f"p_clean_context must be in [0, 1], got {self.p_clean_context}")
        if not 0 <= self.short_past <= 1:
            raise ValueError(f"short_past must be in [0, 1], got {self.short_past}")
        if not 0 <= self.p_uncond <= 1:
            raise ValueError(f"p_uncond must be in [0, 1], got {self.p_uncond}")
        if not self.warp_weight >= 0:
            raise ValueError(f"warp_weight must be >= 0, got {self.warp_weight}")
        if not self.motion_weight >= 0:
            raise ValueError(f"motion_weight must be >= 0, got {self.motion_weight}")
        if not self.salience_weight >= 0:
            raise ValueError(f"salience_weight must be >= 0, got {self.salience_weight}")


class Denoiser(nn.Module):
    """D(x; sigma) = c_skip x + c_out F(c_in x, c_noise): the EDM wrapper of the raw network.

    With config.residual, the same preconditioning around the frame before:
    D = p + c_skip (x - p) + c_out F, p the previous frame as the network sees it (its latent at
    the context noise; zero where there is none). At high noise c_skip -> 0 and D -> p + F, so the
    network predicts the change from the previous frame, and what it cannot tell stays as it was
    instead of fading to the average frame (defend_the_center's distant demons: the plain
    denoiser wipes most of them even out of a frame noised to 1 that shows them plainly). Only
    for the frame-stacking U-Net, whose cache holds the past frames themselves."""

    def __init__(self, net: DynamicsTransformer, config: DiffusionConfig):
        super().__init__()
        if config.residual and getattr(net.config, "arch", None) != "unet":
            raise ValueError("DiffusionConfig.residual needs the frame-stacking U-Net (--model arch=unet): "
                             "the transformer's KV cache does not keep the previous frame")
        self.net, self.config = net, config

    def forward(self, x_noisy, sigma, actions, action_mask, positions, cache=None, commit=False,
                last: int | None = None):
        # x_noisy (b, t, c, h, w); sigma (b, t) -> (b, t, c, h, w), or only the last `last` frames
        # (last=0: no prediction, only a commit of the frames to the cache)
        sd = self.config.sigma_data
        s = sigma[..., None, None, None].to(x_noisy.dtype)
        c_skip = sd ** 2 / (s ** 2 + sd ** 2)
        c_out = s * sd / (s ** 2 + sd ** 2).sqrt()
        c_in = 1 / (s ** 2 + sd ** 2).sqrt()
        c_noise = sigma.log() / 4
        prev = self._previous(x_noisy, cache, last) if self.config.residual else None   # before the net commits
        f = self.net(c_in * x_noisy, c_noise, actions, action_mask, positions, cache, commit, last=last)
        first = x_noisy.shape[1] - f.shape[1]                  # (not -n: n may be 0)
        out = c_skip[:, first:] * x_noisy[:, first:] + c_out[:, first:] * f.to(x_noisy.dtype)
        if prev is not None and f.shape[1]:
            out = out + (1 - c_skip[:, first:]) * prev
        return out

    def _previous(self, x_noisy, cache, last: int | None) -> torch.Tensor:
        """(b, n, c, h, w): the frame before each of the last n input frames, as the network is
        given it: the input frame before it, or for the first input frame the newest cached frame
        (its c_in-scaled input, scaled back), or zeros where there is none (an episode's first
        frame, an absent past)."""
        b, t = x_noisy.shape[:2]
        n = t if last is None else last
        if cache is not None and cache.length:
            sd = self.config.sigma_data
            sig = (4 * cache.c_noise[:, -1].float()).exp()[:, None, None, None]                   # (b, 1, 1, 1)
            newest = cache.x[:, -1].float() * (sig ** 2 + sd ** 2).sqrt()                          # (b, c, h, w)
            newest = torch.where(sig > 500, torch.zeros_like(newest), newest)      # absent (sigma 1000; bf16-safe)
            newest = newest.repeat(b // newest.shape[0], 1, 1, 1)        # guidance batches cond + uncond rows
        else:
            newest = torch.zeros_like(x_noisy[:, 0])
        before = torch.cat([newest[:, None].to(x_noisy.dtype), x_noisy[:, :-1]], 1)               # (b, t, ...)
        return before[:, t - n:]


def sample_training_sigmas(b: int, t: int, cfg: DiffusionConfig, generator=None, device=None) -> torch.Tensor:
    """(b, t) noise levels: independent per frame; in a fraction of clips the past frames get
    only play-time context noise, so the common play-time case (clean past, noisy present) is
    seen often."""
    sigma = (torch.randn(b, t, generator=generator, device=device) * cfg.p_std + cfg.p_mean).exp()
    clean = torch.rand(b, generator=generator, device=device) < cfg.p_clean_context
    ctx = torch.rand(b, t - 1, generator=generator, device=device) * cfg.context_noise + cfg.sigma_min
    sigma[:, :-1] = torch.where(clean[:, None], ctx, sigma[:, :-1])
    return sigma


def diffusion_loss(denoiser: Denoiser, x0, actions, has_action, generator=None) -> torch.Tensor:
    """EDM loss over every frame of clips x0 (b, t, c, h, w) with actions (b, t, a)."""
    cfg = denoiser.config
    b, t = x0.shape[:2]
    sigma = sample_training_sigmas(b, t, cfg, generator, x0.device)
    keep = torch.rand(b, t, generator=generator, device=x0.device) >= cfg.p_uncond
    mask = has_action & keep
    noise = torch.randn(x0.shape, generator=generator, device=x0.device)
    x_noisy = x0 + sigma[..., None, None, None] * noise
    x_noisy, sigma, mask = shorten_past(cfg, x_noisy, sigma, mask, generator)
    positions = torch.arange(t, device=x0.device)
    n = 1 if cfg.loss_frames == "last" else t                                    # frames the loss covers
    denoised = denoiser(x_noisy, sigma, actions, mask, positions, last=n)        # (b, n, c, h, w)
    weight = (sigma ** 2 + cfg.sigma_data ** 2) / (sigma * cfg.sigma_data) ** 2  # EDM's lambda
    per_pos = (denoised.float() - x0[:, -n:].float()).pow(2).mean(dim=2)         # (b, n, h, w)
    if cfg.motion_weight > 0:
        per_pos = per_pos * motion_weights(x0.float(), cfg.motion_weight)[:, -n:]
    if cfg.salience_weight > 0:
        per_pos = per_pos * salience_weights(x0.float(), cfg.salience_weight)[:, -n:]
    per_frame = per_pos.mean(dim=(2, 3))                                         # (b, n)
    loss = (weight[:, -n:] * per_frame).mean()
    net = getattr(denoiser, "net", None)
    if net is not None and net.config.warp and cfg.warp_weight > 0:
        loss = loss + cfg.warp_weight * warp_loss(net, x0, actions, mask)
    return loss


def shorten_past(cfg: DiffusionConfig, x_noisy, sigma, mask, generator=None):
    """With the loss on the newest frame only (cfg.loss_frames "last"), in cfg.short_past of the
    clips of x_noisy (b, t, c, h, w) keep only the newest 1..t-2 past frames (uniformly) and make the
    older ones absent as the U-Net sees a missing past (zero input at sigma 1000, no action; the
    transformer sees its first frame's missing previous frame so too, but still attends to them).
    A play starts from one frame (World.reset), so its first steps have a past of 1, 2, ... frames;
    a loss on the newest frame of full windows alone never shows the network such a past (the
    Diffusion Forcing loss on every frame does, through the clip's first frames). Clips of two
    frames, and the other losses, are returned unchanged."""
    b, t = sigma.shape
    if cfg.loss_frames != "last" or cfg.short_past <= 0 or t <= 2:
        return x_noisy, sigma, mask
    dev = sigma.device
    short = torch.rand(b, generator=generator, device=dev) < cfg.short_past
    keep = torch.randint(1, t - 1, (b,), generator=generator, device=dev)          # past frames kept
    frame = torch.arange(t, device=dev)[None]
    absent = short[:, None] & (frame < (t - 1 - keep)[:, None])                     # (b, t)
    x_noisy = torch.where(absent[..., None, None, None], torch.zeros_like(x_noisy), x_noisy)
    sigma = torch.where(absent, torch.full_like(sigma, 1e3), sigma)
    return x_noisy, sigma, mask & ~absent


def warp_loss(net, x0, actions, mask) -> torch.Tensor:
    """Motion compensation learned by regression: the clean previous frame warped by each frame's
    action (transformer.warp_by_action with the network's warp_mlp, transformer or U-Net) should match that frame. The diffusion loss reaches the
    warp only through the network's use of the previous frame, a weak and noisy signal; this
    one tells the warp directly what each action does to the view, so the previous-frame path
    carries a frame already moved by the action. Coarse to fine (the frames average-pooled 4x, 2x,
    then at full size): bilinear sampling has a gradient only towards the neighbouring latent
    cells, so a shift of several cells is found on the pooled frames first."""
    b, t = x0.shape[:2]
    actions = actions[..., :net.config.action_dim]          # without the episode clock (U-Net, clock on)
    loss = 0.0
    for s in (4, 2, 1):
        xs = x0 if s == 1 else F.avg_pool2d(x0.flatten(0, 1).float(), s).unflatten(0, (b, t))
        warped = warp_by_action(net.warp_mlp, xs[:, :-1], actions[:, 1:], mask[:, 1:], net.config.warp_grid,
                                net.config.warp_mode)                       # (b, t-1, c, h/s, w/s)
        loss = loss + (warped.float() - xs[:, 1:].float()).pow(2).mean()
    return loss / 3


def motion_weights(x0: torch.Tensor, strength: float) -> torch.Tensor:
    """(b, t, c, h, w) -> (b, t, h, w) loss weights: 1 + strength * (how much each latent position
    moved between the two frames before: mean |change| over channels, in units of the latents'
    unit std), spread to the 3x3 neighbourhood so a sprite's next position is covered.

    Small moving things (a boxer among a static ring) are a tiny share of a frame's squared
    error, so an unweighted loss learns the background first and the motion, which carries the
    action, last. Frame i's weight reads only frames i-2 and i-1. With a (nearly) clean past, as
    with --clean-context 1.0, the network sees those frames, so the per-position optimum stays
    the posterior mean E[x0 | noisy frame, past, action]; with a heavily noised past it is tilted
    towards moving outcomes."""
    moved = (x0[:, 1:] - x0[:, :-1]).abs().mean(dim=2)                          # (b, t-1, h, w)
    moved = torch.nn.functional.max_pool2d(moved, 3, stride=1, padding=1)
    w = torch.ones(x0.shape[0], x0.shape[1], *x0.shape[3:], device=x0.device)
    w[:, 2:] = 1 + strength * moved[:, :-1]                                    # frame i: motion i-2 -> i-1
    return w


def salience_weights(x0: torch.Tensor, strength: float, cap: float = 100.0) -> torch.Tensor:
    """(b, t, c, h, w) -> (b, t, h, w) loss weights: 1 + strength * (how far each latent position
    of the frame, or of the frame before it, lies from the batch's median frame there: the squared
    difference averaged over channels, divided by its mean over the batch and capped at `cap` so
    that one odd frame in a blank batch cannot take the whole loss), spread to the 3x3 neighbourhood.
    Squared, as the loss is: on defend_the_center's frames (32-channel patch PCA) a demon's latent
    cells lie 6.7x as far from the median frame as the rest of the view's middle band in mean
    |difference|, 13.9x in squared difference (scripts/salience_probe.py); at strength 10 they
    weigh 10x the band. The weights are not normalised: at strength 10 the loss reads about 25x
    larger, so gradient clipping (norm 1) acts on more steps; Adam's updates hardly change with
    the loss's scale otherwise.

    In a world that looks alike from every side (defend_the_center's round arena) the median
    frame is the empty arena, and what lies far from it is what the player looks for: a demon
    a few pixels tall, a sub-cell detail that an unweighted loss prices at almost nothing, so
    that the network learns to draw the empty arena and erases the demons of the frames it is
    given. Unlike motion_weights this reads the predicted frame itself, so it tilts the per-position
    optimum from the posterior mean towards outcomes unlike the median frame (a demon drawn where
    one may be, rather than an arena averaged over whether it is there); the previous frame's
    term keeps a place where a demon stood weighted in the frame after it, drawn or not."""
    median = x0.flatten(0, 1).median(dim=0).values                            # (c, h, w)
    far = (x0 - median).pow(2).mean(dim=2)                                     # (b, t, h, w)
    far = (far / far.mean().clamp_min(1e-6)).clamp(max=cap)
    far = torch.cat([far[:, :1], torch.maximum(far[:, 1:], far[:, :-1])], 1)   # frame i: itself and i-1
    far = torch.nn.functional.max_pool2d(far, 3, stride=1, padding=1)
    return 1 + strength * far
