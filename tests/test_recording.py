import numpy as np
import torch
import pytest

from worldmodel.data import LatentClips, load_episodes, read_video, record, split_episodes, write_lossless
from worldmodel.data.episodes import load_episode
from worldmodel.envs import make_env


def test_lossless_video_is_bit_exact(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (17, 24, 40, 3), dtype=np.uint8)  # noise: worst case
    write_lossless(tmp_path / "v.mkv", frames)
    assert np.array_equal(read_video(tmp_path / "v.mkv"), frames)


def test_recording_round_trip(recording):
    meta, eps = load_episodes(recording)
    assert meta["env"] == "procedural" and len(eps) == 4
    env = make_env("procedural", size=32)
    # replaying the recorded native actions in a fresh env reproduces the frames bit for bit
    ep = eps[1]
    seed = meta["seed"] * 100_003 + 1
    frames = [env.reset(seed)] + [env.step_native(int(a))[0] for a in ep.native[1:]]
    assert np.array_equal(np.stack(frames), ep.frames)
    assert not ep.has_action[0] and ep.has_action[1:].all()
    assert np.array_equal(ep.actions[1], env.action_set[ep.native[1]].to_vector())


def test_clips_never_cross_episodes(recording):
    _, eps = load_episodes(recording)
    frames = [torch.from_numpy(e.frames) for e in eps]           # clips of any per-frame tensors
    ds = LatentClips(frames, eps, list(range(len(eps))), 6)
    assert len(ds) == sum(len(e) - 6 + 1 for e in eps)
    for e, s in ds.index:
        assert s + 6 <= len(eps[e])
    x, a, m = ds.sample(np.random.default_rng(0), 64, "cpu")
    starts = {(int(e), int(s)) for e, s in ds.index}
    for clip, acts in zip(x.numpy(), a.numpy()):                   # every sampled clip is one real window
        assert any(np.array_equal(clip, eps[e].frames[s:s + 6]) and np.array_equal(acts, eps[e].actions[s:s + 6])
                   for e, s in starts)


def test_split_is_by_episode(recording):
    _, eps = load_episodes(recording)
    train, val = split_episodes(len(eps))
    assert set(train).isdisjoint(val) and val
    assert sorted(train + val) == list(range(len(eps)))
    assert split_episodes(10, 0.2, seed=1) == split_episodes(10, 0.2, seed=1)
    frames = [torch.from_numpy(e.frames) for e in eps]
    only_val = LatentClips(frames, eps, val, 4)
    assert len(only_val) == sum(len(eps[i]) - 3 for i in val)      # windows of the chosen episodes only


def test_record_refuses_non_empty_out(recording):
    with pytest.raises(FileExistsError, match="not empty"):
        record(make_env("procedural", size=32), recording, 1, 2, progress=False)


