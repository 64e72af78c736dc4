"""First-person 3D worlds from ViZDoom (ships freedoom): keyboard moves, the mouse turns.

Native actions are a small discrete set (what agents act in and what recordings hold). A player's
`Action` maps to the closest one: W/S or up/down walk, A/D strafe, the mouse's horizontal motion
(or the left/right arrows) turns, a left click or space fires.

Reward. Freedoom's maps give no reward of their own, so a step's reward is the game's (0 here)
plus the enemies killed in it minus the health lost in it / 100: a kill is worth a full health
bar. Both show in the frames (a dying enemy; the red flash of a hit), so a world's reward head
can read them. The episode ends when the player dies.

Two ViZDoom habits are handled here: it writes `_vizdoom.ini` into the working directory (we point
it at a per-user cache folder instead), and freedoom's own config starts no map unless one is set
(it hangs), so the map is always given explicitly.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..action import Action
from .base import Env, resize_frame

TURN_PIXELS = 8.0   # |mouse dx| per frame (screen pixels) that counts as a turn

# (name, Action, ViZDoom buttons held). Order is the native action id; 0 is idle.
_ACTIONS = [
    ("idle", Action(), ()),
    ("forward", Action.press("w"), ("MOVE_FORWARD",)),
    ("backward", Action.press("s"), ("MOVE_BACKWARD",)),
    ("strafe left", Action.press("a"), ("MOVE_LEFT",)),
    ("strafe right", Action.press("d"), ("MOVE_RIGHT",)),
    ("turn left", Action(mouse_dx=-16.0), ("TURN_LEFT",)),
    ("turn right", Action(mouse_dx=16.0), ("TURN_RIGHT",)),
    ("forward + turn left", Action(keys=frozenset({"w"}), mouse_dx=-16.0), ("MOVE_FORWARD", "TURN_LEFT")),
    ("forward + turn right", Action(keys=frozenset({"w"}), mouse_dx=16.0), ("MOVE_FORWARD", "TURN_RIGHT")),
    ("fire", Action(buttons=frozenset({"left"})), ("ATTACK",)),
]
_BUTTONS = ["MOVE_FORWARD", "MOVE_BACKWARD", "MOVE_LEFT", "MOVE_RIGHT", "TURN_LEFT", "TURN_RIGHT", "ATTACK"]

# scenario name -> (game wad, scenario wad or None (both in vizdoom's package folder), map, skill,
# episode timeout in tics or 0 for none). defend_the_center is ViZDoom's own benchmark map: a
# round room, monsters walking in from all sides, 26 bullets; kills are its reward (dense, and
# telling a good player from a poor one within a few hundred steps, which the agent ranking needs).
SCENARIOS = {
    "E1M1": ("freedoom1.wad", None, "E1M1", 3, 0),
    "E1M2": ("freedoom1.wad", None, "E1M2", 3, 0),
    "defend_the_center": ("freedoom2.wad", "scenarios/defend_the_center.wad", "MAP01", 3, 2100),
}


def _config_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "worldmodel-playground" / "vizdoom"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home: a private temporary folder still keeps cwd clean
        path = Path(tempfile.mkdtemp(prefix="worldmodel-vizdoom-"))
    return path


class DoomEnv(Env):
    # The first step after new_episode ignores its action (the frame barely changes), and the
    # weapon-bob smoothing of the previous episode lasts a few frames (as in branch points).
    settle_frames = 8
    ignores_first_action = True

    def __init__(self, scenario: str = "E1M1", size: int = 64, frameskip: int = 4):
        try:
            import vizdoom as vzd
        except ImportError as e:
            raise RuntimeError("ViZDoom worlds need vizdoom, a default dependency: pip install vizdoom") from e
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown ViZDoom scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
        wad, scenario_wad, doom_map, skill, timeout = SCENARIOS[scenario]
        root = os.path.dirname(vzd.__file__)
        game = vzd.DoomGame()
        game.set_doom_config_path(str(_config_dir() / "_vizdoom.ini"))
        game.set_doom_game_path(os.path.join(root, wad))
        if scenario_wad:
            game.set_doom_scenario_path(os.path.join(root, scenario_wad))
        game.set_doom_map(doom_map)
        game.set_doom_skill(skill)
        game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)
        game.set_screen_format(vzd.ScreenFormat.RGB24)
        game.set_render_hud(False)           # the 3D view only: the status bar is not the world
        game.set_render_messages(False)
        game.set_render_crosshair(False)
        game.set_window_visible(False)
        game.set_sound_enabled(False)
        game.set_available_buttons([getattr(vzd.Button, b) for b in _BUTTONS])
        game.set_episode_timeout(timeout)
        game.set_mode(vzd.Mode.PLAYER)
        # init() also leaves an empty `_vizdoom/` folder in the working directory: start the game
        # from the cache folder instead (chdir is process-wide, so only for the call).
        cwd = os.getcwd()
        os.chdir(_config_dir())
        try:
            game.init()
        finally:
            os.chdir(cwd)
        self._game = game
        self._frameskip = frameskip
        self._vectors = [[float(b in held) for b in _BUTTONS] for _, _, held in _ACTIONS]
        self._last = None
        self._score_vars = (vzd.GameVariable.KILLCOUNT, vzd.GameVariable.HEALTH)
        self._score = (0.0, 0.0)    # (kills, health) after the last step, for the reward
        self.name = f"vizdoom:{scenario}"
        self.size = size
        self.fps = 35.0 / frameskip
        self.action_set = [a for _, a, _ in _ACTIONS]
        self.action_names = [n for n, _, _ in _ACTIONS]

    def native_action(self, action: Action) -> int:
        """Walk/strafe from the keys (WASD or arrows), turn from mouse dx or the left/right arrows."""
        if not isinstance(action, Action):
            raise TypeError(f"expected worldmodel.Action, got {type(action).__name__}")
        keys = action.keys
        turn = (action.mouse_dx >= TURN_PIXELS or "right" in keys) - (action.mouse_dx <= -TURN_PIXELS or "left" in keys)
        forward = ("w" in keys or "up" in keys) - ("s" in keys or "down" in keys)
        strafe = ("d" in keys) - ("a" in keys)
        if "left" in action.buttons or "space" in keys:
            return 9
        if turn:
            return (5 if turn < 0 else 6) if forward <= 0 else (7 if turn < 0 else 8)
        if forward:
            return 1 if forward > 0 else 2
        if strafe:
            return 3 if strafe < 0 else 4
        return 0

    def _frame(self) -> np.ndarray:
        state = self._game.get_state()
        if state is not None:
            self._last = resize_frame(state.screen_buffer, self.size)
        return self._last

    def reset(self, seed: int | None = None) -> np.ndarray:
        if seed is not None:
            self._game.set_seed(int(seed) % (2 ** 31))
        self._game.new_episode()
        self._score = self._read_score()
        return self._frame()

    def _read_score(self) -> tuple[float, float]:
        kills, health = (self._game.get_game_variable(v) for v in self._score_vars)
        return kills, max(0.0, health)

    def step_native(self, index: int) -> tuple[np.ndarray, float, bool]:
        index = self.check_native(index)
        reward = self._game.make_action(self._vectors[index], self._frameskip)
        kills, health = self._read_score()
        reward += (kills - self._score[0]) - max(0.0, self._score[1] - health) / 100.0
        self._score = (kills, health)
        done = self._game.is_episode_finished() or self._game.is_player_dead()
        return self._frame(), float(reward), bool(done)

    def close(self) -> None:
        self._game.close()
