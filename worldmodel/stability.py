"""Does a long rollout stay a picture of the game? The collapse rule used by `worldmodel eval`.

A world "collapses" when, for a sustained stretch (`window` consecutive frames):

1. **its frame statistics leave the range of the real game**: a frame's mean or its standard
   deviation (over all pixels and channels, in [0, 255]) lies outside [lo - margin, hi + margin],
   where [lo, hi] is the range over the real frames and margin = `margin_frac` * (hi - lo) +
   `margin_abs`. This catches fading to black or white, saturation and washed-out grey soup;
2. **or the picture freezes while the actions should move it**: the mean absolute change between
   consecutive generated frames stays below `freeze_frac` times the median change between
   consecutive real frames (only where the real game does move, i.e. that median is > 0);
3. **or it dissolves into soup**: a frame's gradient energy (mean squared difference of
   neighbouring pixels, `evaluate.gradient_energy`) stays below `blur_frac` times the median
   over real frames. A blur can keep the real mean and contrast and keep changing a little,
   which rules 1 and 2 pass.

A single odd frame is not a collapse; only a run of `window` frames is. The rule is tested on
synthetic cases in tests/test_eval.py.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class CollapseRule:
    window: int = 32
    margin_frac: float = 0.25
    margin_abs: float = 2.0
    freeze_frac: float = 0.05
    blur_frac: float = 0.5


def frame_stats(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mean and standard deviation of (n, H, W, 3) frames."""
    x = np.asarray(frames, dtype=np.float32).reshape(len(frames), -1)
    return x.mean(1), x.std(1)


def frame_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change between consecutive frames, shape (n - 1,)."""
    x = np.asarray(frames, dtype=np.float32)
    return np.abs(x[1:] - x[:-1]).reshape(len(x) - 1, -1).mean(1)


def frame_sharpness(frames: np.ndarray) -> np.ndarray:
    """Per-frame gradient energy of (n, H, W, 3) frames (see evaluate.gradient_energy)."""
    x = np.asarray(frames, dtype=np.float32)
    return (((x[:, 1:] - x[:, :-1]) ** 2).mean((1, 2, 3)) + ((x[:, :, 1:] - x[:, :, :-1]) ** 2).mean((1, 2, 3)))


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """(length, start) of the longest run of True in a 1-D bool array."""
    best, best_start, run = 0, -1, 0
    for i, m in enumerate(mask):
        run = run + 1 if m else 0
        if run > best:
            best, best_start = run, i - run + 1
    return best, best_start


def check_collapse(generated: np.ndarray, real: np.ndarray, rule: CollapseRule = CollapseRule(),
                   finite: bool = True) -> dict:
    """Apply the collapse rule to (n, H, W, 3) generated frames against real frames of the game.

    `real` should be frames of real play (several episodes): their statistics set the range and
    their consecutive frames the typical motion, so pass them in playing order."""
    generated = np.asarray(generated)
    real = np.asarray(real)
    if generated.ndim != 4 or real.ndim != 4 or len(real) < 2:
        raise ValueError("check_collapse needs (n, H, W, 3) generated frames and at least 2 real frames")
    g_mean, g_std = frame_stats(generated)
    r_mean, r_std = frame_stats(real)

    def outside(values, ref):
        lo, hi = float(ref.min()), float(ref.max())
        margin = rule.margin_frac * (hi - lo) + rule.margin_abs
        return (values < lo - margin) | (values > hi + margin), [lo - margin, hi + margin]

    out_mean, mean_range = outside(g_mean, r_mean)
    out_std, std_range = outside(g_std, r_std)
    out_run, out_start = _longest_run(out_mean | out_std)

    real_motion = float(np.median(frame_changes(real)))
    changes = frame_changes(generated) if len(generated) > 1 else np.zeros(0)
    freeze_run, freeze_start = (_longest_run(changes < rule.freeze_frac * real_motion)
                                if real_motion > 0 else (0, -1))

    real_sharp = float(np.median(frame_sharpness(real)))
    g_sharp = frame_sharpness(generated)
    blur_run, blur_start = (_longest_run(g_sharp < rule.blur_frac * real_sharp) if real_sharp > 0 else (0, -1))

    reasons = []
    if not finite:
        reasons.append("non-finite values")
    if out_run >= rule.window:
        reasons.append(f"frame statistics outside the real range for {out_run} frames from frame {out_start}")
    if freeze_run >= rule.window:
        reasons.append(f"picture frozen for {freeze_run} frames from frame {freeze_start + 1}")
    if blur_run >= rule.window:
        reasons.append(f"blurred (detail under {rule.blur_frac:.0%} of the real frames') for {blur_run} frames "
                       f"from frame {blur_start}")
    return {
        "frames": int(len(generated)),
        "finite": bool(finite),
        "collapsed": bool(reasons),
        "reasons": reasons,
        "rule": asdict(rule),
        "mean_range": mean_range, "std_range": std_range,
        "longest_out_of_range": int(out_run), "longest_frozen": int(freeze_run), "longest_blurred": int(blur_run),
        "real_sharpness": real_sharp, "generated_sharpness": float(np.median(g_sharp)),
        "real_motion": real_motion,
        "generated_motion": float(np.median(changes)) if len(changes) else 0.0,
    }
