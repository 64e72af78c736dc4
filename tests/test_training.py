import json

from dynamics.train import train_dynamics
from worldmodel import World


def test_dynamics_training_resumes(recording, tmp_path, tiny_ae):
    out = tmp_path / "run"
    train_dynamics(recording, tiny_ae, out, "tiny", steps=6, batch_size=4, progress=False)
    state = json.loads((out / "train_state.json").read_text())
    assert state["step"] == 6
    # as after a kill: run again with the full budget; it continues from step 6, not from 0
    train_dynamics(recording, tiny_ae, out, "tiny", steps=10, batch_size=4, progress=False)
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert {"event": "resume", "step": 6}.items() <= next(e for e in events if e.get("event") == "resume").items()
    steps_logged = [e["step"] for e in events if "loss" in e]
    assert steps_logged.count(0) == 1, "training restarted from scratch instead of resuming"
    assert json.loads((out / "config.json").read_text())["trained_steps"] == 10
    world = World.from_pretrained(out)  # every save is a playable world
    assert world.reset().shape == (32, 32, 3)
