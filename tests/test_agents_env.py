"""WorldEnv: a World as a Gymnasium environment."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from agents.env import WorldEnv, WorldVectorEnv
from conftest import make_headed_world
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


@pytest.mark.parametrize("arch", ["transformer", "unet"])
def test_reset_rows_restarts_one_world_of_a_batch_as_a_fresh_world(arch, tiny_world, tiny_unet_world):
    tiny_world = tiny_world if arch == "transformer" else tiny_unet_world
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
    aset = World.from_pretrained(tiny_world).action_set
    acts = [[aset[int(i)] for i in rng.integers(len(aset), size=3)] for _ in range(10)]
    batch = World.from_pretrained(tiny_world)
    batch.reset(imgs[:3], seed=[5, 6, 7])
    out = []
    for t, a in enumerate(acts):
        if t == 4:                                   # row 1 restarts from a new image while 0 and 2 play on
            batch.reset_rows([1], [imgs[3]], [9])
        out.append(batch.step(a))
    for row, seed, img, start in ((0, 5, imgs[0], 0), (2, 7, imgs[2], 0), (1, 9, imgs[3], 4)):
        one = World.from_pretrained(tiny_world)
        one.reset(img, seed=seed)
        for t in range(start, len(acts)):
            diff = np.abs(one.step(acts[t][row]).astype(int) - out[t][row]).max()
            # float rounding of batched vs single matmuls only (without the per-row key mask row 1 is off by >5)
            assert diff <= 2, (row, t, diff)
    with pytest.raises(ValueError, match="one seed per world"):
        shared = World.from_pretrained(tiny_world)
        shared.reset(imgs[:2], seed=0)
        shared.reset_rows([0], [imgs[3]], [1])
    with pytest.raises(ValueError, match="distinct rows"):
        batch.reset_rows([3], [imgs[0]], [1])


def test_vector_env_equals_single_envs_with_the_same_seeds_and_actions(tiny_world, tmp_path):
    rng = np.random.default_rng(0)
    starts = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    n = 4
    # untrained heads whose episode ends fall at random: the rows restart at different steps
    world = make_headed_world(tiny_world, tmp_path / "world", seed=1, std=0.3)
    vec = WorldVectorEnv(world, n, start_images=starts, max_episode_steps=6)
    singles = [WorldEnv(world, start_images=starts, max_episode_steps=6)
               for _ in range(n)]
    obs, info = vec.reset(seed=10)
    assert obs.shape == (n, 32, 32, 3) and obs.dtype == np.uint8 and vec.observation_space.contains(obs)
    for i, env in enumerate(singles):
        o, inf = env.reset(seed=10 + i)
        assert np.array_equal(o, obs[i]) and inf["start"] == info["start"][i]
    ended, restarts = [False] * n, 0
    for t in range(20):
        acts = rng.integers(vec.single_action_space.n, size=n)
        obs, rew, term, trunc, _ = vec.step(acts)
        for i, env in enumerate(singles):
            if ended[i]:                             # next-step autoreset: the env restarts, action ignored
                (o, _), r, te, tr = env.reset(), 0.0, False, False
                restarts += 1
            else:
                o, r, te, tr, _ = env.step(int(acts[i]))
            ended[i] = te or tr
            assert np.abs(o.astype(int) - obs[i]).max() <= 2
            # rewards are probability-weighted values: equal up to float rounding, as frames are
            assert abs(r - rew[i]) <= 1e-4 and (te, tr) == (term[i], trunc[i]), (t, i)
    assert restarts >= 5                             # episodes ended at different steps in different rows
    with pytest.raises(ValueError, match="actions must be 4 integers"):
        vec.step([0, 1])
    with pytest.raises(ValueError, match="actions must be 4 integers"):
        vec.step([0, 1, 2, 999])
