"""Atari games through ale-py + gymnasium (the ROMs ship inside the ale-py wheel)."""
from __future__ import annotations

import numpy as np

from ..action import Action
from .base import Env, resize_frame

# ALE's action names are made of these words; each maps to held keys.
# A reset frame this far (mean absolute difference, grey levels) from the frame after it is a
# frame shown only before play starts (AtariEnv.reset); at most PRE_PLAY_STEPS are skipped.
SCENE_CUT = 20.0
PRE_PLAY_STEPS = 8

_WORDS = {"UP": "up", "DOWN": "down", "LEFT": "left", "RIGHT": "right", "FIRE": "space"}


def meaning_to_action(meaning: str) -> Action:
    keys, rest = [], meaning
    if rest == "NOOP":
        return Action()
    for word in ("UP", "DOWN", "LEFT", "RIGHT", "FIRE"):
        if word in rest:
            keys.append(_WORDS[word])
            rest = rest.replace(word, "", 1)
    if rest:
        raise ValueError(f"unknown ALE action meaning {meaning!r}")
    return Action.press(*keys)


class AtariEnv(Env):
    def __init__(self, game: str = "Breakout", size: int = 64, frameskip: int = 4):
        try:
            import ale_py
            import gymnasium as gym
        except ImportError as e:  # pragma: no cover - both are dependencies
            raise RuntimeError("Atari needs ale-py and gymnasium: pip install ale-py gymnasium") from e
        gym.register_envs(ale_py)
        try:
            self._env = gym.make(f"ALE/{game}-v5", frameskip=frameskip,
                                 repeat_action_probability=0.0, full_action_space=False)
        except Exception as e:
            raise ValueError(f"unknown Atari game {game!r} ({e}); try e.g. atari:Breakout, atari:Boxing, atari:Pong") from e
        self.name = f"atari:{game}"
        self.size = size
        self.fps = 60.0 / frameskip
        self.action_set = [meaning_to_action(m) for m in self._env.unwrapped.get_action_meanings()]

    def reset(self, seed: int | None = None) -> np.ndarray:
        """The first frame of play. Some games show a frame at reset that play never shows again
        (Pong: an olive court with one blue paddle, 53 grey levels from every later frame, where
        consecutive frames differ by 0.2). Such frames are skipped with no-op steps, so start
        images and rollout starts are frames of real play; a game whose reset frame is already
        play is looked ahead of (a cloned ALE state) and put back, untouched. The same seed
        always skips the same frames, so replays from a seed and actions stay exact."""
        obs, _ = self._env.reset(seed=None if seed is None else int(seed))
        frame = resize_frame(obs, self.size)
        ale = self._env.unwrapped.ale
        for _ in range(PRE_PLAY_STEPS):
            before = ale.cloneState()
            obs, _, terminated, truncated, _ = self._env.step(0)
            nxt = resize_frame(obs, self.size)
            if terminated or truncated or np.abs(nxt.astype(np.int16) - frame).mean() < SCENE_CUT:
                ale.restoreState(before)       # the frame before belongs to play: stay there
                break
            frame = nxt
        return frame

    def step_native(self, index: int) -> tuple[np.ndarray, float, bool]:
        index = self.check_native(index)
        obs, reward, terminated, truncated, _ = self._env.step(index)
        return resize_frame(obs, self.size), float(reward), bool(terminated or truncated)

    def close(self) -> None:
        self._env.close()
