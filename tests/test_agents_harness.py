"""`worldmodel agents eval`: both sides run the same agents from the same start frames, and the
report holds what the issue asks for."""
import json

import numpy as np
import pytest

from agents.harness import episode_seed, evaluate_agents, heads_scores, write_agents_report
from agents.policies import make_agent
from worldmodel import World
from worldmodel.cli import main
from worldmodel.envs import make_env

from conftest import make_headed_world


@pytest.fixture(scope="module")
def headed_world(tiny_world, tmp_path_factory):
    return make_headed_world(tiny_world, tmp_path_factory.mktemp("headed") / "world")


def test_eval_runs_the_same_episodes_in_both_and_writes_the_report(headed_world, tmp_path):
    agents = ["random", "idle", "fixed:2"]
    r = evaluate_agents(headed_world, agents, episodes=3, steps=4, seed=2, batch=4, progress=False)
    # the world side, by hand: agent "random", episode 1, from the real game's start frame, one world alone
    env = make_env("procedural", size=32)
    start = env.reset(episode_seed(2, 1))
    world = World.from_pretrained(headed_world)
    agent = make_agent("random", world.action_set, "procedural")
    agent.reset(episode_seed(2, 1))
    frame, total = world.reset(start, seed=episode_seed(2, 1)), 0.0
    for _ in range(4):
        frame = world.step(world.action_set[agent.act(frame)])
        total += world.reward
        if world.done:
            break
    assert r["agents"]["random"]["world_returns"][1] == pytest.approx(total, abs=1e-5)
    # the heads' reading of the real episode: the game's frames and actions of that same episode
    agent.reset(episode_seed(2, 1))
    frames, acts = [env.reset(episode_seed(2, 1))], []
    for _ in range(4):
        a = agent.act(frames[-1])
        frames.append(env.step_native(a)[0])
        acts.append(env.action_set[a])
    read = float(world.read_episode(np.stack(frames), acts)[0].sum())
    assert r["agents"]["random"]["heads_on_real_returns"][1] == pytest.approx(read, abs=1e-5)
    assert all(a["real_returns"] == [0.0] * 3 for a in r["agents"].values())   # the procedural game has no rewards
    out = write_agents_report(r, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "agents.json").read_text())
    for key in ("checkpoint", "env", "seed", "episodes", "steps", "agents", "spearman", "kendall",
                "pairwise_order_agreement", "seconds"):
        assert key in data
    for name in agents:
        a = data["agents"][name]
        assert a["real_ci"][0] <= a["real_return"] <= a["real_ci"][1]
        assert a["world_ci"][0] <= a["world_return"] <= a["world_ci"][1]
        assert a["real_steps"] == 4.0 and 1.0 <= a["world_steps"] <= 4.0   # the procedural game never ends
    assert "| 4 / " in out.read_text()                                       # steps: game / world
    assert "heads on the game's frames" in out.read_text() and "heads_on_real_spearman" in data
    assert data["spearman"] is None                    # real returns all equal: no ranking, said as null
    assert (tmp_path / "out" / "agents.png").stat().st_size > 1000 and "Spearman" in out.read_text()
    assert data["heads"] == {"real": {}, "generated": {}} and "were not measured" in out.read_text()


def test_report_gives_the_heads_precision_and_recall_on_real_and_generated_frames(tmp_path):
    """A head that fires on real latents but never on the world's frames must show as such."""
    event = lambda p, r, n, a: {"precision": p, "recall": r, "predicted": n, "actual": a}
    config = {"heads": {"metrics": {"reward_nonzero": event(2 / 3, 1.0, 3, 2), "episode_end": event(None, None, 0, 0),
                                    "reward_mae": 0.1,
                                    "generated": {"reward_nonzero": event(None, 0.0, 0, 5), "steps": 8,
                                                  "reward_sum": {"predicted": 12.5, "actual": 10.0}}}}}
    heads = heads_scores(config)
    assert heads == {"real": {"reward_nonzero": event(2 / 3, 1.0, 3, 2), "episode_end": event(None, None, 0, 0)},
                     "generated": {"reward_nonzero": event(None, 0.0, 0, 5), "reward_sum": {"predicted": 12.5, "actual": 10.0}}}
    result = {"checkpoint": "w", "env": "procedural", "seed": 0, "episodes": 2, "steps": 3, "world_settings": {},
              "heads": heads, "spearman": 1.0, "kendall": 1.0, "pairwise_order_agreement": 1.0, "seconds": 1.0,
              "agents": {n: {"real_return": v, "real_ci": [v, v], "world_return": v, "world_ci": [v, v]}
                         for n, v in (("idle", 0.0), ("random", 1.0))}}
    text = write_agents_report(result, tmp_path).read_text()
    real_row = next(line for line in text.splitlines() if line.startswith("| held-out real latents"))
    generated_row = next(line for line in text.splitlines() if line.startswith("| the world's generated frames"))
    assert "0.667 / 1.000 (3 predicted, 2 actual)" in real_row and "n/a / n/a (0 predicted, 0 actual)" in real_row
    assert "n/a / 0.000 (0 predicted, 5 actual)" in generated_row and generated_row.endswith("| n/a | 12.5 / 10.0 |")
    assert real_row.endswith("| n/a |")                           # summed rewards not measured there
    assert heads_scores({}) == {"real": {}, "generated": {}}


