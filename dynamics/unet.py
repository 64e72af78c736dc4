"""A second dynamics network: a frame-stacking convolutional U-Net (DIAMOND's choice for Atari world
models, Alonso et al. 2024; the U-Net of Ronneberger et al. 2015 with the adaptive group norm of
diffusion U-Nets).

The noisy frame and the `context` frames before it are stacked as channels, so every layer
compares them at the same place: turning and walking move the view by a few latent cells, which
3x3 convolutions at three resolutions see directly, and skip connections carry the fine detail of
the past frames to the output, where a patch transformer has to route it through attention.
Each frame is conditioned, through the scale and shift of every group norm, on its noise level,
its own action (the learned null action where it is dropped: classifier-free guidance) and the
past frames' actions and noise levels (how long a turn has been held sets its speed), and with
`clock` on, its episode clock (DynamicsConfig.clock: the last channel of `actions`).

It takes the same inputs as `DynamicsTransformer` and predicts each input frame from the frames
before it (within the input, then the cache); its cache (`FrameCache`) holds the past frames
themselves, since the network reads them whole at every step.

einops letters as in transformer.py; here also  f  the frame and the W past frames, stacked as channels.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from .cache import FrameCache
from .transformer import (ABSENT_C_NOISE, DynamicsConfig, clock_embedding, fourier_embedding, new_warp_mlp,
                          warp_by_action)


def _groups(channels: int) -> int:
    return next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)


class ResBlock(nn.Module):
    """Two 3x3 convolutions after group norms whose scale and shift come from the frame's condition."""

    def __init__(self, cin: int, cout: int, dcond: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin, affine=False)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(cout), cout, affine=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)       # the block starts as its skip path
        nn.init.zeros_(self.conv2.bias)
        self.ada = nn.Linear(dcond, 2 * (cin + cout))
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.split = (cin, cin, cout, cout)

    def forward(self, h, cond):
        # h (B, cin, h, w); cond (B, d): B = frames being predicted
        s1, b1, s2, b2 = (v[:, :, None, None] for v in self.ada(F.silu(cond)).split(self.split, dim=1))
        y = self.conv1(F.silu(self.norm1(h) * (1 + s1) + b1))
        y = self.conv2(F.silu(self.norm2(y) * (1 + s2) + b2))
        return self.skip(h) + y


