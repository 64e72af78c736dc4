"""What every environment adapter provides.

An adapter owns a native game and speaks `Action`: `reset(seed) -> frame`,
`step(Action) -> (frame, reward, done)`. Frames are uint8 (size, size, 3) at the recording
resolution. `action_set` lists the native actions as `Action`s (index = native action id),
which is what random and scripted policies sample from and what agents act in.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from PIL import Image

from ..action import Action, action_to_json


class Env(ABC):
    name: str  # the spec string that make_env() understands, e.g. "atari:Breakout"
    size: int
    fps: float
    action_set: list[Action]
    # Frames after a reset that evaluation rollouts do not start from, because the game is not
    # yet playing normally there (ViZDoom ignores the first action after a reset). A rollout from
    # such a frame would score a world that follows its keys against a game that dropped them,
    # and a copy-last that the game's pause makes exact.
    settle_frames: int = 0
    # The game drops the action of the first step after a reset (ViZDoom). Recordings keep the key
    # that was pressed; the loaders train that step as the null action (mask_dropped_action), so a
    # world does not learn that its start view ignores the keys.
    ignores_first_action: bool = False

    @abstractmethod
    def reset(self, seed: int | None = None) -> np.ndarray: ...

    @abstractmethod
    def step_native(self, index: int) -> tuple[np.ndarray, float, bool]:
        """Step with the native action number `index` (0 <= index < len(action_set))."""

    def step(self, action: Action) -> tuple[np.ndarray, float, bool]:
        return self.step_native(self.native_action(action))

    def native_action(self, action: Action) -> int:
        """The native action closest to `action`: the one sharing the most held keys.

        WASD counts as the arrows; ties go to the lowest index (NOOP in ALE's order)."""
        if not isinstance(action, Action):
            raise TypeError(f"expected worldmodel.Action, got {type(action).__name__}")
        want = _canonical(action.keys)
        best, best_score = 0, None
        for i, a in enumerate(self.action_set):
            have = _canonical(a.keys)
            score = len(want & have) - len(want ^ have) * 0.5
            if best_score is None or score > best_score:
                best, best_score = i, score
        return best

    def check_native(self, index) -> int:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"native action must be an integer, got {index!r}")
        if not 0 <= index < len(self.action_set):
            raise ValueError(f"native action {index} out of range 0..{len(self.action_set) - 1} for {self.name}")
        return int(index)

    def close(self) -> None:
        pass

    def meta(self) -> dict:
        return {"env": self.name, "size": self.size, "fps": self.fps,
                "action_set": [action_to_json(a) for a in self.action_set]}


_WASD = {"w": "up", "a": "left", "s": "down", "d": "right"}


def _canonical(keys) -> frozenset[str]:
    return frozenset(_WASD.get(k, k) for k in keys)


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Fit a native frame to (size, size, 3) uint8 with area-averaging (no aliasing)."""
    if frame.shape[:2] == (size, size):
        return np.ascontiguousarray(frame[..., :3])
    img = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
    return np.asarray(img.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)
