"""The dynamics preset registry: network + diffusion config + training budget, by name.
latent_channels / latent_size / action_dim are filled in from the autoencoder and the data."""
from __future__ import annotations

from dataclasses import dataclass, field

from .diffusion import DiffusionConfig
from .transformer import DynamicsConfig


@dataclass
class DynamicsTrainConfig:
    model: DynamicsConfig = field(default_factory=DynamicsConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    steps: int = 5000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    ema: float = 0.999
    sample_steps: int = 8        # default denoising steps at play time
    guidance_scale: float = 1.5  # default CFG scale at play time
    precision: str = "auto"      # training: bf16 autocast where it is faster (see worldmodel.train.common.use_bf16)


PRESETS: dict[str, DynamicsTrainConfig] = {
    # tests / CPU smoke: a few hundred steps in about a minute on 2 cores
    "tiny": DynamicsTrainConfig(DynamicsConfig(patch=2, dim=64, depth=2, heads=4, context=4),
                                steps=1200, batch_size=32, lr=2e-3, ema=0.99, sample_steps=2, guidance_scale=1.0,
                                # measured here: bf16 autocast makes this small network's step slower
                                # (44 vs 30 ms, scripts/train_step_time.py --preset tiny --latent 16 8)
                                precision="fp32"),
    # worlds trained on 2 CPU cores in under an hour (64x64 frames, 16x16 latents)
    "cpu": DynamicsTrainConfig(DynamicsConfig(patch=2, dim=128, depth=4, heads=4, context=4),
                               steps=3000, batch_size=32, lr=1e-3, ema=0.995, sample_steps=2, guidance_scale=1.0),
    # The recipe issue 16's campaign found (docs/TRAINING.md, sessions 6-9; the shipped doom world):
    # the frame-stacking U-Net, loss on the newest frame only, from a clean past (as at play time),
    # training noise centred higher (the action decides the frame at high noise), sampling from
    # sigma 20 in one Euler step without guidance, so a frame costs one network pass.
    "cpu-unet": DynamicsTrainConfig(DynamicsConfig(arch="unet", dim=64, depth=2, context=4),
                                    DiffusionConfig(p_mean=0.4, sigma_max=20.0, p_clean_context=1.0, loss_frames="last"),
                                    steps=10000, batch_size=32, lr=6e-4, ema=0.995, sample_steps=1, guidance_scale=1.0),
    # the same recipe at 32x32 frames (8x8 latents), for tests and minute budgets
    "tiny-unet": DynamicsTrainConfig(DynamicsConfig(arch="unet", dim=32, depth=1, context=4),
                                     DiffusionConfig(p_mean=0.4, sigma_max=20.0, p_clean_context=1.0, loss_frames="last"),
                                     steps=1200, batch_size=32, lr=2e-3, ema=0.99, sample_steps=1, guidance_scale=1.0,
                                     precision="fp32"),
    # the shipped worlds: trained on a GPU in minutes, plays on 2 CPU cores
    "small": DynamicsTrainConfig(DynamicsConfig(patch=2, dim=256, depth=6, heads=8, context=8),
                                 steps=40000, batch_size=64, lr=5e-4, sample_steps=2, guidance_scale=1.0),
    # GPU world
    "base": DynamicsTrainConfig(DynamicsConfig(patch=2, dim=384, depth=8, heads=6, context=8),
                                steps=20000, batch_size=64, lr=3e-4, sample_steps=8),
}

# What each preset fits, for `--help`: parameters with 16-channel latents, and the time of 1,000
# training steps of batch 32 on this project's 2 CPU cores, alone, where it was measured.
FITS: dict[str, str] = {
    "tiny": "0.2M parameters, 32x32 frames (8x8 latents); about 30 s per 1,000 steps (fp32, "
            "scripts/train_step_time.py --preset tiny --latent 16 8)",
    "cpu": "1.35M parameters, 64x64 frames (16x16 latents); 10 min per 1,000 steps (580 ms a step, fp32, "
           "AVX-512 Zen 5; 406 ms with bf16) to 14 min (830 ms with the flow warp, fp32, AVX2-only Zen 3)",
    "cpu-unet": "4.6M parameters, 64x64 frames (16x16 latents); 2.2 min per 1,000 steps (131 ms a step, bf16; "
                "229 ms fp32) on the 2-core Xeon with AMX, 4.4 min (265 ms bf16; 431 ms fp32) on the AVX-512 Zen 5, "
                "11 min (660 ms, fp32) on the AVX2-only Zen 3 (scripts/train_step_time.py --preset cpu-unet)",
    "tiny-unet": "0.8M parameters, 32x32 frames (8x8 latents); 25 s per 1,000 steps (25 ms a step, fp32 and "
                 "bf16 alike, 2-core Xeon with AMX: scripts/train_step_time.py --preset tiny-unet --latent 16 8)",
    "small": "7.7M parameters, 64x64 frames; about 4.6 h per 1,000 steps on 2 CPU cores (a GPU preset)",
    "base": "22.5M parameters, 64x64 frames; a GPU preset, not timed on the CPU",
}
