"""Play a world without a window and write what was played to a video."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from worldmodel import Action
from worldmodel.data import write_mp4


def play_headless(world, image, frames: int, actions: str = "random", out: str | Path = "play.mp4",
                  seed: int = 0, scale: int = 4) -> Path:
    """Reset from `image` (None = the world's start image), play until the video has `frames`
    frames (the start frame + frames-1 generated), write an MP4."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if actions not in ("random", "idle"):
        raise ValueError(f"actions must be random or idle, got {actions!r}")
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"--out must end in .mp4, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    choices = world.action_set
    shown = [world.reset(image)]
    for _ in tqdm(range(frames - 1), desc="playing", disable=frames < 32):
        a = choices[rng.integers(len(choices))] if actions == "random" else Action()
        shown.append(world.step(a))
    write_mp4(out, np.stack(shown), fps=world.fps, scale=scale)
    return out
