"""Reward and episode-end heads: they learn a rule from the frames, and the World reports them."""
import shutil

import numpy as np
import pytest
import torch

from worldmodel.train.dynamics import encode_episodes
from worldmodel.train.heads import fit_heads, score_heads, transitions
from worldmodel import Action, World
from worldmodel.data import Episode, load_episodes
from worldmodel.checkpoint import load_checkpoint
from worldmodel.world_checkpoint import load_world_parts


def test_heads_learn_a_synthetic_reward_rule_from_frames(recording, tiny_world):
    """Reward +1 when the frame is brighter than usual, -1 when darker: a rule only the frame
    shows. A briefly trained head must find the rare non-zero steps far above chance."""
    _, episodes = load_episodes(recording)
    _, ae, _ = load_world_parts(tiny_world)
    for ep in episodes:
        ep.frames = ep.frames.copy()
    rng = np.random.default_rng(0)
    for ep in episodes:                                  # brighten or darken ~15% of the frames each
        ep.rewards = np.zeros(len(ep), np.float32)
        for i in range(1, len(ep)):
            u = rng.random()
            if u < 0.15:
                ep.frames[i] = np.minimum(ep.frames[i].astype(int) + 90, 255).astype(np.uint8)
                ep.rewards[i] = 1.0
            elif u < 0.3:
                ep.frames[i] = (ep.frames[i] * 0.3).astype(np.uint8)
                ep.rewards[i] = -1.0
    latents = encode_episodes(ae, episodes, "cpu")
    train = transitions(latents, episodes, [0, 1, 2])
    val = transitions(latents, episodes, [3])
    base_rate = float((val["reward"] != 0).float().mean())
    always_zero = float((val["reward"] == 0).float().mean())
    for use_action in (True, False):
        heads = fit_heads(train, episodes[0].actions.shape[1], steps=200, batch=64, progress=False,
                          use_action=use_action)
        m = score_heads(heads, val)
        assert m["reward_nonzero"]["recall"] >= 0.8
        assert m["reward_nonzero"]["precision"] >= 2 * base_rate      # far better than guessing at the base rate
        assert m["reward_class_accuracy"] > always_zero
    # frame-only heads: the action taken cannot change the predicted reward
    z_prev, z = val["z_prev"][:8], val["z"][:8]
    a1, a2 = torch.zeros(8, heads.config.action_dim), torch.rand(8, heads.config.action_dim)
    assert torch.equal(heads.predict(z_prev, z, a1)[0], heads.predict(z_prev, z, a2)[0])


def test_train_heads_command_and_world_rewards(recording, tiny_world, tmp_path, capsys):
    from worldmodel.cli import main
    world_dir = tmp_path / "w"
    shutil.copytree(tiny_world, world_dir)
    assert World.from_pretrained(world_dir).reset() is not None
    w = World.from_pretrained(world_dir)
    w.reset()
    assert w.reward is None and w.done is None                       # no heads yet
    assert main(["train-heads", str(world_dir), "--data", str(recording), "--steps", "20", "--batch-size", "16"]) == 0
    said = capsys.readouterr().out
    assert "episode end" in said and "on the world's own frames" in said
    fit = load_checkpoint(world_dir)[0]["heads"]["metrics"]["fit_on"]          # fit on the world's frames too
    assert fit["real_steps"] > 0 and fit["world_steps"] > fit["real_steps"]
    w = World.from_pretrained(world_dir)
    assert w.heads is not None
    w.reset()
    assert w.reward == 0.0 and w.done is False
    w.step(Action.press("right"))
    assert isinstance(w.reward, float) and isinstance(w.done, bool)
    frames = w.reset([None, None])
    w.step([Action(), Action.press("left")])
    assert w.reward.shape == (2,) and w.done.shape == (2,) and frames.shape[0] == 2
    # the world's own weights were not touched by adding heads
    a, b = load_world_parts(tiny_world)[2], load_world_parts(world_dir)[2]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert main(["train-heads", str(world_dir)]) == 2                # no recording known for this world
    # --world-frames-for end: the world's frames still join the fit, for the end head only
    assert main(["train-heads", str(world_dir), "--data", str(recording), "--steps", "20", "--batch-size", "16",
                 "--world-frames-for", "end"]) == 0
    assert "(these for the end head only)" in capsys.readouterr().out
    fit = load_checkpoint(world_dir)[0]["heads"]["metrics"]["fit_on"]
    assert fit["world_steps"] > 0 and fit["world_steps_teach"] == "end"
    assert main(["train-heads", str(world_dir), "--data", str(recording), "--real-only", "--world-frames-for", "end"]) == 2

    # WorldEnv takes reward and termination from the heads
    from gymnasium.utils.env_checker import check_env

    from agents.env import WorldEnv
    env = WorldEnv(world_dir, max_episode_steps=6)
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(1)
    assert info["heads"] and reward == env.world.reward and terminated == env.world.done


