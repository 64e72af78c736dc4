"""Turn whatever a person hands us into a model-sized RGB frame, or say clearly why not."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 100_000_000  # 10k x 10k; larger is refused rather than risking a decompression bomb


class ImageError(ValueError):
    """Something that cannot be used as an image."""


def load_image(src) -> Image.Image:
    """A PIL image from a path, bytes, PIL image or array (H,W), (H,W,1|3|4): uint8, uint16 (scaled
    to 8 bits like a 16-bit file), other integers holding 8- or 16-bit values, or float in [0,1]."""
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, (str, Path)):
        path = Path(src)
        if not path.is_file():
            raise ImageError(f"image not found: {path}")
        return _open(path.read_bytes(), str(path))
    if isinstance(src, (bytes, bytearray)):
        return _open(bytes(src), "the given bytes")
    if hasattr(src, "__array__") or isinstance(src, (list, tuple)):
        return _from_array(np.asarray(src))
    raise ImageError(f"cannot use a {type(src).__name__} as an image; give a path, bytes, PIL image or array")


def _open(data: bytes, what: str) -> Image.Image:
    if not data:
        raise ImageError(f"{what} is empty, not an image")
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise ImageError(f"{what} is {img.width}x{img.height}; images over {MAX_PIXELS:,} pixels are refused")
        img.draft("RGB", (1024, 1024))  # JPEG: decode huge photos at a reduced size, fast
        img.load()
    except ImageError:
        raise
    except UnidentifiedImageError as e:
        raise ImageError(f"{what} is not a readable image (not a format Pillow knows)") from e
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as e:
        raise ImageError(f"{what} is not a readable image (truncated or corrupt: {e})") from e
    return img


def _from_array(a: np.ndarray) -> Image.Image:
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or a.size == 0:
        raise ImageError(f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {a.shape}")
    if a.dtype == np.uint8:
        pass
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError("image array has NaN or infinite values")
        if a.min() < 0 or a.max() > 1:
            raise ImageError(f"float image values must be in [0, 1], got [{a.min():.3g}, {a.max():.3g}]")
        a = (a * 255).round().astype(np.uint8)
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.integer):
        a = _integers_to_8bit(a)
    else:
        raise ImageError(f"image arrays must be integers (8 or 16 bits a channel) or float in [0, 1], got {a.dtype}")
    return Image.fromarray(np.ascontiguousarray(a))


def _integers_to_8bit(a: np.ndarray) -> np.ndarray:
    """uint16 (a 16-bit PNG's depth) scales 0..65535 to 0..255; other integer types (numpy's default
    int64 included) are read as 8-bit values when they fit in 0..255 and as 16-bit ones when they fit
    in 0..65535, as a 16-bit file's pixels are."""
    lo, hi = int(a.min()), int(a.max())
    if lo < 0:
        raise ImageError(f"integer image values must not be negative, got {lo}")
    if a.dtype == np.uint16 or 255 < hi <= 65535:
        return (a.astype(np.float64) / 257).round().astype(np.uint8)   # 65535 / 257 = 255 exactly
    if hi <= 255:
        return a.astype(np.uint8)
    raise ImageError(f"integer image values must be 8-bit (0-255) or 16-bit (0-65535), got up to {hi}")


def fit_image(src, size: int) -> np.ndarray:
    """(size, size, 3) uint8: converted to RGB (transparency over black), centre-cropped to a
    square, resized (area-average down, bicubic up)."""
    img = load_image(src)
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale files (and 32-bit integer ones): Pillow's own conversion to RGB clips
        # every value over 255 to white, so scale them as the arrays are scaled
        img = Image.fromarray(_integers_to_8bit(np.asarray(img)))
    elif img.mode == "F":
        img = _from_array(np.asarray(img))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(bg, rgba)
    img = img.convert("RGB")
    w, h = img.size
    side = min(w, h)
    img = img.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
    method = Image.Resampling.BOX if side >= size else Image.Resampling.BICUBIC
    return np.asarray(img.resize((size, size), method), dtype=np.uint8)