def test_truncated_video_is_a_clear_error(recording, tmp_path):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(recording, bad)
    video = bad / "ep_00000" / "frames.mkv"
    video.write_bytes(video.read_bytes()[:200])
    with pytest.raises(ValueError, match="frames|decode"):
        load_episode(bad, "ep_00000")
    (bad / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_episodes(bad)
    with pytest.raises(FileNotFoundError, match="not a recording"):
        load_episodes(tmp_path)


def test_counterfactual_branches(tmp_path):
    """Branches share the recorded past and continue with another held action, exactly as a
    replay of the game from the same seed and actions would; the episodes themselves are those of
    a recording without branches."""
    from worldmodel.data import BranchConfig, load_branches
    from worldmodel.data.episodes import episode_seed, replay
    env = make_env("procedural", size=32)
    cfg = BranchConfig(points=3, actions=2, steps=4, past=5)
    record(env, tmp_path / "b", episodes=3, steps=20, policy="sticky", seed=4, progress=False, branches=cfg)
    record(env, tmp_path / "plain", episodes=3, steps=20, policy="sticky", seed=4, progress=False)
    meta, eps = load_episodes(tmp_path / "b")
    _, plain = load_episodes(tmp_path / "plain")
    assert all(np.array_equal(a.frames, b.frames) and np.array_equal(a.native, b.native) for a, b in zip(eps, plain))
    branches = load_branches(tmp_path / "b")
    assert len(branches) == 3 * 3 * 2 == len(meta["branches"])
    assert load_branches(tmp_path / "plain") == []
    assert [b["parent"] for b, _ in load_branches(tmp_path / "b", parents=[1])] == [1] * 6
    for b, br in branches:
        parent, at, past = eps[b["parent"]], b["at"], b["past"]
        assert past == 5 and at >= 5 and len(br) == past + 4
        # the shared past is the parent's frames up to `at`, with its actions
        assert np.array_equal(br.frames[:past], parent.frames[at - past + 1:at + 1])
        assert np.array_equal(br.actions[:past], parent.actions[at - past + 1:at + 1])
        # then another action than the episode took, held, with the game's real outcome
        assert (br.native[past:] == b["action"]).all() and b["action"] != parent.native[at + 1]
        replay(env, episode_seed(4, b["parent"]), parent.native[1:at + 1])
        assert np.array_equal(np.stack([env.step_native(b["action"])[0] for _ in range(4)]), br.frames[past:])
    # the branch points of one step are distinct actions
    by_point = {}
    for b, _ in branches:
        by_point.setdefault((b["parent"], b["at"]), []).append(b["action"])
    assert all(len(set(v)) == len(v) == 2 for v in by_point.values())


def test_branches_refuse_a_game_that_does_not_replay(tmp_path):
    from worldmodel.data import BranchConfig

    class Flaky(type(make_env("procedural", size=32))):
        calls = 0

        def reset(self, seed=None):
            Flaky.calls += 1
            return super().reset(None if seed is None else seed + Flaky.calls)   # a new world each time

    with pytest.raises(RuntimeError, match="not deterministic"):
        record(Flaky(size=32), tmp_path / "x", episodes=1, steps=20, progress=False,
               branches=BranchConfig(points=2, past=4))


def test_a_branch_point_that_does_not_replay_is_skipped_and_counted(tmp_path):
    """A rare replay that differs (ViZDoom, after some branches) costs that point its branches,
    said in meta.json, not the whole recording; the episodes stay the same."""
    import json
    from worldmodel.data import BranchConfig

    class Once(type(make_env("procedural", size=32))):
        calls = 0

        def reset(self, seed=None):
            Once.calls += 1                                # resets 2 and 3: the first point's replay, tried twice
            return super().reset(seed + 7 if Once.calls in (2, 3) else seed)

    cfg = BranchConfig(points=3, actions=2, steps=3, past=4)
    game = Once(size=32)
    Once.calls = 0                                         # counted from the episode's own reset
    record(game, tmp_path / "r", episodes=1, steps=20, progress=False, branches=cfg, seed=3)
    record(make_env("procedural", size=32), tmp_path / "clean", episodes=1, steps=20, progress=False,
           branches=cfg, seed=3)
    meta, clean = (json.loads((tmp_path / d / "meta.json").read_text()) for d in ("r", "clean"))
    first_point = clean["branches"][0]["at"]
    assert meta["skipped_branch_points"] == [{"parent": 0, "at": first_point}]
    assert [b["at"] for b in meta["branches"]] == [b["at"] for b in clean["branches"] if b["at"] != first_point]
    assert len(meta["branches"]) == 4 and "skipped_branch_points" not in clean
    assert np.array_equal(load_episode(tmp_path / "r", "ep_00000").frames, load_episode(tmp_path / "clean", "ep_00000").frames)


def test_a_dropped_first_action_is_trained_as_no_action(tmp_path):
    """ViZDoom drops the action of the first step after a reset. The recording keeps the key that
    was pressed; loading it for training marks that step as no action, so a world does not learn
    that its start view ignores the keys. Other games keep every recorded action."""
    import json
    env = make_env("procedural", size=32)
    record(env, tmp_path / "r", episodes=2, steps=6, policy="sticky", seed=0, progress=False)
    _, eps = load_episodes(tmp_path / "r")
    assert all(ep.has_action[1:].all() for ep in eps)
    meta_path = tmp_path / "r" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["env"] = "vizdoom:E1M1"                     # the same arrays, labelled as made in ViZDoom
    meta_path.write_text(json.dumps(meta))
    _, doom = load_episodes(tmp_path / "r")
    for ep, raw in zip(doom, eps):
        assert not ep.has_action[:2].any() and ep.has_action[2:].all()
        assert np.array_equal(ep.native, raw.native)  # what was pressed is still there
    assert load_episode(tmp_path / "r", meta["episodes"][0]["name"]).has_action[1]   # the file is unchanged
    # a branch whose stored past starts at episode frame 1 has that frame as its frame 0
    from worldmodel.data.episodes import mask_dropped_action
    br = load_episode(tmp_path / "r", meta["episodes"][0]["name"])
    assert not mask_dropped_action(br, "vizdoom:E1M1", first=1).has_action[0]
    assert mask_dropped_action(load_episode(tmp_path / "r", meta["episodes"][0]["name"]), "vizdoom:E1M1",
                               first=2).has_action[1:].all()        # starts later: nothing dropped in it
    assert mask_dropped_action(load_episode(tmp_path / "r", meta["episodes"][0]["name"]), "procedural").has_action[1]


def test_record_with_an_agent_that_sees_the_frames(tmp_path):
    """A closed-loop policy acts on each frame it is shown: the recorded actions are exactly what
    the same agent, reset with the episode's seed and shown the recorded frames, chooses. Its name
    goes into meta.json, each episode draws its own exploration rate, and an unknown policy name
    fails before the output folder is made."""
    from agents.policies import make_agent
    from worldmodel.data.episodes import episode_seed

    env = make_env("procedural", size=32)
    out = record(env, tmp_path / "rec", episodes=3, steps=20,
                 policy=make_agent("explore:fixed:2", env.action_set, env.name), seed=0)
    meta, eps = load_episodes(out)
    assert meta["policy"] == "explore:fixed:2"
    again, rates = make_agent("explore:fixed:2", env.action_set, env.name), []
    for e, ep in enumerate(eps):
        again.reset(episode_seed(0, e))
        rates.append(again.rate)
        assert [again.act(f) for f in ep.frames[:-1]] == ep.native[1:].tolist()
        assert 0 < (ep.native[1:] == 2).sum() < len(ep) - 1 or again.rate in (0.0, 1.0)
    assert max(rates) - min(rates) > 0.05
    with pytest.raises(ValueError, match="unknown policy"):
        record(env, tmp_path / "bad", episodes=1, steps=2, policy="bogus")
    assert not (tmp_path / "bad").exists()
