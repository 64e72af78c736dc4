"""A procedural top-down world in pure numpy: fast, deterministic, and built to test control
and memory.

The world is a seamless (toroidal) map, 4 views wide, of smooth coloured terrain with sharp
landmarks. The view follows an avatar drawn at its centre. Arrows/WASD move the view, so the
content scrolls; walking N steps away and N back returns exactly the same frame (the memory
test). Space toggles the avatar's colour: an action effect on the character, not the scenery.
Different seeds give different maps.
"""
from __future__ import annotations

import numpy as np

from ..action import Action
from .base import Env

_MOVES = {  # native action -> (keys, dy, dx)
    0: ((), 0, 0),
    1: (("up",), -1, 0),
    2: (("down",), 1, 0),
    3: (("left",), 0, -1),
    4: (("right",), 0, 1),
    5: (("up", "left"), -1, -1),
    6: (("up", "right"), -1, 1),
    7: (("down", "left"), 1, -1),
    8: (("down", "right"), 1, 1),
    9: (("space",), 0, 0),
}
AVATAR_COLORS = np.array([[255, 255, 255], [255, 40, 40]], dtype=np.uint8)


class ProceduralEnv(Env):
    def __init__(self, size: int = 64, map_scale: int = 4, speed: int | None = None):
        if size < 8 or size % 4:
            raise ValueError(f"procedural world size must be a multiple of 4 and >= 8, got {size}")
        self.name = "procedural"
        self.size = size
        self.fps = 15.0
        self.map_size = size * map_scale
        self.speed = speed or max(1, size // 8)  # 1/8 of the view per step: a move is clearly visible
        self.action_set = [Action.press(*keys) for keys, _, _ in _MOVES.values()]
        self._map: np.ndarray | None = None
        self.pos = np.zeros(2, dtype=np.int64)
        self.avatar = 0

    def reset(self, seed: int | None = None) -> np.ndarray:
        rng = np.random.default_rng(seed)
        self._map = make_map(self.map_size, rng)
        self.pos = rng.integers(0, self.map_size, size=2)
        self.avatar = 0
        return self.render()

    def step_native(self, index: int) -> tuple[np.ndarray, float, bool]:
        if self._map is None:
            raise RuntimeError("call reset() before step()")
        index = self.check_native(index)
        _, dy, dx = _MOVES[index]
        self.pos = (self.pos + np.array([dy, dx]) * self.speed) % self.map_size
        if index == 9:
            self.avatar = 1 - self.avatar
        return self.render(), 0.0, False

    def render(self) -> np.ndarray:
        s, m = self.size, self.map_size
        ys = (self.pos[0] - s // 2 + np.arange(s)) % m
        xs = (self.pos[1] - s // 2 + np.arange(s)) % m
        frame = self._map[np.ix_(ys, xs)].copy()
        r = max(1, s // 20)  # avatar: a filled square with a dark outline
        c = s // 2
        frame[c - r - 1:c + r + 1, c - r - 1:c + r + 1] = 0
        frame[c - r:c + r, c - r:c + r] = AVATAR_COLORS[self.avatar]
        return frame


def make_map(m: int, rng: np.random.Generator) -> np.ndarray:
    """Seamless terrain: a few low-frequency waves per channel plus landmarks (rects, discs)."""
    yy, xx = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    base = rng.uniform(60, 160, size=3)
    img = np.zeros((m, m, 3), dtype=np.float64) + base
    for _ in range(4):  # integer frequencies keep the torus seamless
        fy, fx = rng.integers(1, 5, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        amp = rng.uniform(10, 35, size=3)
        wave = np.sin(2 * np.pi * (fy * yy + fx * xx) / m + phase)
        img += wave[..., None] * amp
    n_marks = (m // 16) ** 2 // 3
    for _ in range(n_marks):
        color = rng.integers(0, 256, size=3)
        cy, cx = rng.integers(0, m, size=2)
        h, w = rng.integers(m // 64 + 2, m // 16 + 3, size=2)
        dy = (yy - cy + m // 2) % m - m // 2  # toroidal offsets
        dx = (xx - cx + m // 2) % m - m // 2
        if rng.random() < 0.5:
            mask = (np.abs(dy) <= h) & (np.abs(dx) <= w)
        else:
            mask = dy ** 2 + dx ** 2 <= h * w
        img[mask] = color
    return np.clip(img, 0, 255).astype(np.uint8)
