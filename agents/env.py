"""`WorldEnv`: a `World` as a Gymnasium environment, so that any Gymnasium agent can act in it.

The action space is the real game's native one (`Discrete(len(world.action_set))`), mapped through
`Action`, so the same agent runs unchanged in the real game's environment and in the world. The
observation is the generated frame (uint8 H x W x 3). Reward and termination come from the world's
reward and episode-end heads (`worldmodel train-heads`); a world without heads gives reward 0 and
never terminates (info["heads"] says which). Episodes are truncated after `max_episode_steps`.

`WorldVectorEnv` is the batched version (Gymnasium's vector API): N worlds advance in one batched
`World.step` call; a world whose episode ended restarts alone (`World.reset_rows`) while the others
play on, at the next step (Gymnasium's default) or in the same step (what stable-baselines3
expects). Row i behaves as a `WorldEnv` seeded with seed + i.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

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


class WorldVectorEnv(VectorEnv):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 15, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, world, num_envs: int, start_images=None, max_episode_steps: int = 1000,
                 render_mode: str | None = None, autoreset_mode: AutoresetMode = AutoresetMode.NEXT_STEP,
                 **world_settings):
        """N worlds of one checkpoint, stepped together. Arguments as for WorldEnv; autoreset_mode
        NEXT_STEP or SAME_STEP (the ended episode's last frame then is in infos["final_obs"])."""
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {autoreset_mode}")
        one = WorldEnv(world, start_images, max_episode_steps, render_mode, **world_settings)
        self.world, self.starts, self.native = one.world, one.starts, one.native
        self.num_envs, self.max_episode_steps, self.render_mode = int(num_envs), one.max_episode_steps, render_mode
        self.single_observation_space, self.single_action_space = one.observation_space, one.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**self.metadata, "render_fps": self.world.fps, "autoreset_mode": autoreset_mode}
        self._rngs = [None] * self.num_envs
        self._t = np.zeros(self.num_envs, np.int64)
        self._ended = np.zeros(self.num_envs, bool)
        self._idle = self.native[0]

    def _start(self, i: int, image=None):
        """Row i's next start image (drawn by its own generator) and world seed, as WorldEnv.reset draws them."""
        rng = self._rngs[i]
        start = None
        if image is None:
            start = int(rng.integers(len(self.starts)))
            image = self.starts[start]
        return image, int(rng.integers(2**31 - 1)), start

    def _restart(self, rows) -> np.ndarray:
        """Start the next episode of these rows (each from its own draw); the batch's frames."""
        picks = [self._start(int(i)) for i in rows]
        return self.world.reset_rows(rows, [p[0] for p in picks], [p[1] for p in picks])

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        """seed: an int (row i gets seed + i), a list with one seed (or None) per row, or None.
        options: {"image": img} for every row or {"images": [img, ...]} one per row."""
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} environments")
        for i, s in enumerate(seeds):
            if s is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(s)
        options = options or {}
        images = options.get("images", [options.get("image")] * self.num_envs)
        if len(images) != self.num_envs:
            raise ValueError(f"got {len(images)} images for {self.num_envs} environments")
        picks = [self._start(i, img) for i, img in enumerate(images)]
        obs = self.world.reset([p[0] for p in picks], seed=[p[1] for p in picks])
        self._t[:] = 0
        self._ended[:] = False
        starts = np.array([-1 if p[2] is None else p[2] for p in picks])
        return obs, {"start": starts, "_start": starts >= 0}

    def step(self, actions):
        """actions: (N,) native action indices. NEXT_STEP: a row whose episode ended at the last step
        restarts instead (its action ignored), returning its start frame with reward 0. SAME_STEP: a
        row whose episode ends now returns its next episode's start frame at once."""
        if self._rngs[0] is None:
            raise RuntimeError("call reset() before step()")
        acts = np.asarray(actions)
        if acts.shape != (self.num_envs,) or not all(self.single_action_space.contains(a) for a in acts.tolist()):
            raise ValueError(f"actions must be {self.num_envs} integers in 0..{self.single_action_space.n - 1}, "
                             f"got {actions!r}")
        restart = np.flatnonzero(self._ended)
        native = [self._idle if self._ended[i] else self.native[int(a)] for i, a in enumerate(acts.tolist())]
        obs = self.world.step(native)                                          # one batched call
        has_heads = self.world.heads is not None
        reward = np.asarray(self.world.reward, np.float64) if has_heads else np.zeros(self.num_envs)
        terminated = np.asarray(self.world.done, bool) if has_heads else np.zeros(self.num_envs, bool)
        self._t += 1
        if len(restart):
            obs = self._restart(restart)
            reward[restart], terminated[restart], self._t[restart] = 0.0, False, 0
        truncated = (self._t >= self.max_episode_steps) & ~terminated
        self._ended = terminated | truncated
        infos = {}
        if self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP and self._ended.any():
            ended = np.flatnonzero(self._ended)
            final = np.empty(self.num_envs, dtype=object)
            final[ended] = list(obs[ended].copy())
            infos = {"final_obs": final, "_final_obs": self._ended.copy(),
                     "final_info": {}, "_final_info": self._ended.copy()}
            obs = self._restart(ended)
            self._t[ended] = 0
            self._ended[:] = False
        return obs.copy(), reward, terminated, truncated, infos

    def render(self):
        return self.world.frame.copy() if self.render_mode == "rgb_array" else None
