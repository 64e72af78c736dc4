import json

from worldmodel.train.dynamics import train_dynamics
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


def test_fine_tune_starts_from_the_given_world(recording, tmp_path, tiny_ae):
    import pytest
    import torch
    from worldmodel.train.dynamics import init_from_world
    from worldmodel.world_checkpoint import load_world_parts
    first = train_dynamics(recording, tiny_ae, tmp_path / "a", "tiny", steps=4, batch_size=4, progress=False)
    # learning rate 0: a fine-tuned run that really starts from `first` saves exactly its weights
    second = train_dynamics(recording, tiny_ae, tmp_path / "b", "tiny", steps=2, batch_size=4, progress=False,
                            init=first, overrides={"lr": 0.0})
    a, b = load_world_parts(first)[2].net.state_dict(), load_world_parts(second)[2].net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    scratch = load_world_parts(train_dynamics(recording, tiny_ae, tmp_path / "c", "tiny", steps=2, batch_size=4,
                                              progress=False, overrides={"lr": 0.0}))[2].net.state_dict()
    assert not all(torch.equal(a[k], scratch[k]) for k in a)       # (the check above can fail)
    assert json.loads((second / "config.json").read_text())["train"]["init"] == str(first)
    net = load_world_parts(first)[2].net
    _, other_ae, _ = load_world_parts(first)
    with torch.no_grad():
        next(iter(other_ae.state_dict().values())).add_(1.0)        # (PCA autoencoders hold buffers only)
    with pytest.raises(ValueError, match="another autoencoder"):
        init_from_world(net, first, net.config, other_ae)


def test_resumed_run_keeps_its_loss_settings(recording, tmp_path, tiny_ae):
    out = tmp_path / "run"
    train_dynamics(recording, tiny_ae, out, "tiny", steps=3, batch_size=4, progress=False,
                   overrides={"lr": 1e-4, "diffusion": {"loss_frames": "last", "motion_weight": 2.0}})
    train_dynamics(recording, tiny_ae, out, "tiny", steps=5, batch_size=4, progress=False)   # restarted bare
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["trained_steps"] == 5 and cfg["train"]["lr"] == 1e-4
    assert cfg["diffusion"]["loss_frames"] == "last" and cfg["diffusion"]["motion_weight"] == 2.0
    # the one-step action gap works on a world with a PCA autoencoder (buffers, no parameters)
    from worldmodel.data import load_episodes
    from worldmodel.evaluate import action_gap
    gap = action_gap(World.from_pretrained(out, device="cpu"), load_episodes(recording)[1], clips=8)
    assert all(v["mse"] > 0 and abs(v["gap_pct"]) < 1e6 for v in gap.values())


def test_train_dynamics_loss_flags(tmp_path, capsys):
    from worldmodel.cli import _diffusion_overrides, build_parser, main
    base = ["train-dynamics", "--data", "d", "--autoencoder", "a", "--out", str(tmp_path / "o")]
    args = build_parser().parse_args(base + ["--loss-frames", "last", "--clean-context", "1", "--motion-weight", "3",
                                             "--lr", "2e-4", "--init", "w"])
    assert _diffusion_overrides(args) == {"loss_frames": "last", "p_clean_context": 1.0, "motion_weight": 3.0}
    assert args.lr == 2e-4 and args.init == "w"
    assert _diffusion_overrides(build_parser().parse_args(base)) == {}
    assert main(base + ["--clean-context", "2"]) == 2
    assert "p_clean_context must be in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()                             # refused before creating anything


def test_training_on_branches_with_a_learning_curve(tmp_path, tiny_ae):
    """Branches of the training episodes join the training windows (each window ends on a frame of
    its branch, never inside the past it shares with its episode); --eval-every writes eval events
    that `worldmodel curves` plots."""
    import numpy as np
    from worldmodel.data import LatentClips
    from worldmodel.train.dynamics import training_sequences
    from worldmodel.cli import main
    from worldmodel.data import BranchConfig, load_episodes, record, split_episodes
    from worldmodel.envs import make_env
    from worldmodel.evaluate import training_probe
    data = tmp_path / "data"
    record(make_env("procedural", size=32), data, episodes=6, steps=16, policy="sticky", seed=5, progress=False,
           branches=BranchConfig(points=2, actions=2, steps=3, past=5))
    meta, eps = load_episodes(data)
    train, val = split_episodes(len(eps))
    seqs, min_end, names, _ = training_sequences(data, meta, eps, train)
    assert names[:len(train)] == [meta["episodes"][i]["name"] for i in train] and names[-1].startswith("br_")
    assert len(seqs) == len(train) + 2 * 2 * len(train) and min_end[-1] == 5
    from worldmodel.data import load_branches
    trained_on = [b for b, _ in load_branches(data, parents=train)]
    assert trained_on and all(b["parent"] in train for b in trained_on)       # no held-out episode's branch
    assert all(b["parent"] in val for b, _ in load_branches(data) if b not in trained_on)
    clips = LatentClips([np.zeros((len(s), 1)) for s in seqs], seqs, list(range(len(seqs))), 4, min_end=min_end)
    branch_rows = clips.index[clips.index[:, 0] >= len(train)]
    assert len(branch_rows) == 4 * len(train) * 3 and (branch_rows[:, 1] + 3 >= 5).all()

    out = train_dynamics(data, tiny_ae, tmp_path / "run", "tiny", steps=6, batch_size=4, progress=False,
                         evaluate=training_probe(data, rollouts=4, clips=16), eval_every=60.0)
    assert json.loads((out / "config.json").read_text())["train"]["train_branches"] == 4 * len(train)
    evals = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if '"eval"' in x]
    assert [e["step"] for e in evals] == [0, 6]                   # at the start and at the end
    for key in ("gap_pct", "branch_gap_pct", "psnr1", "copy_last1", "dpsnr4", "sharpness4", "train_minutes"):
        assert key in evals[-1], key
    assert main(["curves", str(out), "--out", str(tmp_path / "c.png"), "--x", "steps"]) == 0
    assert (tmp_path / "c.png").stat().st_size > 0
    plain = train_dynamics(data, tiny_ae, tmp_path / "plain", "tiny", steps=2, batch_size=4, progress=False,
                           branches=False)
    assert json.loads((plain / "config.json").read_text())["train"]["train_branches"] == 0


