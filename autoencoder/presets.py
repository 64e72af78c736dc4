"""The autoencoder preset registry: model config + training budget, by name."""
from __future__ import annotations

from dataclasses import dataclass, field

from .models import AutoencoderConfig


@dataclass
class AETrainConfig:
    model: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    l1_weight: float = 0.5       # L1 sharpens edges that MSE alone blurs


PRESETS: dict[str, AETrainConfig] = {
    # tests and quick CPU runs: 32x32 frames, f=4 -> 8x8x16 latents
    "tiny": AETrainConfig(AutoencoderConfig("conv", 32, 16, 4, 16, 1), steps=400, batch_size=32, lr=2e-3),
    # the shipped 64x64 worlds: f=4 -> 16x16x16 latents
    "small": AETrainConfig(AutoencoderConfig("conv", 64, 16, 4, 32, 1), steps=6000, batch_size=64, lr=1e-3),
    "base": AETrainConfig(AutoencoderConfig("conv", 64, 16, 4, 64, 2), steps=20000, batch_size=64, lr=5e-4),
    # closed-form baselines at the same latent sizes (steps unused)
    "pca-tiny": AETrainConfig(AutoencoderConfig("pca", 32, 16, 4), steps=0),
    "pca": AETrainConfig(AutoencoderConfig("pca", 64, 16, 4), steps=0),
}

# What each preset fits, for `--help` (times on this project's 2 CPU cores, alone).
FITS: dict[str, str] = {
    "tiny": "conv, 32x32 frames -> 8x8x16 latents, 0.26M parameters",
    "small": "conv, 64x64 frames -> 16x16x16, 1.0M parameters; about 1 h 45 min for its 6,000 steps on 2 CPU cores",
    "base": "conv, 64x64 frames -> 16x16x16, 4.7M parameters; a GPU preset",
    "pca-tiny": "patch PCA in closed form, 32x32 frames -> 8x8x16; seconds",
    "pca": "patch PCA in closed form, 64x64 frames -> 16x16x16; under a minute for 60k frames (35.8 dB on E1M1)",
}
