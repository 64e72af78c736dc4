"""A sliding-window KV cache over past frames.

Keys are stored before the rotary embedding and rotated at use (see transformer.Attention), so
the cache stays valid however far the window slides. Holds at most `window` frames per layer.
"""
from __future__ import annotations

import torch


def restart_rows(row_start, positions: torch.Tensor, b: int, index: torch.Tensor, position: int) -> torch.Tensor:
    """The per-world first visible frame (b,) after the worlds `index` restart at `position`
    (before: every world sees from the oldest cached frame, unless row_start already says otherwise)."""
    start = torch.full((b,), int(positions[0]), dtype=torch.long) if row_start is None else row_start.clone()
    start[index.cpu()] = position
    return start


def expire_restarts(row_start, positions: torch.Tensor):
    """None once the frames before every restart have left the window, else row_start."""
    return None if row_start is not None and int(row_start.max()) <= int(positions.min()) else row_start


class KVCache:
    def __init__(self, depth: int, window: int):
        self.depth, self.window = depth, window
        self.keys: list[torch.Tensor | None] = [None] * depth    # (b, k, s*n, e) per layer
        self.values: list[torch.Tensor | None] = [None] * depth
        self.positions = torch.zeros(0, dtype=torch.long)        # (s,) frame index of each cached frame
        self.n = 0                                               # tokens per frame
        self._pending: torch.Tensor | None = None
        self.prev_x: torch.Tensor | None = None                  # (b, 1, c, h, w) newest frame, c_in-scaled
        self.prev_c: torch.Tensor | None = None                  # (b, 1) its c_noise
        # (b,) per world, the first frame index it may attend to (set when some worlds of a batch
        # restart, World.reset_rows); None = every cached frame is visible to every world
        self.row_start: torch.Tensor | None = None

    @property
    def length(self) -> int:
        """Frames held."""
        return len(self.positions)

    def token_positions(self) -> torch.Tensor:
        return self.positions.to(self.keys[0].device).repeat_interleave(self.n)

    def begin_commit(self, positions: torch.Tensor, n: int) -> None:
        self._pending, self.n = positions.detach().cpu().long(), n

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], 2)
            v = torch.cat([self.values[layer], v], 2)
        keep = self.window * self.n
        self.keys[layer], self.values[layer] = k[:, :, -keep:], v[:, :, -keep:]

    def end_commit(self) -> None:
        self.positions = torch.cat([self.positions, self._pending])[-self.window:]
        self._pending = None
        self.row_start = expire_restarts(self.row_start, self.positions)

    def replace_newest(self, index: torch.Tensor, other: "KVCache", position: int) -> None:
        """Put `other`'s single cached frame in place of the newest frame of the worlds `index`,
        and hide their older frames from them: those worlds restart at `position`."""
        if other.length != 1 or self.length == 0 or int(self.positions[-1]) != position:
            raise ValueError("replace_newest() takes a one-frame cache for the newest cached position")
        n = self.n
        for layer in range(self.depth):
            self.keys[layer] = self.keys[layer].clone()
            self.values[layer] = self.values[layer].clone()
            self.keys[layer][index, :, -n:] = other.keys[layer].to(self.keys[layer].dtype)
            self.values[layer][index, :, -n:] = other.values[layer].to(self.values[layer].dtype)
        if self.prev_x is not None:
            self.prev_x, self.prev_c = self.prev_x.clone(), self.prev_c.clone()
            self.prev_x[index], self.prev_c[index] = other.prev_x.to(self.prev_x.dtype), other.prev_c
        self.row_start = restart_rows(self.row_start, self.positions, self.keys[0].shape[0], index, position)

    def nbytes(self) -> int:
        """Bytes held: at most `window` frames per layer, however long the play."""
        held = [*self.keys, *self.values, self.positions, self.prev_x, self.prev_c]
        return sum(t.numel() * t.element_size() for t in held if t is not None)

    def clone(self) -> "KVCache":
        c = KVCache(self.depth, self.window)
        c.keys = [None if k is None else k.clone() for k in self.keys]
        c.values = [None if v is None else v.clone() for v in self.values]
        c.positions, c.n = self.positions.clone(), self.n
        c.row_start = None if self.row_start is None else self.row_start.clone()
        c.prev_x = None if self.prev_x is None else self.prev_x.clone()
        c.prev_c = None if self.prev_c is None else self.prev_c.clone()
        return c

    def select(self, index: torch.Tensor) -> "KVCache":
        """The cache of a subset of the batch (index into dim 0)."""
        c = self.clone()
        c.keys = [None if k is None else k[index] for k in c.keys]
        c.values = [None if v is None else v[index] for v in c.values]
        c.prev_x = None if c.prev_x is None else c.prev_x[index]
        c.prev_c = None if c.prev_c is None else c.prev_c[index]
        c.row_start = None if c.row_start is None else c.row_start[index.cpu()]
        return c


