"""Lossless video I/O with PyAV: FFV1 in Matroska, RGB stored without chroma subsampling, so
decoded frames equal the written ones bit for bit. MP4 (H.264) for videos meant for people."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_lossless(path: str | Path, frames: np.ndarray, fps: float = 15.0) -> None:
    """frames: (N, H, W, 3) uint8."""
    frames = _check_frames(frames)
    n, h, w, _ = frames.shape
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=max(1, round(fps)))
        stream.width, stream.height, stream.pix_fmt = w, h, "bgr0"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())


def read_video(path: str | Path) -> np.ndarray:
    """All frames of a video as (N, H, W, 3) uint8; a clear error for a missing or broken file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        with av.open(str(path)) as f:
            frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    except (av.FFmpegError, ValueError) as e:
        raise ValueError(f"cannot decode video {path}: {e}") from e
    if not frames:
        raise ValueError(f"video {path} has no frames (truncated or corrupt?)")
    return np.stack(frames)


def write_mp4(path: str | Path, frames: np.ndarray, fps: float = 15.0, scale: int = 1) -> None:
    """A small H.264 MP4 for viewing; `scale` enlarges pixels (nearest) so tiny frames stay crisp."""
    frames = _check_frames(frames)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, _ = frames.shape
    h2, w2 = h + h % 2, w + w % 2  # yuv420p wants even sides
    if (h2, w2) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, h2 - h), (0, w2 - w), (0, 0)))
    with av.open(str(path), "w") as out:
        # an exact rational rate (doom's 8.75 frames/s stays 35/4, not 9)
        rate = Fraction(fps).limit_denominator(1000) if fps >= 1 else Fraction(1)
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w2, h2, "yuv420p"
        if stream.codec_context.name == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast"}
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())


def _check_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty (N, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}")
    return np.ascontiguousarray(frames)
