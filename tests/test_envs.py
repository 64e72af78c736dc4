import numpy as np
import pytest

from worldmodel import Action
from worldmodel.envs import make_env


def test_procedural_seeds_and_walk_back():
    env = make_env("procedural", size=32)
    f0 = env.reset(1)
    assert f0.shape == (32, 32, 3) and f0.dtype == np.uint8
    assert not np.array_equal(f0, make_env("procedural", size=32).reset(2)), "seeds must give different worlds"
    assert np.array_equal(f0, make_env("procedural", size=32).reset(1)), "same seed, same world"
    for _ in range(6):
        f, r, d = env.step(Action.press("right"))
    assert not np.array_equal(f, f0)
    for _ in range(6):
        f, r, d = env.step(Action.press("left"))
    assert np.array_equal(f, f0), "walking back must return to the same frame (memory test)"


def test_procedural_action_effects():
    env = make_env("procedural", size=32)
    f0 = env.reset(0)
    f1, _, _ = env.step(Action.press("space"))  # avatar colour changes, scenery does not
    diff = np.any(f0 != f1, axis=-1)
    ys, xs = np.nonzero(diff)
    assert diff.any() and abs(ys.mean() - 16) < 3 and abs(xs.mean() - 16) < 3
    # WASD maps to the arrows
    assert env.native_action(Action.press("w")) == env.native_action(Action.press("up"))


def test_native_action_range_checked():
    env = make_env("procedural", size=32)
    env.reset(0)
    with pytest.raises(ValueError, match="out of range"):
        env.step_native(99)
    with pytest.raises(TypeError):
        env.step_native(1.5)


def test_unknown_env_is_clear():
    with pytest.raises(ValueError, match="unknown environment"):
        make_env("minecraft")
    with pytest.raises(ValueError, match="unknown Atari game"):
        make_env("atari:NoSuchGame")


def test_atari_actions_map_both_ways():
    env = make_env("atari:Breakout", size=32)
    f = env.reset(0)
    assert f.shape == (32, 32, 3)
    assert [sorted(a.keys) for a in env.action_set] == [[], ["space"], ["right"], ["left"]]
    assert env.native_action(Action.press("right")) == 2
    assert env.native_action(Action.press("d")) == 2
    assert env.native_action(Action.press("q")) == 0  # nothing matches: NOOP
    frame, reward, done = env.step(Action.press("space"))
    assert frame.shape == (32, 32, 3) and isinstance(reward, float) and isinstance(done, bool)
    env.close()


def test_atari_reset_skips_frames_shown_only_before_play():
    """Pong's reset frame (olive court, one paddle) never comes back in play: reset returns a
    frame of play instead. Boxing's reset frame is play already and stays exactly what ALE gives
    (a look-ahead, then the state put back), so replays and the shipped boxing world are unchanged."""
    import ale_py
    import gymnasium as gym
    from worldmodel.envs.base import resize_frame
    gym.register_envs(ale_py)
    for game, size in (("Pong", 64), ("Boxing", 64)):
        env = make_env(f"atari:{game}", size=size)
        frames = np.stack([env.reset(3)] + [env.step_native(i % len(env.action_set))[0] for i in range(20)]).astype(int)
        env.close()
        gaps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
        assert gaps.max() < 5, (game, gaps)            # no scene cut after the first frame
        raw = gym.make(f"ALE/{game}-v5", frameskip=4, repeat_action_probability=0.0, full_action_space=False)
        first = resize_frame(raw.reset(seed=3)[0], size).astype(int)
        raw.close()
        if game == "Pong":
            assert np.abs(first - frames[0]).mean() > 20  # ALE's reset frame was skipped
        else:
            assert np.array_equal(first, frames[0])


def test_doom_keyboard_moves_mouse_turns_and_cwd_stays_clean(tmp_path, monkeypatch):
    pytest.importorskip("vizdoom")
    from worldmodel.action import Action, action_from_json, action_to_json
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    env = make_env("vizdoom:E1M1", size=32)
    try:
        assert env.native_action(Action.press("w")) == 1
        assert env.native_action(Action(mouse_dx=-30)) == 5 and env.native_action(Action(mouse_dx=30)) == 6
        assert env.native_action(Action.press("left")) == 5
        assert env.native_action(Action(keys=frozenset({"w"}), mouse_dx=20)) == 8
        assert env.native_action(Action(buttons=frozenset({"left"}))) == 9
        assert env.native_action(Action(mouse_dx=2)) == 0           # a trembling hand is not a turn
        # the stored action set round-trips, mouse included (checkpoints keep it as JSON)
        assert [action_from_json(action_to_json(a)) for a in env.action_set] == env.action_set
        start = env.reset(seed=0)
        assert start.shape == (32, 32, 3) and start.dtype == np.uint8
        turned = start
        for _ in range(3):
            turned, _, _ = env.step(Action(mouse_dx=30))
        assert np.abs(turned.astype(int) - start).mean() > 5      # turning changes the view
        again = env.reset(seed=0)
        assert np.array_equal(again, start)                        # same seed, same start
    finally:
        env.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no _vizdoom.ini / _vizdoom/ in cwd


def test_doom_reward_counts_kills_and_health_lost(tmp_path, monkeypatch):
    """Standing still in the start room earns nothing; running forward into the first room's
    enemies gets the player hit (negative rewards, 1 per 100 health) and ends the episode at
    death, with the whole health bar paid."""
    pytest.importorskip("vizdoom")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    env = make_env("vizdoom:E1M1", size=32)
    try:
        env.reset(seed=1000)
        assert all(env.step_native(0)[1:] == (0.0, False) for _ in range(50))
        env.reset(seed=1000)
        rewards, done = [], False
        while not done and len(rewards) < 400:
            _, r, done = env.step_native(1)                        # forward, never firing
            rewards.append(r)
        rewards = np.array(rewards)
        assert done and env._game.is_player_dead() and (rewards < 0).sum() >= 3
        assert rewards[rewards < 0].sum() <= -1.0                  # at least the 100 health it began with
        assert np.all((rewards > -1.0) & (rewards <= 3.0))          # no hit takes it all; few kills a step
    finally:
        env.close()


def test_doom_ignores_the_first_action_after_a_reset_so_rollouts_skip_it(tmp_path, monkeypatch):
    """Why DoomEnv.settle_frames exists: the first step after a reset drops its action (the frame
    barely changes), the next identical step turns the view; evaluation rollouts start later."""
    pytest.importorskip("vizdoom")
    from worldmodel.action import Action
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    env = make_env("vizdoom:E1M1", size=32)
    try:
        f0 = env.reset(seed=0)
        f1, _, _ = env.step(Action(mouse_dx=30))
        f2, _, _ = env.step(Action(mouse_dx=30))
    finally:
        env.close()
    first, second = (np.abs(b.astype(int) - a).mean() for a, b in ((f0, f1), (f1, f2)))
    assert first < 1 and second > 5, (first, second)


def test_settle_frames_are_read_without_starting_a_game(recording, monkeypatch):
    from worldmodel.envs import settle_frames
    from worldmodel.envs.procedural import ProceduralEnv
    from worldmodel.evaluate import recording_settle_frames
    assert settle_frames("vizdoom:E1M1") == 8 and settle_frames("procedural") == 0
    assert settle_frames("atari:Boxing") == 0
    with pytest.raises(ValueError, match="unknown environment"):
        settle_frames("quake:E1M1")
    assert recording_settle_frames(recording) == 0          # a procedural recording
    monkeypatch.setattr(ProceduralEnv, "settle_frames", 5)  # what the eval and the curves then skip
    assert recording_settle_frames(recording) == 5
