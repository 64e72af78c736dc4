"""Scripted agents: deterministic, valid native actions, and the heuristics read the frame."""
import json

import numpy as np
import pytest
import torch

from agents.policies import default_agents, make_agent, native_index
from conftest import make_headed_world
from worldmodel import World
from worldmodel.action import action_from_json


def action_set(name):
    cfg = json.load(open(f"checkpoints/{name}/config.json"))
    return [action_from_json(a) for a in cfg["env"]["action_set"]], cfg["env"]["env"]


@pytest.mark.parametrize("world", ["boxing", "doom", "procedural"])
def test_agents_give_valid_actions_deterministically(world):
    acts, env = action_set(world)
    names = ["random", "idle", "fixed:1"] + (["heuristic"] if world != "procedural" else [])
    frames = np.random.default_rng(0).integers(0, 256, (20, 64, 64, 3), dtype=np.uint8)
    for name in names:
        a, b = make_agent(name, acts, env), make_agent(name, acts, env)
        a.reset(7)
        b.reset(7)
        xs, ys = [a.act(f) for f in frames], [b.act(f) for f in frames]
        assert xs == ys and all(0 <= x < len(acts) for x in xs)
    assert acts[make_agent("idle", acts, env).act(frames[0])] == action_from_json([])
    with pytest.raises(ValueError, match="no hand-written heuristic"):
        make_agent("heuristic", *action_set("procedural"))
    with pytest.raises(ValueError, match="unknown agent"):
        make_agent("clever", acts, env)
    with pytest.raises(ValueError, match="native actions"):
        make_agent(f"fixed:{len(acts)}", acts, env)


def test_cycle_agent_plays_its_sequence_in_turn_from_every_reset():
    acts, env = action_set("doom")
    frame = np.zeros((64, 64, 3), np.uint8)
    agent = make_agent("cycle:6-6-9-9", acts, env)
    assert agent.name == "cycle:6-6-9-9"
    assert [agent.act(frame) for _ in range(6)] == [6, 6, 9, 9, 6, 6]
    agent.reset(3)
    assert [agent.act(frame) for _ in range(3)] == [6, 6, 9]
    for bad in ("cycle:", "cycle:6-x", f"cycle:1-{len(acts)}", "cycle:-1"):
        with pytest.raises(ValueError, match="cycle:"):
            make_agent(bad, acts, env)


def test_hit_flash_is_red_across_the_view_not_a_demon():
    from agents.policies import hit_flash
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[24:48, 4:10] = (220, 20, 20)                            # a demon: a few red columns
    assert not hit_flash(frame)
    frame[16:56, :] = (200, 40, 40)                               # being hit tints the whole view
    assert hit_flash(frame)
    frame[16:56, 24:] = 0                                         # red in fewer than half the columns
    assert not hit_flash(frame)


def test_aim_left_is_aim_searching_the_other_way():
    acts, env = action_set("doom")
    aim, left = make_agent("aim", acts, env), make_agent("aim-left", acts, env)
    assert (aim.name, left.name) == ("aim", "aim-left")
    empty = np.zeros((64, 64, 3), np.uint8)                       # nothing red: each searches its own way
    assert aim.act(empty) == native_index(acts, turn=1) and left.act(empty) == native_index(acts, turn=-1)
    demon = empty.copy()
    demon[24:48, 4:10] = (220, 20, 20)                            # a red demon on the left: both turn to it
    assert aim.act(demon) == left.act(demon) == native_index(acts, turn=-1)
    centred = empty.copy()
    centred[24:48, 30:34] = (220, 20, 20)                         # ... and fire once it is in the middle
    assert aim.act(centred) == left.act(centred) == native_index(acts, fire=True)
    with pytest.raises(ValueError, match="ViZDoom"):
        make_agent("aim-left", *action_set("boxing"))