def test_train_heads_with_action_history(recording, tiny_world, tmp_path, capsys):
    """`train-heads --with-action --action-history 3`: heads that read the latest 3 actions, fitted
    on real and world frames and scored on the world's frames (which start mid-episode with the
    recording's past actions); a batch of worlds restarted row by row plays with them. Without
    --with-action the history is refused before anything is written."""
    from worldmodel.cli import main

    from agents.env import WorldVectorEnv
    world_dir = tmp_path / "w"
    shutil.copytree(tiny_world, world_dir)
    before = (world_dir / "config.json").read_text()
    assert main(["train-heads", str(world_dir), "--data", str(recording), "--steps", "20", "--batch-size", "16",
                 "--action-history", "3"]) == 2
    assert (world_dir / "config.json").read_text() == before
    capsys.readouterr()
    assert main(["train-heads", str(world_dir), "--data", str(recording), "--steps", "20", "--batch-size", "16",
                 "--with-action", "--action-history", "3"]) == 0
    heads = load_checkpoint(world_dir)[0]["heads"]
    assert heads["config"]["use_action"] and heads["config"]["action_history"] == 3
    assert heads["metrics"]["generated"]["rollouts"] > 0 and heads["metrics"]["fit_on"]["world_steps"] > 0
    plain = heads["metrics"]
    assert main(["train-heads", str(world_dir), "--data", str(recording), "--also", str(recording)]) == 2   # would leak held-out
    other = tmp_path / "other"
    shutil.copytree(recording, other)
    # --also: another recording's episodes all join the fit (and its world rollouts); held-out unchanged
    assert main(["train-heads", str(world_dir), "--data", str(recording), "--steps", "20", "--batch-size", "16",
                 "--with-action", "--action-history", "3", "--also", str(other)]) == 0
    more = load_checkpoint(world_dir)[0]["heads"]["metrics"]
    assert more["also"] == [str(other)] and more["val_episodes"] == plain["val_episodes"]
    assert more["train_episodes"] == plain["train_episodes"] + 4
    assert more["fit_on"]["real_steps"] > plain["fit_on"]["real_steps"]
    assert more["fit_on"]["world_steps"] > plain["fit_on"]["world_steps"]
    assert main(["train-heads", str(world_dir), "--data", str(recording), "--also", str(tmp_path / "nothing")]) == 2
    env = WorldVectorEnv(world_dir, num_envs=3, max_episode_steps=4)
    env.reset(seed=0)
    for _ in range(6):                                            # past the episodes' ends: rows restart
        obs, reward, terminated, truncated, info = env.step(np.array([1, 2, 0]))
    assert obs.shape[0] == 3 and np.isfinite(reward).all()


def test_heads_saved_before_use_action_existed_still_read_the_action(tiny_world, tmp_path):
    """Frame-only heads are the default now; a checkpoint whose heads block predates the
    `use_action` field holds an action layer, and must load with it (not fail on extra weights)."""
    from dataclasses import asdict

    from dynamics.heads import HeadsConfig, RewardEndHeads
    from worldmodel.action import ACTION_DIM
    from worldmodel.checkpoint import load_checkpoint, save_checkpoint
    out = tmp_path / "old"
    shutil.copytree(tiny_world, out)
    config, tensors = load_checkpoint(out)
    heads = RewardEndHeads(HeadsConfig(latent_channels=4, latent_size=8, action_dim=ACTION_DIM, dim=16, use_action=True))
    old = asdict(heads.config)
    del old["use_action"], old["reward_estimate"], old["end_weight"], old["end_estimate"]   # from before them all
    config["heads"] = {"config": old, "metrics": {}}
    tensors.update({f"heads.{k}": v for k, v in heads.state_dict().items()})
    for f in out.glob("*.safetensors"):
        f.unlink()
    save_checkpoint(out, config, tensors)
    w = World.from_pretrained(out)
    assert w.heads.config.use_action and w.heads.action is not None
    assert w.heads.config.reward_estimate == "class"                  # as such heads were fitted
    assert w.heads.config.end_weight == 1.0 and w.heads.config.end_estimate == "threshold"
    z = torch.randn(16, 4, 8, 8)                                      # ends decided as they always were
    _, p = w.heads.predict(z, z, torch.zeros(16, ACTION_DIM))
    assert torch.equal(w.heads.ends(p), torch.sigmoid(w.heads(z, z, torch.zeros(16, ACTION_DIM))[1]) >= 0.5)
    assert torch.equal(w.heads.action.weight, heads.action.weight)
    assert not HeadsConfig().use_action                                # new heads read the frames only


