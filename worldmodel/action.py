"""The unified action space: one player input for one frame.

Every environment maps its native actions to and from `Action`, and the dynamics model
embeds `Action.to_vector()`. Layout of that vector (ACTION_DIM floats):

    [ multi-hot held keys (len(KEYS)) | mouse dx, dy (scaled to [-1, 1]) | mouse buttons (left, right) ]

The "null" action that classifier-free guidance drops to is not an `Action`: it is a learned
embedding inside the model, selected by a per-frame mask (see dynamics/transformer.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

# The fixed key vocabulary. Appending is fine; reordering breaks every trained checkpoint.
KEYS: tuple[str, ...] = (
    "up", "down", "left", "right",
    "w", "a", "s", "d",
    "space", "shift", "ctrl", "enter", "tab",
    "e", "q", "r", "f",
    "1", "2", "3", "4",
)
MOUSE_BUTTONS: tuple[str, ...] = ("left", "right")
# Mouse motion is given in screen pixels per frame; the model sees dx / MOUSE_SCALE clipped to
# [-1, 1]. A flick faster than MOUSE_SCALE pixels per frame saturates instead of erroring:
# that is a real thing a hand does, not bad input.
MOUSE_SCALE = 32.0
ACTION_DIM = len(KEYS) + 2 + len(MOUSE_BUTTONS)

_KEY_INDEX = {k: i for i, k in enumerate(KEYS)}


class ActionError(ValueError):
    """An action that cannot be understood (unknown key, NaN mouse motion, ...)."""


@dataclass(frozen=True)
class Action:
    """Held keys, mouse motion (pixels this frame) and held mouse buttons."""

    keys: frozenset[str] = field(default_factory=frozenset)
    mouse_dx: float = 0.0
    mouse_dy: float = 0.0
    buttons: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        keys = _as_set(self.keys, "keys")
        buttons = _as_set(self.buttons, "buttons")
        unknown = keys - set(KEYS)
        if unknown:
            raise ActionError(f"unknown key(s) {sorted(unknown)}; known keys: {', '.join(KEYS)}")
        unknown = buttons - set(MOUSE_BUTTONS)
        if unknown:
            raise ActionError(f"unknown mouse button(s) {sorted(unknown)}; known: {MOUSE_BUTTONS}")
        for name in ("mouse_dx", "mouse_dy"):
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ActionError(f"{name} must be a number, got {value!r}") from None
            if not math.isfinite(value):
                raise ActionError(f"{name} must be finite, got {value}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "keys", frozenset(keys))
        object.__setattr__(self, "buttons", frozenset(buttons))

    @classmethod
    def press(cls, *keys: str) -> "Action":
        """`Action.press("up", "space")`: shorthand for held keys and no mouse."""
        return cls(keys=frozenset(keys))

    def to_vector(self) -> np.ndarray:
        v = np.zeros(ACTION_DIM, dtype=np.float32)
        for k in self.keys:
            v[_KEY_INDEX[k]] = 1.0
        n = len(KEYS)
        v[n] = np.clip(self.mouse_dx / MOUSE_SCALE, -1.0, 1.0)
        v[n + 1] = np.clip(self.mouse_dy / MOUSE_SCALE, -1.0, 1.0)
        for i, b in enumerate(MOUSE_BUTTONS):
            v[n + 2 + i] = float(b in self.buttons)
        return v

    @classmethod
    def from_vector(cls, v: np.ndarray) -> "Action":
        v = np.asarray(v, dtype=np.float32)
        if v.shape != (ACTION_DIM,):
            raise ActionError(f"action vector must have shape ({ACTION_DIM},), got {v.shape}")
        if not np.isfinite(v).all():
            raise ActionError("action vector has NaN or infinite entries")
        n = len(KEYS)
        return cls(
            keys=frozenset(k for k, x in zip(KEYS, v[:n]) if x > 0.5),
            mouse_dx=float(v[n]) * MOUSE_SCALE,
            mouse_dy=float(v[n + 1]) * MOUSE_SCALE,
            buttons=frozenset(b for b, x in zip(MOUSE_BUTTONS, v[n + 2:]) if x > 0.5),
        )

    def __str__(self) -> str:
        parts = sorted(self.keys)
        if self.mouse_dx or self.mouse_dy:
            parts.append(f"mouse({self.mouse_dx:+.0f},{self.mouse_dy:+.0f})")
        parts += [f"click:{b}" for b in sorted(self.buttons)]
        return "+".join(parts) if parts else "idle"


def _as_set(value, name: str) -> set[str]:
    if isinstance(value, str):  # Action(keys="up") would otherwise become {"u", "p"}
        return {value}
    try:
        items = set(value)
    except TypeError:
        raise ActionError(f"{name} must be a collection of names, got {value!r}") from None
    bad = [x for x in items if not isinstance(x, str)]
    if bad:
        raise ActionError(f"{name} must be strings, got {bad!r}")
    return items


def actions_to_array(actions: Iterable[Action]) -> np.ndarray:
    """Stack actions into a (N, ACTION_DIM) float32 array."""
    actions = list(actions)
    for a in actions:
        if not isinstance(a, Action):
            raise ActionError(f"expected worldmodel.Action, got {type(a).__name__}: {a!r}")
    if not actions:
        return np.zeros((0, ACTION_DIM), np.float32)
    return np.stack([a.to_vector() for a in actions])


def action_windows(vectors: np.ndarray, k: int) -> np.ndarray:
    """The latest k action vectors at every step, oldest first: (T, a) -> (T, k, a), step i's
    window ending with vectors[i], zeros before step 0 (what reward heads that read the latest
    actions see, and what a World keeps for them from its reset)."""
    padded = np.concatenate([np.zeros((k - 1, vectors.shape[1]), vectors.dtype), vectors])
    return np.stack([padded[j:j + len(vectors)] for j in range(k)], 1)


def action_to_json(a: Action):
    """How checkpoints and recordings store a native action: its sorted keys, or a dict when the
    action also moves the mouse or holds a button (first-person games)."""
    if not (a.mouse_dx or a.mouse_dy or a.buttons):
        return sorted(a.keys)
    return {"keys": sorted(a.keys), "mouse_dx": a.mouse_dx, "mouse_dy": a.mouse_dy, "buttons": sorted(a.buttons)}


def action_from_json(x) -> Action:
    if isinstance(x, dict):
        return Action(keys=frozenset(x.get("keys", ())), mouse_dx=x.get("mouse_dx", 0.0),
                      mouse_dy=x.get("mouse_dy", 0.0), buttons=frozenset(x.get("buttons", ())))
    return Action.press(*x)


IDLE = Action()