def test_eval_command_and_its_refusals(headed_world, tiny_world, tmp_path, capsys):
    assert main(["agents", "eval", str(headed_world), "--agents", "ladder,fixed:2", "--episodes", "2", "--steps", "3",
                 "--out", str(tmp_path / "ev")]) == 0
    assert "Spearman" in capsys.readouterr().out and (tmp_path / "ev" / "report.md").is_file()
    ran = json.loads((tmp_path / "ev" / "agents.json").read_text())["agents"]
    assert list(ran) == ["random", "idle", "fixed:2"]          # `ladder`: the procedural game's (random, idle)
    assert main(["agents", "eval", str(headed_world), "--agents", "random,nobody", "--out", str(tmp_path / "x")]) == 2
    assert "unknown agent 'nobody'" in capsys.readouterr().err
    assert main(["agents", "eval", str(tiny_world), "--out", str(tmp_path / "x"), "--agents", "random,idle"]) == 2
    assert "no reward/episode-end heads" in capsys.readouterr().err
    assert main(["agents", "eval", str(headed_world), "--episodes", "1", "--out", str(tmp_path / "x")]) == 2
    assert "episodes must be >= 2" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()               # refused before any work or file


def test_vector_bench_command(headed_world, tmp_path, capsys):
    assert main(["agents", "bench", str(headed_world), "--num-envs", "3", "--steps", "2", "--repeats", "2",
                 "--json", str(tmp_path / "b.json")]) == 0
    r = json.loads((tmp_path / "b.json").read_text())
    assert r["num_envs"] == 3 and len(r["single_runs"]) == 2 and r["speedup_per_world"] > 0
    assert np.isclose(r["speedup_per_world"], r["vector_steps_per_s_per_world"] / r["single_steps_per_s"])
    assert r["real_game"] == "procedural" and len(r["real_runs"]) == 2 and r["real_steps_per_s"] > 0
    assert np.isclose(r["world_vector_vs_real"], 3 * r["vector_steps_per_s_per_world"] / r["real_steps_per_s"])
    assert "the real game procedural" in capsys.readouterr().out


def test_real_ladder_command(tmp_path, capsys):
    """`agents real` plays agents in the real game only; `ladder` expands to the game's ladder,
    and an unknown agent fails before any episode."""
    assert main(["agents", "real", "--env", "procedural", "--agents", "ladder,fixed:1", "--episodes", "2",
                 "--steps", "5", "--size", "32", "--json", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert list(r["agents"]) == ["random", "idle", "fixed:1"] and all(len(a["returns"]) == 2 for a in r["agents"].values())
    assert "fixed:1: real" in capsys.readouterr().out
    assert main(["agents", "real", "--env", "procedural", "--agents", "nobody"]) == 2
    assert "unknown agent 'nobody'" in capsys.readouterr().err


def test_per_step_rewards_add_up_to_the_returns_and_stop_at_the_end(headed_world):
    """real_returns/world_returns(rewards=): each episode's (steps,) rewards sum to its return and
    are 0 after its end (scripts/reward_over_time.py reads them)."""
    from agents.harness import real_returns, world_returns

    class Paying:                                    # pays 1, 2, 3, ... and ends after 3 steps
        name, action_set = "procedural", make_env("procedural", size=32).action_set

        def reset(self, seed=None):
            self.t = 0
            return np.zeros((32, 32, 3), np.uint8)

        def step_native(self, a):
            self.t += 1
            return np.zeros((32, 32, 3), np.uint8), float(self.t), self.t == 3

    paid, lens = {}, {}
    out, starts = real_returns(Paying(), ["random", "idle"], episodes=2, steps=5, seed=0, progress=False,
                               rewards=paid, lengths=lens)
    assert [r.tolist() for r in paid["idle"]] == [[1.0, 2.0, 3.0, 0.0, 0.0]] * 2 and out["idle"] == [6.0, 6.0]
    world = World.from_pretrained(headed_world)
    paid, lens = {}, {}
    out = world_returns(world, ["random", "fixed:2"], starts, steps=6, seed=0, progress=False, rewards=paid,
                        lengths=lens)
    for name in out:
        for total, r, n in zip(out[name], paid[name], lens[name]):
            assert r.shape == (6,) and r.sum() == pytest.approx(total) and not r[n:].any()
