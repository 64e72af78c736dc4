"""Scripted agents: deterministic, valid native actions, and the heuristics read the frame."""
import json

import numpy as np
import pytest

from agents.policies import make_agent, native_index
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
