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


UNUSUAL_THRESHOLD = 48  # of 255, on any colour channel: a distant demon, a muzzle flash, a moving boxer


def unusual_mask(frames, reference, threshold: int = UNUSUAL_THRESHOLD) -> np.ndarray:
    """Where (..., H, W, 3) uint8 frames stand out from the usual view `reference` (H, W, 3) (the
    per-pixel median of a game's frames: the empty arena, the empty ring): a colour channel
    `threshold` or more away, grown by one pixel so a sprite's edge counts. -> bool (..., H, W)."""
    ref = np.rint(np.asarray(reference, dtype=np.float64)).astype(np.int16)     # a median may fall on .5
    d = np.abs(np.asarray(frames, dtype=np.int16) - ref).max(-1) >= threshold
    t = torch.from_numpy(d.reshape(-1, 1, *d.shape[-2:]).astype(np.float32))
    return (torch.nn.functional.max_pool2d(t, 3, stride=1, padding=1) > 0).numpy().reshape(d.shape)


def masked_psnr(a, b, mask) -> float | None:
    """PSNR in dB of the mean squared error over the pixels of (..., H, W, 3) frames where the
    bool `mask` (..., H, W) is set (all three channels); None where it is set nowhere."""
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    if n == 0:
        return None
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = float((diff ** 2).sum(-1)[mask].sum() / (3 * n))
    return float(min(MAX_PSNR, 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(a, b, batch: int = 256) -> np.ndarray:
    """Per-frame SSIM (Wang et al. 2004) of (..., H, W, 3) uint8 frames: 11x11 Gaussian window
    (sigma 1.5), K1=0.01, K2=0.03, data range 255, computed per colour channel over the 'valid'
    region and averaged. Identical frames give 1.0. Returns shape (...)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"ssim of frames of different shapes {a.shape} and {b.shape}")
    lead = a.shape[:-3]
    h, w = a.shape[-3:-1]
    a = a.reshape(-1, h, w, 3)
    b = b.reshape(-1, h, w, 3)
    size = min(11, h, w)
    win = _gaussian_window(size).expand(3, 1, size, size)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for i in range(0, len(a), batch):
        x = torch.from_numpy(a[i:i + batch].astype(np.float64)).permute(0, 3, 1, 2)
        y = torch.from_numpy(b[i:i + batch].astype(np.float64)).permute(0, 3, 1, 2)

        def blur(t):
            return torch.nn.functional.conv2d(t, win, groups=3)

        mx, my = blur(x), blur(y)
        vx = blur(x * x) - mx * mx
        vy = blur(y * y) - my * my
        cxy = blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        out.append(s.mean((1, 2, 3)).numpy())
    return np.concatenate(out).reshape(lead)


def mean_ssim(a, b) -> float:
    """Mean SSIM over all compared frames."""
    return float(np.mean(ssim(a, b)))


@torch.no_grad()
def reconstruction_psnr(ae, frames: np.ndarray, device="cpu", batch: int = 256) -> float:
    """Mean PSNR of an autoencoder's reconstructions of uint8 frames (n, H, W, 3)."""
    from autoencoder import frames_to_tensor, tensor_to_frames
    recs = []
    for i in range(0, len(frames), batch):
        x = frames_to_tensor(frames[i:i + batch]).to(device)
        recs.append(tensor_to_frames(ae.decode(ae.encode(x)).clamp(-1, 1)).cpu().numpy())
    return mean_psnr(np.concatenate(recs), frames)