class DynamicsUNet(nn.Module):
    """Three resolutions (latent_size, /2, /4) of `depth` ResBlocks each, `dim` channels at the
    top and 2*dim below; one skip connection per resolution."""

    def __init__(self, config: DynamicsConfig):
        super().__init__()
        self.config = cfg = config
        if cfg.latent_size % 4:
            raise ValueError(f"the U-Net halves the latents twice: latent_size {cfg.latent_size} must be divisible by 4")
        c, d, w = cfg.latent_channels, cfg.dim, cfg.context
        chans = (d, 2 * d, 2 * d)
        self.noise_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.action_mlp = nn.Sequential(nn.Linear(cfg.action_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.null_action = nn.Parameter(torch.zeros(d))
        # the past frames' actions (zero where absent or dropped) and noise levels, one vector
        self.past_mlp = nn.Sequential(nn.Linear(w * (cfg.action_dim + 1), d), nn.SiLU(), nn.Linear(d, d))
        if cfg.clock:   # zero-initialised: a world given a clock starts out playing as it did without
            self.clock_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
            nn.init.zeros_(self.clock_mlp[2].weight)
            nn.init.zeros_(self.clock_mlp[2].bias)
        self.conv_in = nn.Conv2d(c * (w + 1 + cfg.warp), d, 3, padding=1)
        if cfg.warp:
            # Motion compensation (as the transformer's warp, transformer.py's _warp): the previous
            # frame, resampled along a flow field read from the frame's action, joins the stack as
            # one more frame. Why: a turn moves defend_the_center's view 2-3 pixels a step
            # (scripts/view_shift.py), part of a latent cell, which the 3x3 convolutions must
            # otherwise learn to interpolate from the coefficients of neighbouring cells. Its input
            # weights start at zero, so the network starts as the one without it.
            self.warp_mlp = new_warp_mlp(cfg.action_dim, cfg.warp_grid)
            nn.init.zeros_(self.conv_in.weight[:, c * (w + 1):])
        self.down = nn.ModuleList()
        cin = d
        for ch in chans:
            self.down.append(nn.ModuleList(ResBlock(cin if i == 0 else ch, ch, d) for i in range(cfg.depth)))
            cin = ch
        self.downsample = nn.ModuleList(nn.Conv2d(ch, ch, 3, stride=2, padding=1) for ch in chans[:-1])
        self.mid = nn.ModuleList(ResBlock(chans[-1], chans[-1], d) for _ in range(2))
        self.up = nn.ModuleList()
        for i, ch in reversed(list(enumerate(chans))):
            below = chans[-1] if i == len(chans) - 1 else chans[i + 1]
            self.up.append(nn.ModuleList(ResBlock((below + ch) if j == 0 else ch, ch, d) for j in range(cfg.depth)))
        self.upsample = nn.ModuleList(nn.Conv2d(ch, ch, 3, padding=1) for ch in reversed(chans[1:]))
        self.norm_out = nn.GroupNorm(_groups(d), d)
        self.conv_out = nn.Conv2d(d, c, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)    # the network starts as the zero function
        nn.init.zeros_(self.conv_out.bias)

    def new_cache(self) -> FrameCache:
        return FrameCache(self.config.context)

    def forward(self, x, c_noise, actions, action_mask, positions, cache: FrameCache | None = None,
                commit: bool = False, last: int | None = None):
        """x (b, t, c, h, w) -> (b, t, c, h, w), or only the last `last` frames' predictions
        (last=0: none, the network is not run; a commit then only stores the frames).
        actions (b, t, config.action_inputs): each frame's action, then (clock on) its clock.

        positions (t,): consecutive frame indices. With a cache, its frames come before the
        input's; commit=True appends the input frames to it."""
        if commit and cache is None:
            raise ValueError("commit=True needs a cache")
        if actions.shape[-1] != self.config.action_inputs:
            raise ValueError(f"this network takes actions of {self.config.action_inputs} channels (the action"
                             f"{', then the episode clock' if self.config.clock else ''}), got {actions.shape[-1]}")
        n = x.shape[1] if last is None else last
        seq = self._sequence(x, c_noise, actions, action_mask, positions, cache)   # past + input, W absent first
        out = self._predict(x, c_noise, actions, action_mask, seq, n) if n else x[:, :0]
        if commit:                                   # the past is what the next frames read
            cache.append(x.detach(), c_noise.detach(), actions.detach(), action_mask.detach(), positions)
        return out

    def _predict(self, x, c_noise, actions, action_mask, seq, n: int):
        """The last n input frames' predictions (b, n, c, h, w), each from its W frames before it in seq."""
        cfg = self.config
        b, w = x.shape[0], cfg.context
        # frame i of the input sits at seq index W + s + i (s = cached frames); its stack is the W before it
        first = seq["x"].shape[1] - n
        idx = torch.arange(first, first + n, device=x.device)[:, None] - torch.arange(w, 0, -1, device=x.device)  # (n, W)
        past_x = seq["x"][:, idx]                                                  # (b, n, W, c, h, w)
        past_c = seq["c"][:, idx]                                                  # (b, n, W)
        a = cfg.action_dim                                                         # channels after it: the clock
        past_a = seq["a"][:, idx, :a] * seq["m"][:, idx, None].to(seq["a"].dtype)       # (b, n, W, a)
        stack = torch.cat([x[:, -n:, None], past_x], 2)                            # (b, n, W+1, c, h, w)
        if cfg.warp:                            # the previous frame moved as the action moves the view
            warped = warp_by_action(self.warp_mlp, past_x[:, :, -1], actions[:, -n:, :a], action_mask[:, -n:],
                                    cfg.warp_grid, cfg.warp_mode)                 # (b, n, c, h, w)
            stack = torch.cat([stack, warped[:, :, None]], 2)                      # (b, n, W+2, c, h, w)
        h = self.conv_in(rearrange(stack, "b n f c h w -> (b n) (f c) h w"))
        act = self.action_mlp(actions[:, -n:, :a])
        act = torch.where(action_mask[:, -n:, None], act, self.null_action.to(act.dtype))
        past = torch.cat([past_a.flatten(2), past_c.to(past_a.dtype)], -1)        # (b, n, W*(a+1))
        cond = (self.noise_mlp(fourier_embedding(c_noise[:, -n:], cfg.dim).to(act.dtype)) + act
                + self.past_mlp(past))                                             # (b, n, d)
        if cfg.clock:           # not dropped with the action: guidance acts on the action alone
            clock = clock_embedding(actions[:, -n:, a], cfg.clock_max, cfg.dim)          # (b, n) -> (b, n, d)
            cond = cond + self.clock_mlp(clock.to(act.dtype))
        cond = cond.flatten(0, 1)                                                  # (b*n, d)
        skips = []
        for i, blocks in enumerate(self.down):
            for blk in blocks:
                h = blk(h, cond)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        for blk in self.mid:
            h = blk(h, cond)
        for i, blocks in enumerate(self.up):
            if i > 0:                                                              # back up one resolution
                h = self.upsample[i - 1](F.interpolate(h, scale_factor=2, mode="nearest"))
            h = torch.cat([h, skips.pop()], 1)
            for blk in blocks:
                h = blk(h, cond)
        out = self.conv_out(F.silu(self.norm_out(h)))                              # (b*n, c, h, w)
        return rearrange(out, "(b n) c h w -> b n c h w", b=b)

    def _sequence(self, x, c_noise, actions, action_mask, positions, cache):
        """The frames a prediction may look back on: W absent frames (zeros at a noise level that
        carries no information), the cached frames (those before a row's restart made absent too),
        then the input frames. Each (b, W + s + t, ...)."""
        b, w = x.shape[0], self.config.context
        absent = {"x": x.new_zeros((b, w, *x.shape[2:])), "c": c_noise.new_full((b, w), ABSENT_C_NOISE),
                  "a": actions.new_zeros((b, w, actions.shape[-1])), "m": action_mask.new_zeros((b, w))}
        parts = [absent]
        if cache is not None and cache.length > 0:
            if int(positions[0]) != int(cache.positions[-1]) + 1:
                raise ValueError("the U-Net's input frames must follow the cached frames directly")
            rep = b // cache.x.shape[0]                                            # CFG: cond + uncond on one cache
            held = {"x": cache.x.repeat(rep, 1, 1, 1, 1), "c": cache.c_noise.repeat(rep, 1),
                    "a": cache.actions.repeat(rep, 1, 1), "m": cache.mask.repeat(rep, 1)}
            if cache.row_start is not None:                                        # World.reset_rows
                start = cache.row_start.to(x.device).repeat(rep)                   # (b,)
                seen = cache.positions.to(x.device)[None, :] >= start[:, None]     # (b, s)
                held = {"x": held["x"] * seen[..., None, None, None].to(x.dtype),
                        "c": torch.where(seen, held["c"], torch.full_like(held["c"], ABSENT_C_NOISE)),
                        "a": held["a"] * seen[..., None].to(held["a"].dtype), "m": held["m"] & seen}
            parts.append(held)
        parts.append({"x": x, "c": c_noise, "a": actions, "m": action_mask})
        return {k: torch.cat([p[k].to(parts[-1][k].dtype) for p in parts], 1) for k in ("x", "c", "a", "m")}
