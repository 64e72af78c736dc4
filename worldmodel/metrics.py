"""Frame metrics, frames uint8 in [0, 255] (definitions in docs/ARCHITECTURE.md)."""
from __future__ import annotations

import numpy as np
import torch

MAX_PSNR = 100.0

# Why two functions: a mean of per-frame PSNRs is dominated by frames that happen to be identical
# (a player standing still gives copy-last infinite PSNR), so every reported number is
# mean_psnr, the PSNR of the mean squared error over all compared frames.  # identical frames: capped instead of infinite, so means stay finite


def psnr(a, b) -> np.ndarray:
    """Per-frame PSNR in dB of (..., H, W, 3) uint8 frames; returns an array of shape (...)."""
    a = torch.from_numpy(np.array(a, dtype=np.float64))
    b = torch.from_numpy(np.array(b, dtype=np.float64))
    if a.shape != b.shape:
        raise ValueError(f"psnr of frames of different shapes {tuple(a.shape)} and {tuple(b.shape)}")
    mse = (a - b).pow(2).flatten(-3).mean(-1)
    out = 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))
    return out.clamp(max=MAX_PSNR).numpy()


def mean_psnr(a, b) -> float:
    """PSNR in dB of the mean squared error over all frames of (..., H, W, 3) uint8 arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr of frames of different shapes {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return float(min(MAX_PSNR, 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))))
