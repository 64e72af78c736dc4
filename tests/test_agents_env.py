"""WorldEnv: a World as a Gymnasium environment."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from agents.env import WorldEnv
from worldmodel import World


def test_check_env_passes(tiny_world):
    env = WorldEnv(tiny_world, max_episode_steps=8)
    check_env(env, skip_render_check=True)
    assert env.action_space.n == len(World.from_pretrained(tiny_world).action_set)


def test_same_seed_same_episode_and_native_actions(tiny_world):
    a, b = WorldEnv(tiny_world, max_episode_steps=5), WorldEnv(tiny_world, max_episode_steps=5)
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    assert np.array_equal(oa, ob)
    for act in [1, 4, 4, 0, 2]:
        ra = a.step(act)
        rb = b.step(np.int64(act))
        assert np.array_equal(ra[0], rb[0]) and ra[1:4] == rb[1:4]
    assert ra[3] is True and ra[2] is False and ra[4]["heads"] is False   # truncated at 5; no heads: no end
    # the native action index maps through Action exactly as the real game's action_set does
    assert a.native == World.from_pretrained(tiny_world).action_set


@pytest.mark.parametrize("bad", [-1, 99, 1.5, float("nan"), "up", None])
def test_bad_actions_are_refused_clearly(tiny_world, bad):
    env = WorldEnv(tiny_world)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be an integer"):
        env.step(bad)