class _EchoWorld:
    """A stand-in world whose heads echo the real game's reward `lag` steps late: it knows each
    start frame's (episode, step) from the frame's first pixel."""

    def __init__(self, episodes, lag):
        self.episodes, self.lag = episodes, lag

    def reset(self, frames, seed=0, clock=0):
        self.at = [divmod(int(f[0, 0, 0]) + 256 * int(f[0, 0, 1]), 100) for f in frames]
        self.t = 0

    def step(self, actions):
        self.t += 1
        self.reward = np.array([self.episodes[e].rewards[max(0, s + self.t - self.lag)] if s + self.t - self.lag > s
                                else 0.0 for e, s in self.at], np.float32)
        self.done = np.zeros(len(self.at), bool)
        self.end_probability = np.zeros(len(self.at), np.float32)


def test_heads_on_generated_frames_match_events_within_the_tolerance():
    """Judged on the world's own frames, an event one step late is a hit with tolerance 1 and a
    miss with tolerance 0; a head that never fires there has recall 0, however it does on real
    latents."""
    from worldmodel.action import ACTION_DIM
    from worldmodel.data import Episode
    from worldmodel.evaluate import score_heads_generated

    rng = np.random.default_rng(0)
    episodes = []
    for e in range(3):
        n = 40
        frames = np.zeros((n, 8, 8, 3), np.uint8)
        code = e * 100 + np.arange(n)
        frames[:, 0, 0, 0], frames[:, 0, 0, 1] = code % 256, code // 256
        rewards = np.where(rng.random(n) < 0.15, rng.choice([-1.0, 1.0], n), 0.0).astype(np.float32)
        rewards[0] = 0.0
        episodes.append(Episode(frames, np.zeros((n, ACTION_DIM), np.float32), np.ones(n, bool), np.zeros(n, np.int64),
                                rewards, np.zeros(n, bool)))
    m0 = score_heads_generated(_EchoWorld(episodes, 0), episodes, [0, 1, 2], steps=8, every=4, tol=0)
    assert m0["reward_nonzero"]["precision"] == 1.0 and m0["reward_nonzero"]["recall"] == 1.0
    late = score_heads_generated(_EchoWorld(episodes, 1), episodes, [0, 1, 2], steps=8, every=4, tol=0)
    assert late["reward_nonzero"]["recall"] < 0.3
    ok = score_heads_generated(_EchoWorld(episodes, 1), episodes, [0, 1, 2], steps=8, every=4, tol=1)
    assert ok["reward_nonzero"]["precision"] == 1.0 and ok["reward_nonzero"]["recall"] > 0.7
    silent = _EchoWorld(episodes, 10 ** 6)                       # fires never
    m = score_heads_generated(silent, episodes, [0, 1, 2], steps=8, every=4, tol=1)
    assert m["reward_nonzero"]["recall"] == 0.0 and m["reward_nonzero"]["precision"] is None
    assert m["reward_nonzero"]["actual"] == m0["reward_nonzero"]["actual"] > 5


class _CodeWorld:
    """A stand-in world whose latent frame is the (episode, step) code of the real frame it
    stands for: the start frame's code (its first pixel) plus the steps taken since."""

    def reset(self, frames, seed=0, clock=0):
        self.codes = torch.tensor([int(f[0, 0, 0]) + 256 * int(f[0, 0, 1]) for f in frames], dtype=torch.float32)
        self.latent = self.codes[:, None, None, None]

    def step(self, actions):
        self.latent = self.latent + 1


