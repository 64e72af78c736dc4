"""Frame <-> latent frame.

Both autoencoders map x (b, 3, H, W) in [-1, 1] to z (b, C, H/f, W/f) and back, and both
normalise their latents to zero mean per channel and, by default, one shared unit std (statistics
measured on training frames and stored as buffers), so the dynamics model never needs to know which
one it runs on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from einops import rearrange


LATENT_NORMS = ("shared", "channel")


@dataclass
class AutoencoderConfig:
    kind: str = "conv"           # "conv" (learned) or "pca" (closed-form patch-wise PCA baseline)
    image_size: int = 64
    latent_channels: int = 4
    downsample: int = 4          # spatial compression f (a power of 2)
    channels: int = 32           # conv width at full resolution (doubles per level, max 4x)
    blocks: int = 1              # residual blocks per level
    latent_norm: str = "shared"  # "shared": one std for all channels; "channel": each channel to unit std

    def __post_init__(self):
        if self.kind not in ("conv", "pca"):
            raise ValueError(f"autoencoder kind must be conv or pca, got {self.kind!r}")
        if self.latent_norm not in LATENT_NORMS:
            raise ValueError(f"latent_norm must be one of {', '.join(LATENT_NORMS)}, got {self.latent_norm!r}")
        if self.downsample < 1 or self.downsample & (self.downsample - 1):
            raise ValueError(f"downsample must be a power of 2, got {self.downsample}")
        if self.image_size % self.downsample:
            raise ValueError(f"image_size {self.image_size} is not divisible by downsample {self.downsample}")

    @property
    def latent_size(self) -> int:
        return self.image_size // self.downsample


class Autoencoder(nn.Module):
    config: AutoencoderConfig

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        c = config.latent_channels
        self.register_buffer("latent_mean", torch.zeros(c))
        self.register_buffer("latent_std", torch.ones(c))

    def encode_raw(self, x: torch.Tensor) -> torch.Tensor: ...
    def decode_raw(self, z: torch.Tensor) -> torch.Tensor: ...

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encode_raw(x)
        return (z - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_raw(z * self.latent_std[:, None, None] + self.latent_mean[:, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_raw(self.encode_raw(x))

    @torch.no_grad()
    def fit_latent_stats(self, frames: torch.Tensor, batch: int = 256) -> None:
        """Measure latent statistics on (n, 3, H, W) frames in [-1, 1]: a mean per channel, and by
        default ONE std shared by all channels, so that the diffusion loss (an MSE in latent space)
        tracks the error a person sees (for the orthonormal patch PCA it is the pixel MSE).

        `latent_norm="channel"` whitens instead: each channel to unit std. The faint
        high-frequency channels then weigh as much as the structure in the loss, and the diffusion
        noise drowns them at the same sigma as the structure instead of long before it. With a
        shared std, a 32-channel patch PCA of defend_the_center spans channel stds from 4.8 to 0.07,
        so at sigma 1 the fine channels that hold a distant demon are 14x under the noise."""
        zs = torch.cat([self.encode_raw(frames[i:i + batch]) for i in range(0, len(frames), batch)])
        mean = zs.mean(dim=(0, 2, 3))
        self.latent_mean.copy_(mean)
        if self.config.latent_norm == "channel":
            stds = zs.std(dim=(0, 2, 3))
            # a channel that barely varies (a wide PCA of a flat game) is not blown up to its
            # rounding noise: no std below a thousandth of the largest
            self.latent_std.copy_(stds.clamp_min(max(1e-4, 1e-3 * float(stds.max()))))
        else:
            self.latent_std.fill_(float((zs - mean[:, None, None]).std().clamp_min(1e-4)))


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(min(8, ch), ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1),
                                  nn.GroupNorm(min(8, ch), ch), nn.SiLU(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class ConvAutoencoder(Autoencoder):
    """A small convolutional autoencoder: log2(f) stride-2 levels of residual blocks."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__(config)
        levels = int(math.log2(config.downsample))
        chs = [config.channels * min(2 ** i, 4) for i in range(levels + 1)]
        enc: list[nn.Module] = [nn.Conv2d(3, chs[0], 3, padding=1)]
        for i in range(levels):
            enc += [ResBlock(chs[i]) for _ in range(config.blocks)]
            enc.append(nn.Conv2d(chs[i], chs[i + 1], 3, stride=2, padding=1))  # H -> H/2
        enc += [ResBlock(chs[-1]), nn.GroupNorm(min(8, chs[-1]), chs[-1]), nn.SiLU(),
                nn.Conv2d(chs[-1], config.latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(config.latent_channels, chs[-1], 3, padding=1), ResBlock(chs[-1])]
        for i in reversed(range(levels)):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(chs[i + 1], chs[i], 3, padding=1)]
            dec += [ResBlock(chs[i]) for _ in range(config.blocks)]
        dec += [nn.GroupNorm(min(8, chs[0]), chs[0]), nn.SiLU(), nn.Conv2d(chs[0], 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def encode_raw(self, x):  # (b, 3, H, W) -> (b, C, H/f, W/f)
        return self.encoder(x)

    def decode_raw(self, z):  # (b, C, H/f, W/f) -> (b, 3, H, W)
        return self.decoder(z)


class PCAAutoencoder(Autoencoder):
    """Patch-wise PCA (l-DAE's closed-form tokenizer): each f x f x 3 patch is projected on the
    top C principal components of training patches. Fits in seconds; a learned autoencoder
    should beat its PSNR at the same latent size."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__(config)
        d = 3 * config.downsample ** 2
        self.register_buffer("patch_mean", torch.zeros(d))
        self.register_buffer("components", torch.eye(d)[: config.latent_channels])  # (C, d)

    def _patches(self, x):  # (b, 3, H, W) -> (b, h, w, d)
        f = self.config.downsample
        return rearrange(x, "b c (h p) (w q) -> b h w (c p q)", p=f, q=f)

    @torch.no_grad()
    def fit(self, frames: torch.Tensor, max_patches: int = 200_000, generator=None) -> None:
        p = self._patches(frames).reshape(-1, self.components.shape[1]).double()
        if len(p) > max_patches:
            p = p[torch.randperm(len(p), generator=generator)[:max_patches]]
        mean = p.mean(0)
        cov = (p - mean).T @ (p - mean) / len(p)
        _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
        self.patch_mean.copy_(mean.float())
        self.components.copy_(vecs[:, -self.config.latent_channels:].flip(1).T.float())

    def encode_raw(self, x):
        z = (self._patches(x) - self.patch_mean) @ self.components.T  # (b, h, w, C)
        return rearrange(z, "b h w c -> b c h w")

    def decode_raw(self, z):
        f = self.config.downsample
        p = rearrange(z, "b c h w -> b h w c") @ self.components + self.patch_mean  # (b, h, w, d)
        return rearrange(p, "b h w (c p q) -> b c (h p) (w q)", p=f, q=f, c=3)


def build_autoencoder(config: AutoencoderConfig) -> Autoencoder:
    return {"conv": ConvAutoencoder, "pca": PCAAutoencoder}[config.kind](config)


def frames_to_tensor(frames) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    x = torch.as_tensor(frames)
    return x.movedim(-1, -3).float().div(127.5).sub(1.0)


def tensor_to_frames(x: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3), rounded and clipped."""
    return x.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).movedim(-3, -1)