def test_curves_chain_runs_that_continue_one_another(tmp_path):
    """NAME=RUN1,RUN2 draws a campaign resumed into new run folders as one line: the second run's
    minutes and steps start where the first ended."""
    from worldmodel.curves import parse_run, plot_curves
    for name, dp in (("a", (0.5, 0.9)), ("b", (0.9, 1.2))):
        (tmp_path / name).mkdir()
        rows = [{"event": "eval", "step": st, "train_minutes": m, "gap_pct": {"1": 1.0}, "psnr1": 24.0,
                 "copy_last1": 23.0, "dpsnr4": d} for st, m, d in ((0, 0.0, dp[0]), (100, 10.0, dp[1]))]
        rows.insert(1, {"step": 50, "loss": 0.3, "train_minutes": 5.0})
        (tmp_path / name / "log.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    name, c = parse_run(f"unet={tmp_path / 'a'},{tmp_path / 'b'}")
    assert name == "unet"
    assert [(e["train_minutes"], e["step"], e["dpsnr4"]) for e in c["eval"]] == \
        [(0.0, 0, 0.5), (10.0, 100, 0.9), (10.0, 100, 0.9), (20.0, 200, 1.2)]
    assert [(m, st) for m, _, st in c["loss"]] == [(5.0, 50), (15.0, 150)]
    assert parse_run(str(tmp_path / "a"))[1]["eval"][-1]["train_minutes"] == 10.0   # a plain folder stays one run
    table = plot_curves([f"unet={tmp_path / 'a'},{tmp_path / 'b'}", tmp_path / "a"], tmp_path / "c.png")
    assert "| unet | 200 | 20.0 |" in table and "| a | 100 | 10.0 |" in table


def test_resume_keeps_settings_budget_and_both_optimizers(recording, tmp_path, tiny_ae):
    """A killed Muon run resumes with both optimizer states, its settings and its training time;
    resuming with another seed (another train/held-out split) or network is refused."""
    import pytest
    out = tmp_path / "run"
    train_dynamics(recording, tiny_ae, out, "tiny", steps=4, batch_size=4, progress=False, seed=3,
                   overrides={"optimizer": "muon", "model": {"conv_width": 8}, "diffusion": {"p_mean": 0.4}},
                   precision="fp32")
    assert (out / "optimizer.safetensors").is_file() and (out / "optimizer1.safetensors").is_file()
    state = json.loads((out / "train_state.json").read_text())
    assert state["settings"]["seed"] == 3 and state["settings"]["precision"] == "fp32"
    assert state["train_seconds"] > 0
    with pytest.raises(ValueError, match="seed"):
        train_dynamics(recording, tiny_ae, out, "tiny", steps=6, batch_size=4, progress=False, seed=4)
    with pytest.raises(ValueError, match="network"):
        train_dynamics(recording, tiny_ae, out, "tiny", steps=6, batch_size=4, progress=False, seed=3,
                       overrides={"model": {"conv_width": 16}})
    # a partial override keeps the rest of the saved settings
    train_dynamics(recording, tiny_ae, out, "tiny", steps=6, progress=False, seed=3,
                   overrides={"diffusion": {"p_uncond": 0.0}})
    config = json.loads((out / "config.json").read_text())
    assert config["dynamics"]["conv_width"] == 8 and config["train"]["optimizer"] == "muon"
    assert config["diffusion"]["p_mean"] == 0.4 and config["diffusion"]["p_uncond"] == 0.0
    assert config["train"]["batch_size"] == 4 and config["train"]["precision"] == "fp32"
    later = json.loads((out / "train_state.json").read_text())
    assert later["step"] == 6 and later["train_seconds"] >= state["train_seconds"]