def test_mix_agent_plays_one_agent_a_whole_episode_drawn_from_its_seed():
    acts, env = action_set("doom")
    mix = make_agent("mix:fixed:1+fixed:2+explore:aim+random", acts, env)
    assert mix.name == "mix:fixed:1+fixed:2+explore:aim+random"
    frames = np.random.default_rng(0).integers(0, 256, (10, 64, 64, 3), dtype=np.uint8)
    chosen = {}
    for seed in range(40):
        mix.reset(seed)
        chosen[seed] = mix.playing
        if mix.playing.startswith("fixed:"):                      # the whole episode is that agent's
            assert {mix.act(f) for f in frames} == {int(mix.playing[-1])}
        else:                                                     # ... and it plays as it would alone,
            alone = make_agent(mix.playing, acts, env)            # reset with the episode's seed
            alone.reset(seed)
            assert [mix.act(f) for f in frames] == [alone.act(f) for f in frames]
    assert set(chosen.values()) == {"fixed:1", "fixed:2", "explore:aim", "random"}
    again = make_agent("mix:fixed:1+fixed:2+explore:aim+random", acts, env)
    for seed in (3, 11, 29):                                      # the same seed, the same player
        again.reset(seed)
        assert again.playing == chosen[seed]
    for bad in ("mix:", "mix:idle", "mix:fixed:1+mix:idle+random", "mix:explore:mix:a+b", "mix:idle+clever"):
        with pytest.raises(ValueError):
            make_agent(bad, acts, env)


def test_a_recording_of_a_mix_says_who_played_each_episode(tmp_path):
    from agents.policies import recording_policy
    from worldmodel.data import read_meta, record
    from worldmodel.envs import make_env
    env = make_env("procedural", size=32)
    try:
        policy = recording_policy("mix:idle+fixed:1", env)
        record(env, tmp_path / "rec", 6, 5, policy=policy, seed=0, progress=False)
    finally:
        env.close()
    meta = read_meta(tmp_path / "rec")
    assert meta["policy"] == "mix:idle+fixed:1"
    players = [e["player"] for e in meta["episodes"]]
    assert set(players) == {"idle", "fixed:1"}
    for i, who in enumerate(players):                             # and the episode is that player's
        native = np.load(tmp_path / "rec" / f"ep_{i:05d}" / "data.npz")["native"][1:]
        assert set(native.tolist()) == {make_agent(who, env.action_set, "procedural").act(None)}


def test_boxing_heuristic_chases_and_punches():
    acts, env = action_set("boxing")
    agent = make_agent("heuristic", acts, env)

    def frame(me, them):
        f = np.zeros((64, 64, 3), np.uint8)
        f[:] = (110, 156, 66)
        f[me[0] - 3: me[0] + 3, me[1] - 2: me[1] + 2] = 214
        f[them[0] - 3: them[0] + 3, them[1] - 2: them[1] + 2] = 0
        return f
    assert acts[agent.act(frame((30, 12), (30, 50)))].keys == {"right"}            # far to the right: go
    assert acts[agent.act(frame((20, 12), (40, 50)))].keys == {"down", "right"}
    assert acts[agent.act(frame((30, 30), (30, 40)))].keys == {"space"}            # close and aligned: punch
    assert native_index(acts, {"left", "space", "up"}) == acts.index(action_from_json(["left", "space", "up"]))