def test_world_transitions_carry_the_real_label_of_each_generated_step():
    """Heads fitted on the world's own frames: every generated step is labelled with the reward,
    end and action of the real step it stands for, z_prev is the step before it, and rollouts
    stop at the end of their episode."""
    from worldmodel.action import ACTION_DIM
    from worldmodel.data import Episode
    from worldmodel.evaluate import generated_transitions

    rng = np.random.default_rng(1)
    episodes = []
    for e, n in enumerate([30, 11, 23]):
        frames = np.zeros((n, 8, 8, 3), np.uint8)
        code = e * 100 + np.arange(n)
        frames[:, 0, 0, 0], frames[:, 0, 0, 1] = code % 256, code // 256
        rewards = np.where(rng.random(n) < 0.3, rng.choice([-1.0, 2.0], n), 0.0).astype(np.float32)
        dones = np.zeros(n, bool)
        dones[-1] = True
        actions = np.zeros((n, ACTION_DIM), np.float32)
        actions[np.arange(n), np.arange(n) % ACTION_DIM] = 1.0
        episodes.append(Episode(frames, actions, np.ones(n, bool), np.zeros(n, np.int64), rewards, dones))
    g = generated_transitions(_CodeWorld(), episodes, [0, 1, 2], steps=8, every=2, batch=5)
    expected = sum(min(8, len(ep) - 1 - s) for ep in episodes for s in range(0, len(ep) - 1, 2))
    assert len(g["z"]) == expected
    codes = g["z"].flatten().long()
    assert torch.equal(g["z_prev"].flatten().long(), codes - 1)
    e, i = codes // 100, codes % 100
    for k in range(len(codes)):
        ep = episodes[int(e[k])]
        assert 1 <= int(i[k]) < len(ep)
        assert float(g["reward"][k]) == ep.rewards[i[k]] and bool(g["done"][k]) == ep.dones[i[k]]
        assert torch.equal(g["action"][k], torch.from_numpy(ep.actions[i[k]]))
    assert int(g["done"].sum()) > 3                       # every end is seen, from several starts
    # a cap on memory: the starts thinned evenly, every episode still visited, labels still right
    few = generated_transitions(_CodeWorld(), episodes, [0, 1, 2], steps=8, every=2, batch=5, max_steps=expected // 3)
    assert expected // 4 <= len(few["z"]) <= expected // 3 + 8
    few_codes = few["z"].flatten().long()
    assert set((few_codes // 100).tolist()) == {0, 1, 2}
    assert set(few_codes.tolist()) <= set(codes.tolist())


def test_expected_rewards_add_up_to_the_return_where_a_class_vote_overcounts():
    """A flash that is a kill one time in ten (the frame cannot tell which): class-balanced heads
    call every flash a kill, so summed rewards come out several times the real ones; calibrated
    heads ("expected") pay each flash a tenth of a kill, and the sums agree."""
    gen = torch.Generator().manual_seed(0)
    n = 6000
    z_prev, z = torch.randn(n, 4, 8, 8, generator=gen), torch.randn(n, 4, 8, 8, generator=gen)
    flash = torch.rand(n, generator=gen) < 0.5
    z[flash, 0, 3:5, 3:5] += 4.0                          # the flash: plain to see
    reward = torch.where(flash & (torch.rand(n, generator=gen) < 0.1), 2.0, 0.0)
    data = {"z_prev": z_prev, "z": z, "action": torch.zeros(n, 25), "reward": reward, "done": torch.zeros(n, dtype=torch.bool)}
    train = {k: v[:5000] for k, v in data.items()}
    val = {k: v[5000:] for k, v in data.items()}
    sums = {}
    for estimate in ("class", "expected"):
        heads = fit_heads(train, 25, steps=150, batch=128, progress=False, reward_estimate=estimate)
        m = score_heads(heads, val)
        sums[estimate] = m["reward_sum"]["predicted"] / m["reward_sum"]["actual"]
    assert sums["class"] > 4.0                             # every flash a kill: ~10x
    assert 0.6 < sums["expected"] < 1.5


def test_expected_heads_read_rewards_as_probability_weighted_values():
    from dynamics.heads import HeadsConfig, RewardEndHeads
    heads = RewardEndHeads(HeadsConfig(latent_channels=4, latent_size=8, action_dim=25, dim=8,
                                       reward_values=[-0.5, 2.0]))
    torch.nn.init.zeros_(heads.out[2].weight)
    with torch.no_grad():                                  # P(neg, zero, pos) = (0.1, 0.6, 0.3), whatever the input
        heads.out[2].bias[:3] = torch.tensor([0.1, 0.6, 0.3]).log()
    z = torch.randn(3, 4, 8, 8)
    r, _ = heads.predict(z, z, torch.zeros(3, 25))
    assert torch.allclose(r, torch.full((3,), 0.1 * -0.5 + 0.3 * 2.0))
    assert heads.events(torch.tensor([0.99, 1.0, -0.25, -0.2, 0.0])).tolist() == [0, 1, -1, 0, 0]
    heads.config.reward_estimate = "class"
    assert torch.equal(heads.predict(z, z, torch.zeros(3, 25))[0], torch.zeros(3))   # the likeliest class: zero


def test_a_world_whose_heads_block_is_broken_still_loads_without_heads_for_refitting(tiny_world, tmp_path):
    """train-heads rolls the world out to refit its heads; the old block must not stand in the way."""
    import pytest
    from worldmodel.checkpoint import CheckpointError, save_checkpoint
    out = tmp_path / "broken"
    shutil.copytree(tiny_world, out)
    config, tensors = load_checkpoint(out)
    config["heads"] = {"config": {"no_such_field": 1}, "metrics": {}}
    save_checkpoint(out, config, tensors)
    with pytest.raises(CheckpointError, match="broken heads block"):
        World.from_pretrained(out)
    w = World.from_pretrained(out, heads=None)
    assert w.heads is None and w.reset() is not None


def test_end_head_is_fitted_balanced_and_read_calibrated():
    """Ends are rare, so the end head's loss weights them up; `predict` must take that weight back
    out. Where an episode ends one step in four (a signal in the frame) and one in fifty
    elsewhere, the calibrated P(end) lands near those rates (the weighted head alone would say
    about 0.9 and 0.5), its sum near the number of ends, and the threshold rule still fires
    exactly where the weighted head passes 0.5."""
    from worldmodel.action import ACTION_DIM
    g = torch.Generator().manual_seed(0)
    n = 4000
    z = torch.randn(n, 4, 4, 4, generator=g)
    signal = torch.rand(n, generator=g) < 0.3
    z[signal, 0] += 1.5                                                  # the frames that show it
    done = torch.rand(n, generator=g) < torch.where(signal, 0.25, 0.02)
    data = {"z_prev": torch.randn(n, 4, 4, 4, generator=g), "z": z, "action": torch.zeros(n, ACTION_DIM),
            "reward": torch.zeros(n), "done": done}
    heads = fit_heads(data, ACTION_DIM, steps=600, batch=256, noise=0.0, progress=False)
    assert heads.config.end_weight > 5                                   # fitted with the ends weighted up
    _, p = heads.predict(data["z_prev"], z, data["action"])
    assert 0.18 < float(p[signal].mean()) < 0.3 and 0.01 < float(p[~signal].mean()) < 0.03
    m = score_heads(heads, data)
    assert 0.85 < m["end_sum"]["predicted"] / m["end_sum"]["actual"] < 1.15
    weighted = torch.sigmoid(heads(data["z_prev"], z, data["action"])[1])
    assert torch.equal(heads.ends(p), weighted >= 0.5)


def test_sampled_ends_follow_the_calibrated_probability_and_the_seed(tiny_world, tmp_path):
    """end_estimate "sample": each world ends a step with the heads' calibrated P(end), drawn from
    its own noise stream, so a seed replays the same ends; "threshold" draws nothing, so its
    frames are those of a world without heads."""
    from dataclasses import asdict

    from dynamics.heads import HeadsConfig, RewardEndHeads
    from worldmodel.action import ACTION_DIM
    from worldmodel.checkpoint import save_checkpoint
    config, tensors = load_checkpoint(tiny_world)
    plain = World.from_pretrained(tiny_world)
    for mode in ("sample", "threshold"):
        heads = RewardEndHeads(HeadsConfig(latent_channels=4, latent_size=8, action_dim=ACTION_DIM, dim=16,
                                           end_weight=9.0, end_estimate=mode))
        with torch.no_grad():                           # a constant end logit: weighted P 0.75, calibrated 0.25
            heads.out[-1].weight.zero_()
            heads.out[-1].bias.zero_()
            heads.out[-1].bias[3] = float(np.log(3.0))
        out = tmp_path / mode
        shutil.copytree(tiny_world, out)
        cfg = dict(config, heads={"config": asdict(heads.config), "metrics": {}})
        for f in out.glob("*.safetensors"):
            f.unlink()
        save_checkpoint(out, cfg, {**tensors, **{f"heads.{k}": v for k, v in heads.state_dict().items()}})
        runs = []
        for _ in range(2):
            w = World.from_pretrained(out)
            w.reset([None] * 64, seed=list(range(64)))
            assert not w.done.any()
            ends = []
            for _ in range(4):
                w.step(Action())
                assert np.allclose(w.end_probability, 0.25, atol=1e-4)
                ends.append(w.done.copy())
            runs.append(np.stack(ends))
        assert np.array_equal(runs[0], runs[1])                           # the seed decides the ends
        if mode == "sample":
            assert 0.15 < runs[0].mean() < 0.35
            one = World.from_pretrained(out)                              # each world its own stream:
            for row in (5, 17, 42):                                       # row i plays as seed i alone
                one.reset(None, seed=row)
                alone = []
                for _ in range(4):
                    one.step(Action())
                    alone.append(one.done)
                assert alone == list(runs[0][:, row])
        else:
            assert runs[0].all()                                          # 0.25 >= 1 / (1 + 9)
            plain.reset([None] * 64, seed=list(range(64)))
            for _ in range(4):
                frames = plain.step(Action())
            assert np.array_equal(frames, w.frame)


def test_action_windows_end_with_the_step_and_start_with_zeros(recording):
    _, episodes = load_episodes(recording)
    ep = episodes[1]
    w = ep.action_windows(3)                                             # (n, 3, a), oldest first
    assert w.shape == (len(ep), 3, ep.actions.shape[1])
    for i in range(len(ep)):
        for j in range(3):                                              # window[i][2 - j] = actions[i - j]
            want = ep.actions[i - j] if i - j >= 0 else np.zeros_like(ep.actions[0])
            assert np.array_equal(w[i, 2 - j], want)
    assert np.array_equal(ep.action_windows(1)[:, 0], ep.actions)
    tr = transitions([torch.zeros(len(e), 4, 8, 8) for e in episodes], episodes, [1], history=3)
    assert torch.equal(tr["action"], torch.from_numpy(w[1:]))


def test_heads_reading_past_actions_learn_a_delayed_payoff(recording, tiny_world):
    """A game that pays one step after the key (defend_the_center pays a kill the step after the
    shot): reward +1 at step i whenever action i-1 was one of three keys. With actions drawn
    independently at each step (so the step's own action tells nothing), heads reading the
    latest 2 actions find those steps; heads reading the step's own action cannot."""
    _, episodes = load_episodes(recording)
    _, ae, _ = load_world_parts(tiny_world)
    latents = encode_episodes(ae, episodes, "cpu")
    vectors = np.unique(np.concatenate([ep.actions[1:] for ep in episodes]), axis=0)   # the game's keys
    assert len(vectors) >= 3

    def delayed(seed: int) -> list:
        rng = np.random.default_rng(seed)
        out = []
        for ep in episodes:
            ids = rng.integers(0, len(vectors), len(ep))
            ids[0] = -1                                                # frame 0: no action
            acts = np.where(ids[:, None] >= 0, vectors[ids.clip(0)], 0.0).astype(np.float32)
            rewards = np.zeros(len(ep), np.float32)
            rewards[1:] = (ids[:-1] >= 0) & (ids[:-1] < 3)             # paid one step late
            out.append(Episode(ep.frames, acts, ids >= 0, ids, rewards, ep.dones))
        return out

    train_eps, val_eps = sum((delayed(s) for s in range(8)), []), sum((delayed(s) for s in (8, 9)), [])
    scores = {}
    for k in (1, 2):
        data = {name: transitions(latents * (len(eps) // len(episodes)), eps, range(len(eps)), history=k)
                for name, eps in (("train", train_eps), ("val", val_eps))}
        heads = fit_heads(data["train"], vectors.shape[1], steps=300, batch=64, progress=False, use_action=True)
        assert heads.config.action_history == k
        scores[k] = score_heads(heads, data["val"])["reward_nonzero"]
    assert scores[2]["recall"] >= 0.9 and scores[2]["precision"] >= 0.9
    assert (scores[1]["recall"] or 0.0) < 0.5 or (scores[1]["precision"] or 0.0) < 0.6


def _with_heads(world, heads, out):
    """A copy of the checkpoint `world` at `out` with these heads in it."""
    from dataclasses import asdict

    from worldmodel.checkpoint import save_checkpoint
    config, tensors = load_checkpoint(world)
    shutil.copytree(world, out)
    for f in out.glob("*.safetensors"):
        f.unlink()
    save_checkpoint(out, dict(config, heads={"config": asdict(heads.config), "metrics": {}}),
                    {**tensors, **{f"heads.{k}": v for k, v in heads.state_dict().items()}})
    return out


def test_world_feeds_its_heads_the_latest_actions(tiny_world, tmp_path):
    """A World keeps the window of actions its heads read: after reset zeros (or the past_actions
    given), then each step's action pushed in; reset_rows empties a restarted row's window. The
    world's rewards equal the heads' own on the windows built by hand."""
    from dynamics.heads import HeadsConfig, RewardEndHeads
    from worldmodel.action import ACTION_DIM, actions_to_array
    torch.manual_seed(0)
    heads = RewardEndHeads(HeadsConfig(latent_channels=4, latent_size=8, action_dim=ACTION_DIM, dim=16,
                                       use_action=True, action_history=3))
    w = World.from_pretrained(_with_heads(tiny_world, heads, tmp_path / "w"))
    assert w.heads.config.action_history == 3
    keys = [Action.press("w"), Action.press("d"), Action(buttons=frozenset({"left"})), Action.press("a")]
    past = np.random.default_rng(0).random((2, 2, ACTION_DIM)).astype(np.float32)
    for given in (None, past):
        w.reset([None, None], seed=[1, 2], past_actions=given)
        hist = torch.zeros(2, 2, ACTION_DIM) if given is None else torch.from_numpy(given)   # (b, k-1, a)
        for t, a in enumerate(keys):
            prev = w.latent.clone()
            sent = [a, keys[-1 - t]]
            w.step(sent)
            window = torch.cat([hist, torch.from_numpy(actions_to_array(sent))[:, None]], 1)   # (b, k, a)
            hist = window[:, 1:]
            want, _ = w.heads.predict(prev, w.latent, window)
            assert np.allclose(w.reward, want.numpy(), atol=1e-6)
        other, _ = w.heads.predict(prev, w.latent, torch.zeros_like(window))
        assert not np.allclose(w.reward, other.numpy())                 # the window matters
    w.reset_rows([1], [None], [5])
    assert torch.equal(w._state.past_actions[1], torch.zeros(2, ACTION_DIM))
    assert torch.equal(w._state.past_actions[0], window[0, 1:])
    before = w.frame.copy()
    with pytest.raises(ValueError, match="past_actions"):
        w.reset([None, None], seed=[1, 2], past_actions=np.zeros((2, 5, ACTION_DIM)))
    assert np.array_equal(w.frame, before) and w.step([Action(), Action()]).shape[0] == 2   # the play goes on
    with pytest.raises(ValueError, match="latest 3"):
        w.heads.predict(prev, w.latent, window[:, :2])


def test_heads_with_coords_tell_where_a_thing_is():
    """A shot pays only for what is under the crosshair: reward +1 when a bright spot lies in the
    left half of the latent frame, 0 in the right half, the spot never touching the borders. Pooled
    over the frame, plain heads see a spot either way and cannot tell; heads with coordinate
    channels (HeadsConfig.coords) can."""
    gen = torch.Generator().manual_seed(0)

    def data(n: int) -> dict:
        z = 0.1 * torch.randn(n, 4, 16, 16, generator=gen)
        xs = torch.randint(2, 14, (n,), generator=gen)
        ys = torch.randint(2, 14, (n,), generator=gen)
        z[torch.arange(n), :, ys, xs] += 3.0
        return {"z_prev": z.clone(), "z": z, "action": torch.zeros(n, 25), "reward": (xs < 8).float(),
                "done": torch.zeros(n, dtype=torch.bool)}

    train, val = data(2048), data(512)
    acc = {}
    for coords in (False, True):
        heads = fit_heads(train, 25, steps=300, batch=128, progress=False, coords=coords)
        assert heads.config.coords == coords
        acc[coords] = score_heads(heads, val)["reward_class_accuracy"]
    assert acc[True] >= 0.9 and acc[False] <= 0.75


def test_read_episode_reads_real_frames_as_the_heads_were_fitted(recording, tiny_world, tmp_path):
    """World.read_episode (the heads on a real episode, what `agents eval` sets beside the game's
    returns) encodes the frames and builds the action windows exactly as the fit's transitions
    do; bad input is refused."""
    from dynamics.heads import HeadsConfig, RewardEndHeads
    from worldmodel.action import ACTION_DIM
    torch.manual_seed(1)
    heads = RewardEndHeads(HeadsConfig(latent_channels=4, latent_size=8, action_dim=ACTION_DIM, dim=16,
                                       use_action=True, action_history=3, coords=True))
    w = World.from_pretrained(_with_heads(tiny_world, heads, tmp_path / "w"))
    _, episodes = load_episodes(recording)
    ep = episodes[2]
    assert not ep.actions[0].any()                        # a start frame has no action, as recorded
    r, p = w.read_episode(ep.frames, [Action.from_vector(v) for v in ep.actions[1:]])
    tr = transitions(encode_episodes(w.autoencoder, [ep], "cpu"), [ep], [0], history=3)
    want_r, want_p = w.heads.predict(tr["z_prev"], tr["z"], tr["action"])
    assert r.shape == (len(ep) - 1,)
    assert np.allclose(r, want_r.numpy(), atol=1e-5) and np.allclose(p, want_p.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="one fewer"):
        w.read_episode(ep.frames, [Action()] * len(ep))
    with pytest.raises(ValueError, match="uint8 frames"):
        w.read_episode(ep.frames[..., 0], [Action()] * (len(ep) - 1))


def test_reward_steps_keep_drifted_labels_out_of_the_reward_head_but_not_the_end_head():
    """`fit_heads(reward_steps=)` (train-heads --world-frames-for end): the world's frames of a
    recording carry the game's reward labels on a drawing that has drifted away from them. Here
    the "real" steps pay +1 exactly where a bright spot shows; the "world" steps carry rewards
    drawn at random (the drift), and they alone show the episode ends (a dark frame). Fitted on
    all steps, the reward head pays frames without a spot too, and overpays a clean episode;
    masked to the real steps it pays what the frames show. Either way the end head still learns
    the ends, which only the world's steps teach."""
    gen = torch.Generator().manual_seed(0)

    def data(n: int, world: bool) -> dict:
        z = 0.1 * torch.randn(n, 4, 8, 8, generator=gen)
        spot = torch.rand(n, generator=gen) < 0.2
        z[spot, :, 3, 4] += 3.0
        # the drifted labels: at random, and of another size (the class values come from the fit)
        reward = 2.0 * (torch.rand(n, generator=gen) < 0.5).float() if world else spot.float()
        done = (torch.rand(n, generator=gen) < 0.1) if world else torch.zeros(n, dtype=torch.bool)
        z[done, 1] -= 2.0
        return {"z_prev": z.clone(), "z": z, "action": torch.zeros(n, 25), "reward": reward, "done": done}

    real, world = data(2048, False), data(2048, True)
    train = {k: torch.cat([real[k], world[k]]) for k in real}
    mask = torch.arange(4096) < 2048
    clean, ends = data(1024, False), data(1024, True)
    for masked in (False, True):
        heads = fit_heads(train, 25, steps=300, batch=128, progress=False, reward_steps=mask if masked else None)
        m = score_heads(heads, clean)
        over = m["reward_sum"]["predicted"] / m["reward_sum"]["actual"]
        assert (abs(over - 1) < 0.15) if masked else (over > 1.5)
        assert (heads.config.reward_values[1] == 1.0) == masked     # the + class's value: the steps fitted
        assert score_heads(heads, ends)["episode_end"]["recall"] >= 0.9
    # class-balanced heads weigh the classes of the masked steps only, and find the spots
    heads = fit_heads(train, 25, steps=300, batch=128, progress=False, reward_steps=mask, reward_estimate="class")
    m = score_heads(heads, clean)
    assert m["reward_nonzero"]["recall"] >= 0.9 and m["reward_nonzero"]["precision"] >= 0.9
    with pytest.raises(ValueError, match="no step"):
        fit_heads(train, 25, steps=1, progress=False, reward_steps=torch.zeros(4096, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool mask"):
        fit_heads(train, 25, steps=1, progress=False, reward_steps=mask.long())


def test_train_heads_masks_exactly_the_world_steps_for_the_reward_head(recording, tiny_world, tmp_path,
                                                                         monkeypatch):
    """train_heads(world_frames_for="end") hands fit_heads a mask that is True on the recording's
    real steps and False on every step of the world's rollouts (which come after them)."""
    import worldmodel.train.heads as th
    world_dir = tmp_path / "w"
    shutil.copytree(tiny_world, world_dir)
    seen = {}
    real_fit = th.fit_heads

    def spy(train, *args, **kw):
        seen["train"], seen["mask"] = train, kw.get("reward_steps")
        return real_fit(train, *args, **kw)

    def rollouts(path, episodes, ids, history=1, **kw):          # 7 "world" steps marked by reward 5
        t = transitions(encode_episodes(load_world_parts(path)[1], episodes, "cpu"), episodes, ids, history)
        return {k: v[:7] for k, v in t.items()} | {"reward": torch.full((7,), 5.0)}

    monkeypatch.setattr(th, "fit_heads", spy)
    for how, masked in (("end", True), ("both", False)):
        m = th.train_heads(world_dir, recording, steps=2, batch=16, progress=False, rollouts=rollouts,
                           world_frames_for=how)
        assert m["fit_on"]["world_steps"] == 7 and m["fit_on"]["world_steps_teach"] == how
        if masked:
            world_rows = seen["train"]["reward"] == 5.0
            assert world_rows.sum() == 7 and torch.equal(seen["mask"], ~world_rows)
        else:
            assert seen["mask"] is None
    with pytest.raises(ValueError, match="needs the world's frames"):
        th.train_heads(world_dir, recording, progress=False, world_frames_for="end")


def test_a_killed_fit_of_other_heads_is_not_resumed_into_these(tmp_path):
    """The heads' resumable state left by a killed fit is reused only for the same fit: one with
    other settings (here coordinate channels, so other weights) starts over instead of failing to
    load, or mixing two fits."""
    from worldmodel.train.loop import STATE, read_state
    gen = torch.Generator().manual_seed(0)
    n = 64
    train = {"z_prev": torch.randn(n, 4, 8, 8, generator=gen), "z": torch.randn(n, 4, 8, 8, generator=gen),
             "action": torch.zeros(n, 25), "reward": torch.zeros(n), "done": torch.zeros(n, dtype=torch.bool)}
    out = tmp_path / "heads-training"
    out.mkdir()
    (out / STATE).write_text('{"step": 5, "total": 10, "settings": {"coords": true}}')   # weights long gone
    heads = fit_heads(train, 25, steps=3, batch=16, progress=False, out=out, save_every=0.0)
    assert not heads.config.coords
    assert read_state(out) is None                                  # finished: no state left to resume
