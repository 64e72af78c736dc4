"""The dynamics network: a transformer over latent-frame tokens.

Attention is causal across frames and full within a frame (block-causal), limited to a window of
`context` past frames, so that sampling can keep past frames in a sliding KV cache and run only
the current frame's tokens per denoising step (Genie 2's recipe; the mask is Diffusion Forcing's
causal mask). Each frame is conditioned, through adaLN-Zero (DiT), on its own noise level and its
own action; a learned null-action embedding replaces the action where it is dropped, which is what
classifier-free guidance contrasts against. Time enters only through rotary embeddings of frame
indices (RoPE), so attention depends on how far back a frame is, not on where the clip started.

einops legend (all of dynamics/):
    b  batch (worlds or clips)      t  frames            s  frames held in the KV cache
    c  latent channels              h, w  latent rows/cols
    p, q  patch rows/cols           n  tokens per frame = (h/p)(w/p)
    d  model width                  k  attention heads   e  head width (d / k)
    a  action vector size
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from .cache import KVCache


@dataclass
class DynamicsConfig:
    arch: str = "transformer"  # "transformer" (this file) or "unet" (unet.py: dim = top channels, depth = blocks per resolution)
    latent_channels: int = 4
    latent_size: int = 8
    action_dim: int = 25
    patch: int = 2
    dim: int = 128
    depth: int = 4
    heads: int = 4
    context: int = 4        # past frames each frame attends to (the KV-cache window W)
    mlp_ratio: float = 4.0
    prev_frame: bool = True # also feed each token the previous frame's patch at the same place
    conv_width: int = 0     # > 0: residual 3x3-conv stem and head of this width around the blocks
    warp: bool = False      # the previous frame reaches each frame warped by its action (see _warp; U-Net: one more stacked frame)
    warp_grid: int = 4      # the warp's flow field: a warp_grid x warp_grid grid of displacements
    warp_mode: str = "bilinear"  # how the warp resamples: "bilinear" or "bicubic" (keeps more detail, see _warp)
    # U-Net only. True: each predicted frame also reads its episode clock, the steps since the
    # episode began (0 at a reset), passed as one more channel after the action vector: actions
    # (b, t, action_dim + 1). Why: a few frames of context cannot tell the start of a game from
    # its middle, yet what comes next depends on it (defend_the_center's demons all start far
    # away; later the pistol runs out of ammunition, which no frame shows); without the
    # clock a world draws any time's events at any time. Clocks past `clock_max` read as it:
    # `train-dynamics` sets it to the latest step its recording shows (branches included), since
    # the world never saw later times.
    clock: bool = False
    clock_max: int = 300

    def __post_init__(self):
        if self.arch not in ("transformer", "unet"):
            raise ValueError(f"arch must be transformer or unet, got {self.arch!r}")
        if self.latent_size % self.patch:
            raise ValueError(f"latent_size {self.latent_size} is not divisible by patch {self.patch}")
        if self.warp_grid < 1:
            raise ValueError(f"warp_grid must be >= 1, got {self.warp_grid}")
        if self.warp_mode not in ("bilinear", "bicubic"):
            raise ValueError(f"warp_mode must be bilinear or bicubic, got {self.warp_mode!r}")
        if self.conv_width < 0:
            raise ValueError(f"conv_width must be >= 0 (0 = no conv stem/head), got {self.conv_width}")
        if self.clock and self.arch != "unet":
            raise ValueError("the episode clock (clock=True) is a U-Net option (arch='unet')")
        if self.clock_max < 1:
            raise ValueError(f"clock_max must be >= 1, got {self.clock_max}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"dim {self.dim} must split into {self.heads} heads of even width")

    @property
    def action_inputs(self) -> int:
        """Channels of the `actions` the network takes: the action vector, plus the clock."""
        return self.action_dim + int(self.clock)

    @property
    def tokens_per_frame(self) -> int:
        return (self.latent_size // self.patch) ** 2


def rope_tables(t_pos: torch.Tensor, side: int, e: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Axial rotary embedding (RoFormer, extended to 3 axes): the (cos, sin) tables, each (L, e/2),
    that rotate channel pairs of L tokens by angles from each token's frame index t_pos (L,), row
    and column, so attention scores depend on relative time and relative spatial offset. Tokens
    come in whole frames of side*side, so a token's row/column follow from its index. Computed
    once per forward pass and shared by every layer."""
    L = t_pos.shape[0]
    es = (e // 3) // 2 * 2                     # channels per spatial axis
    et = e - 2 * es                            # channels for time
    idx = torch.arange(L, device=t_pos.device) % (side * side)

    def angles(pos, width):
        freqs = 1.0 / (100.0 ** (torch.arange(0, width, 2, device=t_pos.device, dtype=torch.float32) / width))
        return pos.float()[:, None] * freqs[None]
    ang = torch.cat([angles(t_pos, et), angles(idx // side, es), angles(idx % side, es)], dim=1)  # (L, e/2)
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of x (b, k, L, e) by the tables of rope_tables."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


def frame_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, window: int, n: int) -> torch.Tensor:
    """Token mask (t*n, s*n), True = may attend: key frame j is visible from query frame i
    when i - window <= j <= i (causal across frames, full within a frame, sliding window)."""
    diff = q_pos[:, None] - k_pos[None, :]
    m = (diff >= 0) & (diff <= window)
    return m.repeat_interleave(n, 0).repeat_interleave(n, 1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x, rot, mask, cache: KVCache | None, layer: int, commit: bool):
        # x (b, t*n, d); rot: rope tables (cos, sin) of the queries and of all keys (cached + new)
        q, k, v = rearrange(self.qkv(x), "b l (three k e) -> three b k l e", three=3, k=self.heads)
        if cache is not None and cache.length > 0:
            ck, cv = cache.keys[layer], cache.values[layer]     # (b', k, s*n, e), raw (unrotated)
            if ck.shape[0] != q.shape[0]:                       # CFG runs cond+uncond on one cache
                ck = ck.repeat(q.shape[0] // ck.shape[0], 1, 1, 1)
                cv = cv.repeat(q.shape[0] // cv.shape[0], 1, 1, 1)
            k_all, v_all = torch.cat([ck, k], 2), torch.cat([cv, v], 2)
        else:
            k_all, v_all = k, v
        if commit:
            cache.store(layer, k, v)
        qr, kr = apply_rope(q, rot[0], rot[1]), apply_rope(k_all, rot[2], rot[3])
        o = F.scaled_dot_product_attention(qr, kr, v_all, attn_mask=mask)
        return self.out(rearrange(o, "b k l e -> b l (k e)"))


def per_frame(x: torch.Tensor, m: torch.Tensor):
    """x (b, t*n, d) as (b, t, n, d) and a per-frame m (b, t, d) as (b, t, 1, d), so that a
    frame's modulation is computed once and broadcast over its tokens."""
    b, t = m.shape[:2]
    return x.reshape(b, t, -1, x.shape[-1]), m[:, :, None]


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (b, t*n, d) * (1 + scale) + shift, with scale/shift (b, t, d) per frame."""
    xv, sc = per_frame(x, scale)
    return (xv * (1 + sc) + shift[:, :, None]).flatten(1, 2)


def gate(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """x (b, t*n, d) * g, with g (b, t, d) per frame."""
    xv, gv = per_frame(x, g)
    return (xv * gv).flatten(1, 2)


class Block(nn.Module):
    """Pre-norm transformer block with adaLN-Zero modulation from the per-frame condition."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.ada = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, cond, rot, mask, cache, layer, commit):
        # x (b, t*n, d); cond (b, t, d): one condition per frame, shared by its tokens
        s1, g1, a1, s2, g2, a2 = self.ada(F.silu(cond)).chunk(6, dim=-1)   # each (b, t, d)
        x = x + gate(self.attn(modulate(self.norm1(x), s1, g1), rot, mask, cache, layer, commit), a1)
        x = x + gate(self.mlp(modulate(self.norm2(x), s2, g2)), a2)
        return x


ABSENT_C_NOISE = math.log(1e3) / 4  # c_noise of "no previous frame" (sigma = 1000: pure noise)


def new_warp_mlp(action_dim: int, grid: int) -> nn.Sequential:
    """action -> a coarse flow field (grid^2 displacements, x then y) for `warp_by_action`; the last
    layer zero-initialised: the identity warp until training finds what each action does to the view."""
    mlp = nn.Sequential(nn.Linear(action_dim, 64), nn.SiLU(), nn.Linear(64, 2 * grid ** 2))
    nn.init.zeros_(mlp[2].weight)
    nn.init.zeros_(mlp[2].bias)
    return mlp


def warp_by_action(warp_mlp: nn.Module, prev_x, actions, action_mask, grid: int, mode: str):
    """prev_x (b, t, c, h, w) resampled along a grid x grid flow field that `warp_mlp` reads from
    each frame's action (zero where action_mask is False: the null action), bilinearly spread over
    the frame; displacements in grid_sample's [-1, 1] coordinates (2 = the frame's width), borders
    repeated. Shared by the transformer's and the U-Net's `warp` option."""
    b, t, c, h, w = prev_x.shape
    a = (actions * action_mask[..., None].to(actions.dtype)).float()
    flow = warp_mlp(a).float().reshape(b * t, 2, grid, grid)                  # (bt, xy, g, g)
    flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=True).permute(0, 2, 3, 1)
    ident = torch.eye(2, 3, device=prev_x.device).expand(b * t, 2, 3)
    where = F.affine_grid(ident, (b * t, c, h, w), align_corners=False) + flow  # (bt, h, w, 2)
    out = F.grid_sample(prev_x.reshape(b * t, c, h, w).float(), where, mode=mode,
                        padding_mode="border", align_corners=False)
    return out.reshape(b, t, c, h, w).to(prev_x.dtype)


def fourier_embedding(c_noise: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the (preconditioned) noise level, (...,) -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=c_noise.device) / half)
    ang = c_noise.float()[..., None] * 250.0 * freqs
    return torch.cat([ang.cos(), ang.sin()], dim=-1)


def clock_embedding(clock: torch.Tensor, clock_max: int, dim: int) -> torch.Tensor:
    """Episode clocks (...,) (steps since the episode began) -> (..., dim): clamped at clock_max
    (later times read as it), scaled to [0, 1], embedded as `fourier_embedding` embeds noise levels
    (periods from ~7 steps to ~25 episodes of clock_max). What the U-Net and the heads read."""
    return fourier_embedding(clock.float().clamp(0, clock_max) / clock_max, dim)


def _conv_residual(channels: int, width: int) -> nn.Sequential:
    net = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.GELU(approximate="tanh"),
                        nn.Conv2d(width, width, 3, padding=1), nn.GELU(approximate="tanh"),
                        nn.Conv2d(width, channels, 3, padding=1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


def _per_frame_conv(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a 2-D conv net to every frame of x (b, t, c, h, w)."""
    b = x.shape[0]
    return rearrange(net(rearrange(x, "b t c h w -> (b t) c h w")), "(b t) c h w -> b t c h w", b=b)


class DynamicsTransformer(nn.Module):
    def __init__(self, config: DynamicsConfig):
        super().__init__()
        self.config = cfg = config
        d, pp = cfg.dim, cfg.latent_channels * cfg.patch ** 2
        self.patch_in = nn.Linear(pp, d)
        if cfg.prev_frame:
            self.prev_in = nn.Linear(pp, d)
            self.prev_noise_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
            # A direct path previous patch -> output, gated per frame by the condition: "copy the
            # past" is there from the first step (identity init, gate 0 -> learned), and the blocks
            # learn the correction (the motion) on top.
            self.prev_out = nn.Linear(pp, pp)
            nn.init.eye_(self.prev_out.weight)
            nn.init.zeros_(self.prev_out.bias)
            self.prev_gate = nn.Linear(d, pp)
            nn.init.zeros_(self.prev_gate.weight)
            nn.init.zeros_(self.prev_gate.bias)
        if cfg.conv_width:
            # Local processing at the latent resolution, per frame, around the patch transformer:
            # translations (turning, walking) and fine detail are local, convolutions' strength.
            # Residual, the last layer of each zero-initialised, so the network starts as without.
            self.stem, self.head = (_conv_residual(cfg.latent_channels, cfg.conv_width) for _ in range(2))
        if cfg.warp:
            if not cfg.prev_frame:
                raise ValueError("warp needs prev_frame (it warps the previous frame)")
            self.warp_mlp = new_warp_mlp(cfg.action_dim, cfg.warp_grid)
        self.pos_emb = nn.Parameter(torch.randn(cfg.tokens_per_frame, d) * 0.02)
        self.noise_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.action_mlp = nn.Sequential(nn.Linear(cfg.action_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.null_action = nn.Parameter(torch.zeros(d))
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(d, 2 * d)
        self.patch_out = nn.Linear(d, pp)
        for m in (self.ada_out, self.patch_out):  # the network starts as the zero function (DiT)
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def new_cache(self) -> KVCache:
        return KVCache(self.config.depth, self.config.context)

    def frame_condition(self, c_noise, actions, action_mask):
        """(b, t), (b, t, a), (b, t) bool -> (b, t, d). action_mask False = the null action."""
        act = self.action_mlp(actions)
        act = torch.where(action_mask[..., None], act, self.null_action.to(act.dtype))
        return self.noise_mlp(fourier_embedding(c_noise, self.config.dim).to(act.dtype)) + act

    def forward(self, x, c_noise, actions, action_mask, positions, cache: KVCache | None = None,
                commit: bool = False, last: int | None = None):
        """x (b, t, c, h, w) -> (b, t, c, h, w), or only the last `last` frames' predictions (every
        frame is computed: each is a key of the later ones; last=0: a commit, without the output head).

        positions (t,): integer frame index of each input frame. With a cache, the input frames
        attend to the cached ones as well; commit=True appends their keys/values to the cache."""
        cfg = self.config
        b, t = x.shape[:2]
        n, p = cfg.tokens_per_frame, cfg.patch
        if cfg.conv_width:
            x = x + _per_frame_conv(self.stem, x)
        tokens = rearrange(x, "b t c (h p) (w q) -> b (t h w) (c p q)", p=p, q=p)
        hdim = cfg.latent_size // p
        h = self.patch_in(tokens) + self.pos_emb.repeat(t, 1)                  # (b, t*n, d)
        cond = self.frame_condition(c_noise, actions, action_mask)             # (b, t, d)
        if cfg.prev_frame:
            prev_x, prev_c = self._previous(x, c_noise, cache)                 # (b, t, c, h, w), (b, t)
            if cfg.warp:
                prev_x = self._warp(prev_x, actions, action_mask)
            prev_tok = rearrange(prev_x, "b t c (h p) (w q) -> b (t h w) (c p q)", p=p, q=p)
            h = h + self.prev_in(prev_tok)
            cond = cond + self.prev_noise_mlp(fourier_embedding(prev_c, cfg.dim).to(cond.dtype))
        tok_pos = positions.to(x.device).repeat_interleave(n)                  # (t*n,)
        k_pos = tok_pos if cache is None or cache.length == 0 else torch.cat([cache.token_positions(), tok_pos])
        mask = frame_mask(positions.to(x.device), k_pos[::n], cfg.context, n)  # (t*n, (s+t)*n)
        if cache is not None and cache.row_start is not None and cache.length > 0:
            # worlds of a batch that restarted (World.reset_rows) see only their frames since then
            start = cache.row_start.to(x.device).repeat(b // cache.row_start.shape[0])   # (b,)
            seen = k_pos[None, :] >= start[:, None]                            # (b, (s+t)*n)
            mask = mask[None, None] & seen[:, None, None, :]                   # (b, 1, t*n, (s+t)*n)
        # Positions relative to the newest query frame keep the rotation angles small however long
        # the play; RoPE scores depend only on differences, so this changes nothing in exact math.
        ref = tok_pos.max()
        side, e = cfg.latent_size // p, cfg.dim // cfg.heads
        rot = (*rope_tables(tok_pos - ref, side, e), *rope_tables(k_pos - ref, side, e))
        if commit:
            if cache is None:
                raise ValueError("commit=True needs a cache")
            cache.begin_commit(positions, n)
        for i, blk in enumerate(self.blocks):
            h = blk(h, cond, rot, mask, cache, i, commit)
        if commit:
            if cfg.prev_frame:
                cache.prev_x, cache.prev_c = x[:, -1:].detach(), c_noise[:, -1:].detach()
            cache.end_commit()
        if last == 0:                                                          # a commit: no output head
            return x[:, :0]
        s, g = self.ada_out(F.silu(cond)).chunk(2, dim=-1)                    # (b, t, d) each
        out = self.patch_out(modulate(self.norm_out(h), s, g))                 # (b, t*n, c*p*q)
        if cfg.prev_frame:
            out = out + gate(self.prev_out(prev_tok), self.prev_gate(F.silu(cond)))
        out = rearrange(out, "b (t h w) (c p q) -> b t c (h p) (w q)", t=t, h=hdim, w=hdim, p=p, q=p)
        if cfg.conv_width:
            out = out + _per_frame_conv(self.head, out)
        return out if last is None else out[:, t - last:]

    def _warp(self, prev_x, actions, action_mask):
        """Motion compensation by the action, as video codecs do with motion vectors: each frame's
        previous frame (b, t, c, h, w), resampled along a smooth flow field that a small MLP reads
        from that frame's action (the null action: a zero vector): warp_grid x warp_grid
        displacements, bilinearly spread over the frame. In a first-person view turning shifts
        the walls (not the gun) sideways and walking spreads the view outwards, so the network
        only has to learn what the warp leaves over. Displacements are in the [-1, 1] frame
        coordinates of grid_sample (2 = the frame's width); borders repeat.

        Bilinear resampling at a fractional shift averages neighbouring latent cells: on E1M1 one
        warp of a held-out frame by the trained idle flow (a third of a cell) kept 0.38 of its detail,
        bicubic 0.62 (scripts/warp_detail.py); the previous-frame path of the network, and
        its direct copy to the output, start from that frame."""
        return warp_by_action(self.warp_mlp, prev_x, actions, action_mask, self.config.warp_grid,
                              self.config.warp_mode)

    def _previous(self, x, c_noise, cache):
        """Each input frame's previous frame (already scaled by c_in) and its c_noise: shifted by
        one within the input; the first comes from the cache, or is absent (zeros, at a noise
        level so high that it carries no information) at the start of a clip or a play."""
        b = x.shape[0]
        if cache is not None and cache.prev_x is not None:
            rep = b // cache.prev_x.shape[0]
            first_x, first_c = cache.prev_x.repeat(rep, 1, 1, 1, 1), cache.prev_c.repeat(rep, 1)
        else:
            first_x = torch.zeros_like(x[:, :1])
            first_c = torch.full_like(c_noise[:, :1], ABSENT_C_NOISE)
        return torch.cat([first_x, x[:, :-1]], 1), torch.cat([first_c, c_noise[:, :-1]], 1)
