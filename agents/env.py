"""`WorldEnv`: a `World` as a Gymnasium environment, so that any Gymnasium agent can act in it.

The action space is the real game's native one (`Discrete(len(world.action_set))`), mapped through
`Action`, so the same agent runs unchanged in the real game's environment and in the world. The
observation is the generated frame (uint8 H x W x 3). Reward and termination come from the world's
reward and episode-end heads (`worldmodel train-heads`); a world without heads gives reward 0 and
never terminates (info["heads"] says which). Episodes are truncated after `max_episode_steps`.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldmodel import World


class WorldEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, world, start_images=None, max_episode_steps: int = 1000, render_mode: str | None = None,
                 **world_settings):
        """world: a World, or a checkpoint folder / shipped name (world_settings go to
        World.from_pretrained). start_images: images reset() picks from with its seed (default:
        the checkpoint's start frame); reset(options={"image": ...}) starts from any image."""
        self.world = world if isinstance(world, World) else World.from_pretrained(world, **world_settings)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.render_mode, self.max_episode_steps = render_mode, int(max_episode_steps)
        self.native = self.world.action_set
        self.starts = list(start_images) if start_images is not None else [self.world.start_image()]
        if not self.starts or any(s is None for s in self.starts):
            raise ValueError("no start images: this checkpoint has no start.png, pass start_images=[...]")
        h, w = self.world.resolution
        self.observation_space = spaces.Box(0, 255, (h, w, 3), np.uint8)
        self.action_space = spaces.Discrete(len(self.native))
        self.metadata = {**self.metadata, "render_fps": self.world.fps}
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        image = (options or {}).get("image")
        start = None
        if image is None:
            start = int(self.np_random.integers(len(self.starts)))
            image = self.starts[start]
        obs = self.world.reset(image, seed=int(self.np_random.integers(2**31 - 1)))
        self._t = 0
        return obs, {"start": start, "heads": self.world.heads is not None}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in 0..{self.action_space.n - 1}, got {action!r}")
        obs = self.world.step(self.native[int(action)])
        self._t += 1
        has_heads = self.world.heads is not None
        reward = float(self.world.reward) if has_heads else 0.0
        terminated = bool(self.world.done) if has_heads else False
        truncated = self._t >= self.max_episode_steps and not terminated
        return obs, reward, terminated, truncated, {"heads": has_heads}

    def render(self):
        return self.world.frame if self.render_mode == "rgb_array" else None