def test_train_in_world_resumes_and_the_trained_agent_acts_in_the_real_game(tiny_world, tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    from agents.policies import TrainedAgent
    from agents.train import train_in_world
    from worldmodel.envs import make_env
    world = make_headed_world(tiny_world, tmp_path / "world")
    out = train_in_world(world, tmp_path / "agent", steps=512, num_envs=2, episode_steps=20, progress=False,
                         snapshot_every=256)
    assert (out / "train_state" / "config.json").is_file() and (out / "model.safetensors").is_file()
    # rollouts of 128 x 2 steps: a snapshot after the first; the second is the agent itself
    assert sorted(p.name for p in out.glob("stage-*")) == ["stage-256"]
    assert json.loads((out / "stage-256" / "config.json").read_text())["steps"] == 256
    first = TrainedAgent(World.from_pretrained(world).action_set, out)
    train_in_world(world, out, steps=768, num_envs=2, episode_steps=20, progress=False)   # resumes: 256 more
    assert "resuming from" in capsys.readouterr().out
    log = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert log[-1]["steps"] == 768
    second = make_agent(f"trained:{out}", World.from_pretrained(world).action_set, "procedural")
    env = make_env("procedural", size=32)
    frames = [env.reset(s) for s in range(8)]
    acts = [second.act(f) for f in frames]
    assert acts == [second.act(f) for f in frames]                     # greedy: deterministic
    assert all(0 <= a < len(env.action_set) for a in acts)
    # training changed the policy
    assert any(not torch.equal(a, b) for a, b in zip(first.net.state_dict().values(), second.net.state_dict().values()))
    with pytest.raises(ValueError, match="not a trained agent"):
        TrainedAgent(env.action_set, world)


def test_defend_the_center_ranks_a_ladder_of_agents(tmp_path, monkeypatch):
    """ViZDoom's defend_the_center rewards kills densely enough to tell players apart in 300
    steps: the aiming heuristic kills several times what random firing does, and standing still
    earns only the death (-1: the whole health bar)."""
    pytest.importorskip("vizdoom")
    from agents.harness import real_returns
    from worldmodel.envs import make_env

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    env = make_env("vizdoom:defend_the_center", size=64)
    try:
        out, starts = real_returns(env, ["idle", "random", "aim"], episodes=4, steps=300, seed=0, progress=False)
    finally:
        env.close()
    mean = {k: float(np.mean(v)) for k, v in out.items()}
    assert default_agents("vizdoom:defend_the_center") == ["idle", "random", "heuristic", "fixed:9", "explore:aim", "aim"]
    assert len(starts) == 4 and starts[0].shape == (64, 64, 3)
    assert mean["idle"] == -1.0
    assert mean["aim"] >= 5.0 and mean["aim"] > mean["random"] + 4.0


def test_boxing_ladder_climbs_in_the_real_game():
    """Boxing's ladder is a ladder in the real game: each rung scores more than the one below
    (ALE Boxing is deterministic for the fixed agents and the heuristics), and the aiming
    heuristic, which releases the button between punches, wins by a wide margin."""
    pytest.importorskip("ale_py")
    from agents.harness import real_returns
    from worldmodel.envs import make_env

    ladder = default_agents("atari:Boxing")
    assert ladder == ["fixed:8", "fixed:3", "idle", "explore:heuristic", "fixed:13", "heuristic", "aim"]
    env = make_env("atari:Boxing", size=64)
    try:
        out, _ = real_returns(env, ["fixed:8", "idle", "heuristic", "aim"], episodes=1, steps=300, seed=0,
                              progress=False)
    finally:
        env.close()
    means = [float(np.mean(out[n])) for n in ["fixed:8", "idle", "heuristic", "aim"]]
    assert means == sorted(means) and len(set(means)) == 4, means
    assert means[-1] >= 50


def test_target_sight_counts_demons_only_on_frames_without_a_flash():
    """scripts/target_sight.py: aim's test fires on a demon, on its own muzzle flash and on the
    red of being hit; the demons' share leaves out the frames up to 3 steps after a shot and those
    red across half the view or more, and step 0 is never scored."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "target_sight", Path(__file__).resolve().parent.parent / "scripts" / "target_sight.py")
    ts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ts)

    grey = np.full((64, 64, 3), 100, np.uint8)
    demon = grey.copy()
    demon[30:32, 10] = (220, 40, 40)                       # two strongly red pixels in one column
    hit = grey.copy()
    hit[16:56, :, 0] = 200                                  # the whole view tinted red
    frames = np.stack([demon, demon, grey, demon, demon, demon, demon, hit])
    fire = {9}
    actions = [0, 9, 0, 0, 0, 0, 0, 0]                     # a shot at step 1: frames 2, 3, 4 may show its flash
    s = ts.sights([{"frames": frames, "actions": actions}], fire)
    assert s["step"].tolist() == list(range(1, 8))          # step 0 not scored
    assert s["aim"].tolist() == [True, False, True, True, True, True, True]
    assert s["clear"].tolist() == [True, False, False, False, True, True, False]
    assert s["aim"][s["clear"]].tolist() == [True, True, True]