class FrameCache:
    """The past of the frame-stacking U-Net (unet.py): the last `window` committed frames' inputs
    themselves (c_in-scaled latents, c_noise, actions, action mask), which that network re-reads
    at every step. The same interface as KVCache towards worldmodel.World."""

    def __init__(self, window: int):
        self.window = window
        self.x: torch.Tensor | None = None                       # (b, s, c, h, w)
        self.c_noise: torch.Tensor | None = None                 # (b, s)
        self.actions: torch.Tensor | None = None                 # (b, s, a)
        self.mask: torch.Tensor | None = None                    # (b, s) bool
        self.positions = torch.zeros(0, dtype=torch.long)        # (s,)
        self.row_start: torch.Tensor | None = None               # as in KVCache

    @property
    def length(self) -> int:
        return len(self.positions)

    FIELDS = ("x", "c_noise", "actions", "mask")

    def append(self, x, c_noise, actions, mask, positions: torch.Tensor) -> None:
        new = {"x": x, "c_noise": c_noise, "actions": actions, "mask": mask}
        for k, v in new.items():
            old = getattr(self, k)
            setattr(self, k, (v if old is None else torch.cat([old, v.to(old.dtype)], 1))[:, -self.window:])
        self.positions = torch.cat([self.positions, positions.detach().cpu().long()])[-self.window:]
        self.row_start = expire_restarts(self.row_start, self.positions)

    def replace_newest(self, index: torch.Tensor, other: "FrameCache", position: int) -> None:
        """As KVCache.replace_newest: `other`'s one frame becomes the newest of the worlds `index`,
        which restart at `position`."""
        if other.length != 1 or self.length == 0 or int(self.positions[-1]) != position:
            raise ValueError("replace_newest() takes a one-frame cache for the newest cached position")
        for k in self.FIELDS:
            mine = getattr(self, k).clone()
            mine[index, -1:] = getattr(other, k).to(mine.dtype)
            setattr(self, k, mine)
        self.row_start = restart_rows(self.row_start, self.positions, self.x.shape[0], index, position)

    def nbytes(self) -> int:
        held = [getattr(self, k) for k in self.FIELDS] + [self.positions]
        return sum(t.numel() * t.element_size() for t in held if t is not None)

    def clone(self) -> "FrameCache":
        c = FrameCache(self.window)
        for k in self.FIELDS:
            v = getattr(self, k)
            setattr(c, k, None if v is None else v.clone())
        c.positions = self.positions.clone()
        c.row_start = None if self.row_start is None else self.row_start.clone()
        return c

    def select(self, index: torch.Tensor) -> "FrameCache":
        c = self.clone()
        for k in self.FIELDS:
            v = getattr(c, k)
            setattr(c, k, None if v is None else v[index])
        c.row_start = None if c.row_start is None else c.row_start[index.cpu()]
        return c
