"""`PlaySession`: what a player does with a `World`, apart from the window or page that shows it.

Both front ends (the pygame window and the Gradio page) drive a world through this one class:
step with an action, pause, reset to the start image, mark a frame and return to it
(counterfactual branches), switch the student/teacher path, record what was shown, and the
frames/s and latency line. It holds no UI code, so it is tested directly.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from worldmodel import Action
from worldmodel.data import write_mp4

# about 5 minutes at 30 frames/s of 64x64 frames (~110 MB): a bound on what one player can hold
MAX_RECORDED = 9000


class PlaySession:
    """One player's play of one world. Thread-safe: the Gradio page steps it from one thread and
    changes it (reset, mark, settings) from others."""

    def __init__(self, world, image=None, *, max_recorded: int = MAX_RECORDED):
        self.world = world
        self.image = image                       # None = the world's start image
        self.max_recorded = max_recorded
        self.lock = threading.RLock()
        self.paused = False
        self.recording: list[np.ndarray] | None = None      # F2 in the window: frames shown while on
        self.history: list[tuple[Action | None, np.ndarray]] = []  # (action or None for a jump, frame) since reset
        self.truncated = False                   # history or recording hit max_recorded: oldest dropped
        self.latencies: deque[float] = deque(maxlen=30)   # World.step seconds
        self.shown_at: deque[float] = deque(maxlen=30)    # wall-clock of each new frame
        self.steps = 0                           # frames generated since the last reset
        self.last_action = Action()
        self._mark = None                        # a fork of the world at the marked frame
        self.branch: list[np.ndarray] = []       # frames since the mark (the branch being played)
        self.previous_branch: list[np.ndarray] | None = None  # the branch left at the last return
        self.frame = self.reset(image)

    # ----- what a player does -------------------------------------------------------------
    def reset(self, image=None) -> np.ndarray:
        """Start again from `image` (None = the image this session started from). A bad image
        raises ImageError and leaves the session as it was."""
        with self.lock:
            image = self.image if image is None else image
            frame = self.world.reset(image)      # validates before anything here changes
            self.image, self.frame, self.steps = image, frame, 0
            self._mark, self.branch, self.previous_branch = None, [], None
            self.history, self.truncated = [], False
            self.latencies.clear()
            self.shown_at.clear()
            self._show(frame)
            return frame

    def step(self, action: Action) -> np.ndarray:
        """One generated frame (or the current one while paused)."""
        with self.lock:
            if self.paused:
                return self.frame
            t0 = time.perf_counter()
            frame = self.world.step(action)
            self.latencies.append(time.perf_counter() - t0)
            self.frame, self.last_action = frame, action
            self.steps += 1
            self._show(frame, action)
            return frame

    def mark(self) -> None:
        """Remember this frame: `back_to_mark` returns here, as often as wanted."""
        with self.lock:
            self._mark = (self.world.fork(), self.frame, self.steps)
            self.branch, self.previous_branch = [self.frame], None

    @property
    def marked(self) -> bool:
        return self._mark is not None

    def back_to_mark(self) -> np.ndarray:
        """Return to the marked frame exactly (same frame, same state, same random stream): the
        branch played since the mark is kept as `previous_branch` for a side-by-side view."""
        with self.lock:
            if self._mark is None:
                raise ValueError("no frame is marked yet: mark one first")
            fork, frame, steps = self._mark
            self.world = fork.fork()              # a fresh copy: the mark stays reusable
            self.frame, self.steps = frame, steps
            self.previous_branch, self.branch = self.branch, [frame]
            self._show(frame)
            return frame

    def set_fast(self, fast: bool) -> None:
        with self.lock:
            self.world.set_fast(fast)
            if self._mark is not None:            # the mark's copy follows, so returning keeps the path
                self._mark[0].set_fast(fast)
            self.latencies.clear()
            self.shown_at.clear()

    def set_sampling(self, steps: int | None = None, guidance_scale: float | None = None) -> None:
        """Denoising steps and guidance scale of the path in use (checked before applying)."""
        with self.lock:
            self.world.set_sampling(steps, guidance_scale)   # validates, or raises and changes nothing
            if self._mark is not None:
                self._mark[0].set_sampling(steps, guidance_scale)

    # ----- recording ----------------------------------------------------------------------
    def start_recording(self) -> None:
        with self.lock:
            self.recording = [self.frame]

    def stop_recording(self) -> list[np.ndarray]:
        with self.lock:
            frames, self.recording = self.recording or [], None
            return frames

    def write_recording(self, path, frames=None, scale: int = 4) -> Path:
        """Write the recorded frames (or `frames`) as an MP4 with av, at the world's frame rate."""
        with self.lock:
            frames = list(self.recording or []) if frames is None else list(frames)
        if not frames:
            raise ValueError("nothing has been recorded")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_mp4(path, np.stack(frames), fps=self.world.fps, scale=scale)
        return path

    def branches_side_by_side(self, gap: int = 2) -> np.ndarray:
        """(n, H, 2W+gap, 3): the branch left at the last return (left) next to the branch played
        since (right), both from the marked frame; the shorter one holds its last frame."""
        with self.lock:
            if self.previous_branch is None:
                raise ValueError("no second branch yet: mark a frame, play, return to the mark, play again")
            a, b = list(self.previous_branch), list(self.branch)
        n = max(len(a), len(b))
        a += [a[-1]] * (n - len(a))
        b += [b[-1]] * (n - len(b))
        h = a[0].shape[0]
        sep = np.full((n, h, gap, 3), 255, np.uint8)
        return np.concatenate([np.stack(a), sep, np.stack(b)], axis=2)

    # ----- the status line ----------------------------------------------------------------
    def stats(self) -> dict:
        """frames/s actually shown (wall clock, last 30 frames) and World.step latency p50 (ms)."""
        with self.lock:
            t = list(self.shown_at)
            fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0
            lat = 1000 * float(np.median(self.latencies)) if self.latencies else 0.0
            return {"fps": fps, "latency_ms": lat, "frame": self.steps, "paused": self.paused,
                    "path": self._path_name(), "action": str(self.last_action),
                    "marked": self.marked, "recording": self.recording is not None}

    def status_line(self) -> str:
        s = self.stats()
        parts = ["PAUSED" if s["paused"] else None, s["path"], f"{s['fps']:.1f} frames/s",
                 f"{s['latency_ms']:.0f} ms/frame", f"frame {s['frame']}", "REC" if s["recording"] else None,
                 "marked" if s["marked"] else None, f"keys: {s['action']}"]
        return " · ".join(p for p in parts if p)

    def _path_name(self) -> str | None:
        fast = self.world.fast
        return None if fast is None else ("student" if fast else "teacher")

    def _show(self, frame: np.ndarray, action: Action | None = None) -> None:
        """Book-keeping for a frame put on screen: by step (with its action) or by a jump."""
        self.shown_at.append(time.perf_counter())
        if self._mark is not None and frame is not self._mark[1]:
            self.branch.append(frame)
        for frames, item in ((self.history, (action, frame)), (self.recording, frame)):
            if frames is None:
                continue
            if len(frames) >= self.max_recorded:
                del frames[0]
                self.truncated = True
            frames.append(item)

    def played(self) -> list[np.ndarray]:
        """The frames shown since the last reset, in order (jumps back to the mark included)."""
        with self.lock:
            return [f for _, f in self.history]
