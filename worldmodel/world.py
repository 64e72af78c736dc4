"""`World`: the one API that the pygame loop, the Gradio page and the agents all drive.

    world = World.from_pretrained("procedural")     # a shipped name or a checkpoint folder
    frame = world.reset("photo.png")                 # (H, W, 3) uint8, the image fitted to the model
    frame = world.step(Action.press("right"))        # the next generated frame
    other = world.fork()                             # a counterfactual branch from here

Batched: `reset([img1, img2, ...])` starts B worlds and `step([a1, a2, ...])` steps them all in
one call, returning (B, H, W, 3).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from autoencoder import Autoencoder, frames_to_tensor, tensor_to_frames
from dynamics import SAMPLERS, Denoiser, FrameCache, KVCache, karras_sigmas, network_actions, warm_start_input

from .action import ACTION_DIM, Action, ActionError, action_from_json, action_windows, actions_to_array
from .checkpoint import CheckpointError, load_checkpoint
from .image import ImageError, fit_image
from .world_checkpoint import build_world_parts, load_heads, load_world_parts, resolve_checkpoint, teacher_dir

@dataclass
class PlayState:
    """What a World holds between steps, one row per world of a batch (between reset and step)."""
    frames: np.ndarray                 # (b, H, W, 3) uint8: the newest frame of every world
    batched: bool                      # reset with a list of images: answers come back batched
    generators: list                   # torch.Generators: one noise stream, or one per world
    cache: KVCache | FrameCache        # the last `context` past frames: keys/values, or the frames (kv_cache=True)
    position: int = 0                  # frame index of the newest frame
    # the cached frames' inputs (x, sigma, actions, mask, pos): set_fast() rebuilds the cache from them
    recent: list = field(default_factory=list)
    history: dict | None = None        # kv_cache=False: every past frame's inputs, recomputed each step
    latent: torch.Tensor | None = None # (b, c, h, w): the newest latent frame
    z_prev: torch.Tensor | None = None # with heads: the latent the newest reward is read against
    reward: np.ndarray | None = None   # with heads: the newest step's reward, per world
    end_prob: np.ndarray | None = None # with heads: the newest step's calibrated episode-end probability, per world
    ended: np.ndarray | None = None    # with heads: whether the newest step ended its episode, per world
    # with heads that read the latest k actions: the k-1 before the next step's, (b, k-1, a), oldest
    # first (never written in place: a fork shares it)
    past_actions: torch.Tensor | None = None
    # the newest frame's episode clock per world, (b,) int: steps since its episode began (what a
    # network with DynamicsConfig.clock reads; never written in place: a fork shares it)
    clock: np.ndarray | None = None


class World:
    def __init__(self, autoencoder: Autoencoder, denoiser: Denoiser, config: dict, *, device=None,
                 dtype: str | torch.dtype | None = None, steps: int | None = None,
                 guidance_scale: float | None = None, sampler: str | None = None,
                 context_noise: float | None = None, seed: int = 0, kv_cache: bool = True,
                 path: Path | None = None, heads=None, warm_start: float | None = None):
        self.config, self.path = config, path
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device cuda asked for, but this torch has no usable CUDA GPU "
                             f"(torch {torch.__version__}); use --device cpu")
        self.dtype = _dtype(dtype, self.device)
        self.autoencoder = autoencoder.to(self.device)
        self.denoiser = denoiser.to(self.device)
        self.heads = None if heads is None else heads.to(self.device)   # reward / episode-end heads
        self._use_sampling(config.get("sampling", {}), steps, guidance_scale, sampler, warm_start)
        self.fast = True if "distilled" in config else None  # None: no student/teacher pair
        self._paths: dict[bool, tuple] = {}
        self.context_noise = float(context_noise if context_noise is not None else denoiser.config.context_noise)
        self.kv_cache = kv_cache  # False: recompute every past frame at every step (reference, slow)
        self.seed = seed
        self._validate_settings()
        self._state: PlayState | None = None

    # ----- construction -------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, name_or_path=None, *, fast: bool | None = None, **settings) -> "World":
        """Load a world by shipped name (`worldmodel list`) or checkpoint folder. Settings:
        device, dtype, steps, guidance_scale, sampler, context_noise, seed, kv_cache, warm_start
        (sample each frame from the previous one noised to this sigma instead of from pure noise;
        0: off), and for a distilled student `fast` (True: the student, the default; False: its
        guided teacher). steps/guidance_scale/sampler/warm_start apply to the path chosen here."""
        path = resolve_checkpoint(name_or_path)
        config, tensors = load_checkpoint(path)
        ae, den = build_world_parts(path, config, tensors)
        if "heads" not in settings:                  # heads=None: without them (refitting them, say)
            settings["heads"] = load_heads(path, config, tensors)
        if fast is not None and teacher_dir(path, config) is None:
            raise ValueError(f"{path} is not a distilled student, so it has no fast/slow switch")
        if fast is False:  # the teacher as the main path; the student stays switchable
            sampling = {k: settings.pop(k, None) for k in ("steps", "guidance_scale", "sampler", "warm_start")}
            world = cls(ae, den, config, path=path, **settings)
            world.set_fast(False)
            world._use_sampling(world._paths[False][1], **sampling)
            world._validate_settings()
            return world
        return cls(ae, den, config, path=path, **settings)

    def _use_sampling(self, sampling: dict, steps=None, guidance_scale=None, sampler=None, warm_start=None) -> None:
        """Sampling settings from a checkpoint's `sampling` block, where not given explicitly."""
        self.steps = int(steps if steps is not None else sampling.get("steps", 8))
        self.guidance_scale = float(guidance_scale if guidance_scale is not None else sampling.get("guidance_scale", 1.0))
        self.sampler = sampler or sampling.get("sampler", "euler")
        self.warm_start = float(warm_start if warm_start is not None else sampling.get("warm_start", 0.0))
        # a distilled student carries the noise levels it was trained on (from its warm start, if any)
        own = self.steps == sampling.get("steps") and self.warm_start == sampling.get("warm_start", 0.0)
        self.sigmas = sampling.get("sigmas") if own else None

    def set_sampling(self, steps: int | None = None, guidance_scale: float | None = None,
                     warm_start: float | None = None) -> None:
        """Change the denoising steps, guidance scale and warm start (0: off) of the path in use,
        mid-play. A student's own noise levels serve only its own step count and warm start;
        others use the Karras schedule."""
        sampling = self._paths[self.fast][1] if self._paths else self.config.get("sampling", {})
        old = (self.steps, self.guidance_scale, self.sigmas, self.warm_start)
        self._use_sampling(sampling, self.steps if steps is None else steps,
                           self.guidance_scale if guidance_scale is None else guidance_scale, self.sampler,
                           self.warm_start if warm_start is None else warm_start)
        try:
            self._validate_settings()
        except ValueError:
            self.steps, self.guidance_scale, self.sigmas, self.warm_start = old
            raise

    def set_fast(self, fast: bool) -> None:
        """Switch a distilled world between its student (fast) and its guided teacher (slow), also
        in the middle of a play: the other network re-encodes the last `context` frames, so the
        play goes on from the same frame. The path's own sampling settings apply."""
        if self.fast is None:
            raise ValueError("this world is not a distilled student: there is no fast/slow switch")
        fast = bool(fast)
        if fast == self.fast:
            return
        if self._state is not None and self._state.cache.row_start is not None:
            raise ValueError("some worlds of this batch restarted (reset_rows) within the context window; "
                             "switch paths after a full reset()")
        if not self._paths:
            self._paths[True] = (self.denoiser, self.config.get("sampling", {}))
            tdir = teacher_dir(self.path, self.config)
            tconfig, tae, tden = load_world_parts(tdir)
            if tconfig["autoencoder"] != self.config["autoencoder"]:
                raise CheckpointError(f"{tdir} uses another autoencoder than its student {self.path}")
            self._paths[False] = (tden.to(self.device), tconfig.get("sampling", {}))
        self.denoiser, sampling = self._paths[fast]
        self.fast = fast
        self._use_sampling(sampling)
        if self._state is not None and self.kv_cache:
            st = self._state
            st.cache = self.denoiser.net.new_cache()
            with self._autocast():
                for x, sig, acts, mask, pos in st.recent:
                    self.denoiser(x, sig, acts, mask, pos, cache=st.cache, commit=True, last=0)

    # ----- properties ---------------------------------------------------------------------
    @property
    def resolution(self) -> tuple[int, int]:
        s = self.autoencoder.config.image_size
        return (s, s)

    @property
    def fps(self) -> float:
        return float(self.config.get("env", {}).get("fps", 15.0))

    @property
    def action_set(self) -> list[Action]:
        """The native actions of the game this world was learned from, as `Action`s."""
        return [action_from_json(a) for a in self.config.get("env", {}).get("action_set", [[]])]

    def settings(self) -> dict:
        """The sampling settings in use (what a report should quote)."""
        out = {"steps": self.steps, "guidance_scale": self.guidance_scale, "sampler": self.sampler,
               "context_noise": self.context_noise}
        if self.warm_start:
            out["warm_start"] = self.warm_start
        if self.fast is not None:
            out["path"] = "student (fast)" if self.fast else "teacher (slow)"
        return out

    @property
    def batch_size(self) -> int:
        return 0 if self._state is None else self._state.frames.shape[0]

    @property
    def frame(self) -> np.ndarray:
        """The current frame(s), as last returned by reset/step."""
        self._require_reset()
        f = self._state.frames
        return f if self._state.batched else f[0]

    @property
    def reward(self):
        """The reward the heads predict for the last step (float, or (B,) array for a batch);
        None if this world has no heads. 0 after reset."""
        self._require_reset()
        r = self._state.reward
        return None if r is None else (r if self._state.batched else float(r[0]))

    @property
    def done(self):
        """Whether the heads say the episode ended at the last step (as their `end_estimate`
        says: a threshold, or drawn from the world's noise stream): bool or (B,) array; None
        without heads. False after reset."""
        self._require_reset()
        d = self._state.ended
        return None if d is None else (d.copy() if self._state.batched else bool(d[0]))   # callers may write to it

    @property
    def end_probability(self):
        """The heads' calibrated probability that the last step ended the episode: float or (B,)
        array; None without heads. 0 after reset. (Heads fitted before 2026-12-06 do not know
        their end weight, and give the weighted, too high probability: `HeadsConfig.end_weight`.)"""
        self._require_reset()
        p = self._state.end_prob
        return None if p is None else (p.copy() if self._state.batched else float(p[0]))

    @property
    def latent(self):
        """The latent frame(s) (b, c, h, w) behind the current frame: the encoded start image
        after reset, the generated latent after a step."""
        self._require_reset()
        return self._state.latent

    @property
    def clock(self):
        """The newest frame's episode clock: steps since its episode began (int, or (B,) array for
        a batch); what a network with DynamicsConfig.clock reads."""
        self._require_reset()
        c = self._state.clock
        return c.copy() if self._state.batched else int(c[0])

    def state_bytes(self) -> int:
        """Bytes of tensors the world keeps between steps (KV cache, history): bounded by the
        context window with the KV cache; grows with every frame in the kv_cache=False reference."""
        self._require_reset()
        held = [*(self._state.history or {}).values(), self._state.latent,
                *(t for frame in self._state.recent for t in frame)]
        return self._state.cache.nbytes() + sum(t.numel() * t.element_size() for t in held if t is not None)

    def start_image(self) -> np.ndarray | None:
        """The shipped start frame of this world (start.png in the checkpoint), if any."""
        if self.path is not None and (self.path / "start.png").is_file():
            return fit_image(self.path / "start.png", self.resolution[0])
        return None

    # ----- playing ------------------------------------------------------------------------
    @torch.no_grad()
    def reset(self, image=None, *, seed: int | list[int] | None = None, past_actions=None,
              clock: int | list[int] = 0) -> np.ndarray:
        """Start from an image (path, bytes, PIL image or array; any size or mode) or a list of
        them for a batch of worlds. None = the checkpoint's start image.

        seed: one int (a batch shares one noise stream: fastest), or for a batch a list with one
        seed per world, so that world i draws exactly the noise a single world reset with seed[i]
        would draw (what a vector environment needs, see `reset_rows`).

        past_actions: for heads that read the latest k actions (HeadsConfig.action_history), the
        action vectors that led to the image(s), (b, k-1, ACTION_DIM) oldest first, when the world
        starts mid-episode (scoring heads from a recorded frame). None: no actions yet, as at an
        episode's start.

        clock: the episode step of the image(s), one int or one per world: 0 (an episode's start)
        unless the world starts from a recorded frame mid-episode. Only a world whose network
        reads the episode clock (DynamicsConfig.clock) uses it."""
        batched = isinstance(image, (list, tuple))
        images = list(image) if batched else [image]
        if not images:
            raise ImageError("reset() got an empty list of images")
        frames = self._fit(images)                                             # (b, H, W, 3)
        b = len(frames)
        if isinstance(seed, (list, tuple, np.ndarray)):
            if len(seed) != b:
                raise ValueError(f"got {len(seed)} seeds for {b} world(s)")
            gens = [torch.Generator(self.device).manual_seed(int(s)) for s in seed]
        else:
            gens = [torch.Generator(self.device).manual_seed(self.seed if seed is None else int(seed))]
        if self.heads is None and past_actions is not None:                  # refused before the old play is lost
            raise ValueError("past_actions is for a world with heads that read the latest actions; this one has no heads")
        past = self._past_actions(b, past_actions) if self.heads is not None else None
        clock = np.broadcast_to(np.asarray(clock), (b,)) if np.ndim(clock) == 0 else np.asarray(clock)
        if clock.shape != (b,) or clock.dtype.kind not in "iu" or (clock < 0).any():
            raise ValueError(f"clock must be one int >= 0 or one per world ({b}), got {clock!r}")
        self._state = PlayState(frames, batched, gens, self.denoiser.net.new_cache(), clock=clock.astype(np.int64))
        z = self._encode(frames)                                               # (b, c, h, w)
        self._commit(z, self._net_actions(torch.zeros(b, ACTION_DIM, device=self.device), self._state.clock),
                     torch.zeros(b, dtype=torch.bool, device=self.device), pos=0)  # frame 0: null action
        self._state.latent = z
        if self.heads is not None:
            st = self._state
            st.z_prev, st.reward, st.end_prob = z, np.zeros(b, np.float32), np.zeros(b, np.float32)
            st.ended = np.zeros(b, bool)
            st.past_actions = past
        return frames if batched else frames[0]

    @torch.no_grad()
    def reset_rows(self, rows, images, seeds) -> np.ndarray:
        """Restart some worlds of a batch (reset with one seed per world) from new images, while
        the others play on: what a vector environment does when some of its episodes end.

        Row i's new start frame takes the place of its newest frame in the KV cache, and from now
        on row i attends only to frames from its restart on (a per-row key mask). Because the
        rotary embedding sees only relative frame offsets, row i then plays as a single world
        reset with seeds[i] and stepped with the same actions would, up to float rounding.
        Returns the batch's current frames (B, H, W, 3)."""
        self._require_reset()
        st = self._state
        b = st.frames.shape[0]
        rows = [int(r) for r in rows]
        if not st.batched or len(st.generators) != b:
            raise ValueError("reset_rows() needs a batch reset with one seed per world: reset([...], seed=[...])")
        if not self.kv_cache:
            raise ValueError("reset_rows() needs the KV cache (kv_cache=True)")
        if len(images) != len(rows) or len(seeds) != len(rows) or len(set(rows)) != len(rows) \
                or any(not 0 <= r < b for r in rows):
            raise ValueError(f"reset_rows() takes distinct rows in 0..{b - 1} and one image and seed for each")
        if not rows:
            return st.frames
        frames = self._fit(images)                                             # (r, H, W, 3)
        idx = torch.tensor(rows, device=self.device)
        z = self._encode(frames)                                               # (r, c, h, w)
        for row, s in zip(rows, seeds):
            st.generators[row] = torch.Generator(self.device).manual_seed(int(s))
        # the start frame as reset() commits it (null action, no past), into a cache of its own
        r = len(rows)
        x, sig = self._context_frame(z, rows)                                  # (r, 1, c, h, w), (r, 1)
        acts = self._net_actions(torch.zeros(r, 1, ACTION_DIM, device=self.device), np.zeros((r, 1), np.int64))
        mask = torch.zeros(r, 1, dtype=torch.bool, device=self.device)
        own = self.denoiser.net.new_cache()
        with self._autocast():
            self.denoiser(x, sig, acts, mask, torch.tensor([st.position]), cache=own, commit=True, last=0)
        st.cache.replace_newest(idx, own, st.position)
        newest = list(st.recent[-1])                                        # keep set_fast's window in step
        for j, new in enumerate((x, sig, acts, mask)):
            newest[j] = newest[j].clone()
            newest[j][idx] = new.to(newest[j].dtype)
        st.recent[-1] = tuple(newest)
        st.frames = st.frames.copy()
        st.frames[rows] = frames
        st.clock = st.clock.copy()
        st.clock[rows] = 0                                                  # a new episode's first frame
        if st.latent is not None:
            st.latent = st.latent.clone()
            st.latent[idx] = z
        if self.heads is not None:
            st.z_prev = st.z_prev.clone()
            st.z_prev[idx] = z
            st.reward, st.end_prob, st.ended = st.reward.copy(), st.end_prob.copy(), st.ended.copy()
            st.reward[rows], st.end_prob[rows], st.ended[rows] = 0.0, 0.0, False
            if st.past_actions is not None:                                  # a new episode: no actions yet
                st.past_actions = st.past_actions.clone()
                st.past_actions[idx] = 0.0
        return st.frames

    @torch.no_grad()
    def step(self, action) -> np.ndarray:
        """Advance every world one frame. `action`: one Action (applied to all worlds) or a list
        with one Action per world. Returns (H, W, 3) uint8, or (B, H, W, 3) for a batch."""
        self._require_reset()
        st = self._state
        b = st.frames.shape[0]
        acts = self._actions(action, b)                                        # (b, a)
        clock = st.clock + 1                                                   # the new frame's episode step
        net_acts = self._net_actions(acts, clock)                              # (b, a) or (b, a + 1)
        on = torch.ones(b, dtype=torch.bool, device=self.device)
        cfg = self.autoencoder.config
        shape = (b, self.autoencoder.config.latent_channels, cfg.latent_size, cfg.latent_size)
        noise = self._randn(shape)
        pos = st.position + 1

        def denoise_fn(x, sigma, action_on):                                   # x (b', c, h, w)
            rep = x.shape[0] // b
            return self._denoise(x, sigma, net_acts.repeat(rep, 1), action_on, pos)

        sigmas = self.sigmas or karras_sigmas(self.steps, self.denoiser.config, self.warm_start or None)
        if self.warm_start:                     # from the newest frame noised to sigmas[0], not pure noise
            noise = warm_start_input(st.latent, noise, sigmas[0])
        with self._autocast():
            z = SAMPLERS[self.sampler](denoise_fn, noise, sigmas, self.guidance_scale).float()
            self._commit(z, net_acts, on, pos)
            frames = tensor_to_frames(self.autoencoder.decode(z).float().clamp(-1, 1)).cpu().numpy()
        st.frames, st.latent, st.clock = frames, z, clock
        if self.heads is not None:                                             # the step's reward and end
            if st.past_actions is not None:                                   # (b, k, a): the latest k
                window = torch.cat([st.past_actions, acts[:, None].to(st.past_actions.dtype)], 1)
                st.past_actions = window[:, 1:]
            else:
                window = acts
            r, p_end = self.heads.predict(st.z_prev, z, window, self._heads_clock(clock))
            u = self._rand(b) if self.heads.config.end_estimate == "sample" else None   # only then: same noise as before
            ended = self.heads.ends(p_end, u)
            st.z_prev, st.reward, st.end_prob = z, r.cpu().numpy(), p_end.cpu().numpy()
            st.ended = ended.cpu().numpy()
        return frames if st.batched else frames[0]

    def fork(self) -> "World":
        """An independent copy of this world's state (same weights): a counterfactual branch.
        Stepping the fork with the same actions gives the same frames as the original."""
        self._require_reset()
        st = self._state
        other = object.__new__(World)
        other.__dict__.update(self.__dict__)
        gens = [torch.Generator(self.device) for _ in st.generators]
        for g, mine in zip(gens, st.generators):
            g.set_state(mine.get_state())
        hist = st.history
        other._state = replace(st, frames=st.frames.copy(), generators=gens, cache=st.cache.clone(),
                               recent=list(st.recent),
                               history=None if hist is None else {k: v.clone() for k, v in hist.items()})
        return other

    @torch.no_grad()
    def read_episode(self, frames, actions) -> tuple[np.ndarray, np.ndarray]:
        """What this world's heads make of a real episode: frames (T, H, W, 3) uint8 at the world's
        resolution, from the start frame on, and the T-1 Actions that led from each frame to the
        next (frame 0 is the episode's start: frame i reads episode clock i, for heads that read
        it). -> the heads' rewards (T-1,) and calibrated P(end) (T-1,), read from the encoded real
        frames (and, for heads that read actions, the same window of latest actions a world keeps
        from its reset). Set beside the game's own rewards, it tells the heads' errors from the
        world's drawing. Independent of any play state."""
        if self.heads is None:
            raise ValueError("this world has no reward/episode-end heads (fit them with `worldmodel train-heads`)")
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[1:3] != self.resolution or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ImageError(f"read_episode takes uint8 frames (T, {self.resolution[0]}, {self.resolution[1]}, 3), "
                             f"got {frames.dtype} {frames.shape}")
        if len(actions) != len(frames) - 1:
            raise ActionError(f"got {len(actions)} actions for {len(frames)} frames (want one fewer)")
        if len(frames) < 2:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        z = torch.cat([self._encode(frames[i:i + 256]) for i in range(0, len(frames), 256)])   # (T, c, h, w)
        acts = np.concatenate([np.zeros((1, ACTION_DIM), np.float32), actions_to_array(list(actions))])   # (T, a)
        window = torch.from_numpy(action_windows(acts, self.heads.actions_read)[1:]).to(self.device)   # (T-1, k, a)
        r, p_end = self.heads.predict(z[:-1], z[1:], window, self._heads_clock(np.arange(1, len(frames))))
        return r.cpu().numpy(), p_end.cpu().numpy()

    # ----- internals ----------------------------------------------------------------------
    def _denoise(self, x, sigma, acts, action_on, pos):
        """Denoise the current frame x (b', c, h, w) at noise level sigma, given the past."""
        bb = x.shape[0]
        sig = torch.full((bb, 1), float(sigma), device=self.device)
        st = self._state
        if self.kv_cache:
            out = self.denoiser(x[:, None], sig, acts[:, None], action_on[:, None],
                                torch.tensor([pos]), cache=st.cache)
            return out[:, 0].float()
        h = st.history                                                      # past frames, recomputed
        rep = bb // h["x"].shape[0]
        xs = torch.cat([h["x"].repeat(rep, 1, 1, 1, 1), x[:, None]], 1)       # (b', s+1, c, h, w)
        sigs = torch.cat([h["sigma"].repeat(rep, 1), sig], 1)
        a = torch.cat([h["actions"].repeat(rep, 1, 1), acts[:, None]], 1)
        m = torch.cat([h["mask"].repeat(rep, 1), action_on[:, None]], 1)
        p = torch.cat([h["positions"], torch.tensor([pos])])
        return self.denoiser(xs, sigs, a, m, p)[:, -1].float()

    def _commit(self, z, acts, mask, pos: int):
        """Make the finished latent frame z (b, c, h, w) part of the past: noised to the context
        noise level (as in training), its keys/values computed once and cached."""
        st = self._state
        x, sig = self._context_frame(z)
        pos = torch.tensor([pos])
        if self.kv_cache:
            with self._autocast():
                self.denoiser(x, sig, acts[:, None], mask[:, None], pos, cache=st.cache, commit=True, last=0)
            # the window of committed inputs, so that set_fast() can rebuild the cache with the other network
            window = self.denoiser.net.config.context
            st.recent = (st.recent + [(x, sig, acts[:, None], mask[:, None], pos)])[-window:]
        else:
            new = {"x": x, "sigma": sig, "actions": acts[:, None], "mask": mask[:, None], "positions": pos}
            h = st.history
            st.history = new if h is None else {k: torch.cat([h[k], new[k]], 0 if k == "positions" else 1)
                                                   for k in new}
        st.position = int(pos)

    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 frames (b, H, W, 3) -> latent frames (b, c, h, w), float32, as play encodes them."""
        with self._autocast():
            return self.autoencoder.encode(frames_to_tensor(frames).to(self.device)).float()

    def _context_frame(self, z, rows=None):
        """A finished latent frame z (b, c, h, w) as past-frame input: noised to the context noise
        level, as in training. -> x (b, 1, c, h, w), sigma (b, 1). rows: as in _randn."""
        sigma_ctx = max(self.context_noise, self.denoiser.config.sigma_min)
        x = (z + sigma_ctx * self._randn(z.shape, rows))[:, None]
        return x, torch.full((z.shape[0], 1), sigma_ctx, device=self.device)

    def _randn(self, shape, rows=None) -> torch.Tensor:
        """Gaussian noise (b, ...): from the batch's one stream, or row by row from each world's own
        (only those of `rows`, if given)."""
        gens = self._state.generators
        if len(gens) == 1 and rows is None:
            return torch.randn(shape, generator=gens[0], device=self.device)
        gens = gens if rows is None else [gens[i] for i in rows]
        return torch.cat([torch.randn((1, *shape[1:]), generator=g, device=self.device) for g in gens])

    def _rand(self, b: int) -> torch.Tensor:
        """Uniform draws (b,), one per world, from the same streams as `_randn`."""
        gens = self._state.generators
        if len(gens) == 1:
            return torch.rand(b, generator=gens[0], device=self.device)
        return torch.cat([torch.rand(1, generator=g, device=self.device) for g in gens])

    def _fit(self, images) -> np.ndarray:
        """Images (None = the start image) as uint8 frames (b, H, W, 3) at this world's size."""
        frames = []
        for img in images:
            if img is None:
                img = self.start_image()
                if img is None:
                    raise ImageError("this checkpoint has no start.png; pass an image to reset()")
            frames.append(fit_image(img, self.resolution[0]))
        return np.stack(frames)

    def _past_actions(self, b: int, past) -> torch.Tensor | None:
        """The heads' window of earlier actions at reset: (b, k-1, a) zeros, or `past` checked."""
        cfg, k = self.heads.config, self.heads.actions_read
        if past is None:
            return torch.zeros(b, k - 1, cfg.action_dim, device=self.device) if k > 1 else None
        if k == 1:
            raise ValueError("these heads read only the step's own action: pass no past_actions")
        past = torch.as_tensor(past, dtype=torch.float32, device=self.device)
        if past.shape != (b, k - 1, cfg.action_dim) or not torch.isfinite(past).all():
            raise ValueError(f"past_actions must be finite, of shape ({b}, {k - 1}, {cfg.action_dim}) for these heads "
                             f"(they read the latest {k} action(s)), got {tuple(past.shape)}")
        return past

    def _heads_clock(self, clock) -> torch.Tensor | None:
        """Steps' episode clocks (b,) for heads that read them (HeadsConfig.clock), else None."""
        return torch.as_tensor(np.asarray(clock), device=self.device) if self.heads.config.clock else None

    def _net_actions(self, acts: torch.Tensor, clock) -> torch.Tensor:
        """Action vectors (..., a) as the network takes them: with its episode clock (...,) appended
        when it reads one (DynamicsConfig.clock)."""
        return network_actions(self.denoiser.net.config, acts, torch.as_tensor(np.asarray(clock), device=acts.device))

    def _actions(self, action, b: int) -> torch.Tensor:
        if isinstance(action, Action):
            actions = [action] * b
        elif isinstance(action, (list, tuple)):
            actions = list(action)
            if len(actions) != b:
                raise ActionError(f"got {len(actions)} actions for {b} world(s)")
        else:
            raise ActionError(f"step() takes a worldmodel.Action or a list of them, got {type(action).__name__}")
        return torch.from_numpy(actions_to_array(actions)).to(self.device)

    def _require_reset(self):
        if self._state is None:
            raise RuntimeError("call world.reset(image) before step()/fork()")

    def _validate_settings(self):
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not np.isfinite(self.guidance_scale):
            raise ValueError(f"guidance_scale must be finite, got {self.guidance_scale}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose from {sorted(SAMPLERS)}")
        if not 0 <= self.context_noise < 10:
            raise ValueError(f"context_noise must be in [0, 10), got {self.context_noise}")
        dc = self.denoiser.config
        if not (self.warm_start == 0 or dc.sigma_min < self.warm_start <= dc.sigma_max):
            raise ValueError(f"warm_start must be 0 (off) or in ({dc.sigma_min:g}, {dc.sigma_max:g}], got {self.warm_start}")

    def _autocast(self):
        if self.dtype == torch.float32:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.dtype)


def _dtype(dtype, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                 "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
        if dtype not in table:
            raise ValueError(f"unknown dtype {dtype!r}; choose from {sorted(table)}")
        return table[dtype]
    return dtype
