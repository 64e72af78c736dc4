"""`worldmodel train`: one command from a game to a playable, evaluated world, resumable."""
import json

import pytest

from worldmodel import World
from worldmodel import pipeline
from worldmodel.eval_report import player_summary


def test_train_world_runs_every_stage_resumes_and_plays(tmp_path, monkeypatch):
    out = tmp_path / "world"
    said = []

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed in the dynamics stage")

    monkeypatch.setattr(pipeline, "train_dynamics", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.train_world("procedural", out, 0.005, size=32, say=said.append)
    state = json.loads((out / "pipeline.json").read_text())
    assert set(state["stages"]) == {"record", "autoencoder"} and state["seconds_per_step"] > 0
    assert "steps of batch" in said[0]                          # the plan says what the budget buys
    recorded = (out / "work" / "data" / "meta.json").stat().st_mtime_ns
    monkeypatch.undo()

    said.clear()
    m = pipeline.train_world("procedural", out, 0.005, size=32, say=said.append)
    assert not any(s.startswith("[1/6] record") for s in said)   # finished stages are not redone
    assert (out / "work" / "data" / "meta.json").stat().st_mtime_ns == recorded
    state = json.loads((out / "pipeline.json").read_text())
    assert set(state["stages"]) == set(pipeline.STAGES)
    assert state["stages"]["heads"]["skipped"]                   # the procedural game has no reward
    assert (out / "eval" / "metrics.json").is_file() and (out / "eval" / "report.md").is_file()
    card = (out / "MODEL_CARD.md").read_text()
    assert "`worldmodel train --env procedural --hours 0.005 --size 32 --policy sticky`:" in card   # rerunnable
    assert "What a player will feel" in card and ("follows the keys" in card or "ignores its keys" in card)
    ae = state["stages"]["autoencoder"]                          # the card says what it ran on and how wide
    assert f"{ae['latent_channels']} latent channels" in card and f"{ae['copy_last_psnr']:.2f} dB" in card
    assert f"Trained on {state['machine']['cpu']} ({state['machine']['cpu_count']} CPU cores)" in card
    assert not (out / "latents.safetensors").exists() and not (out / "train_state.json").exists()

    world = World.from_pretrained(out, device="cpu")             # `worldmodel play OUT` opens this
    config = json.loads((out / "config.json").read_text())
    assert config["dynamics"]["arch"] == "unet" and config["diffusion"]["sigma_max"] == 20.0   # the campaign's recipe
    assert config["diffusion"]["loss_frames"] == "last"
    # OUT is a one-step student of the dynamics sampled in 10 steps at guidance 2, its teacher inside
    assert world.fast is True and world.steps == 1
    assert not state["stages"]["distill"].get("skipped")
    teacher = json.loads((out / "teacher" / "config.json").read_text())
    assert teacher["sampling"]["steps"] == 10 and teacher["sampling"]["guidance_scale"] == 2.0
    assert config["distilled"]["teacher_steps"] == 10 and config["distilled"]["guidance"] == 2.0
    world.set_fast(False)                                        # the slow path plays too
    assert world.steps == 10 and world.guidance_scale == 2.0
    assert world.reset().shape == (32, 32, 3)

    said.clear()                                                 # a finished run only reports
    assert pipeline.train_world("procedural", out, 0.005, size=32, say=said.append) == m
    assert "finished" in said[-1]


def test_a_resumed_training_stage_counts_the_training_time_of_all_its_runs(tmp_path):
    # the card's minutes for a stage killed and resumed: the log's last `done` counts every run
    assert pipeline.training_seconds(tmp_path) == 0.0              # no log: nothing logged
    lines = [{"event": "resume", "step": 0, "train_seconds": 0.0}, {"event": "done", "step": 5, "train_seconds": 60.0},
             {"event": "resume", "step": 5, "train_seconds": 60.0}, {"event": "done", "step": 9, "train_seconds": 95.5}]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + '\n{"event": "do')   # cut by a kill
    assert pipeline.training_seconds(tmp_path) == 95.5


def test_train_world_refuses_other_settings_and_foreign_folders(tmp_path):
    out = tmp_path / "w"
    out.mkdir()
    (out / "pipeline.json").write_text(json.dumps({"plan": pipeline.plan_training("procedural", 0.5, 32),
                                                   "stages": {}}))
    with pytest.raises(ValueError, match="resume it with the same settings"):
        pipeline.train_world("procedural", out, 1.0, size=32)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        pipeline.train_world("procedural", other, 0.5, size=32)
    assert (other / "notes.txt").read_text() == "mine"
    from agents.policies import recording_policy
    with pytest.raises(ValueError, match="unknown policy 'bogus'"):
        pipeline.train_world("procedural", tmp_path / "bad-policy", 0.5, size=32, policy="bogus")
    with pytest.raises(ValueError, match="unknown policy 'explore:nobody'"):
        pipeline.train_world("procedural", tmp_path / "bad-policy", 0.5, size=32, policy="explore:nobody",
                             policies=recording_policy)
    assert not (tmp_path / "bad-policy").exists()              # nothing saved that a rerun would refuse
    with pytest.raises(ValueError, match="differs in --policy\\)"):
        pipeline.train_world("procedural", out, 0.5, size=32, policy="explore:random", policies=recording_policy)
    with pytest.raises(ValueError, match=r"--policy sticky \(this command differs in --clock\)"):
        pipeline.train_world("procedural", out, 0.5, size=32, clock=True)   # nor with or without the clock
    clocked = tmp_path / "clocked"
    clocked.mkdir()
    (clocked / "pipeline.json").write_text(json.dumps({"plan": pipeline.plan_training("procedural", 0.5, 32, clock=True),
                                                       "stages": {}}))
    with pytest.raises(ValueError, match=r"--policy sticky --clock \(this command differs in --clock\)"):
        pipeline.train_world("procedural", clocked, 0.5, size=32)
    with pytest.raises(ValueError, match="--hours"):
        pipeline.plan_training("procedural", 0.0)
    with pytest.raises(ValueError, match="--size"):
        pipeline.plan_training("procedural", 1.0, size=48)


def _stop_at_dynamics(monkeypatch, seen: dict | None = None) -> None:
    """`train_world` stops where the dynamics would train (noting what it was asked to train)."""
    def stop(*args, **kwargs):
        (seen if seen is not None else {}).update(kwargs)
        raise KeyboardInterrupt("stopped at the dynamics stage")

    monkeypatch.setattr(pipeline, "train_dynamics", stop)


def test_train_world_with_clock_trains_dynamics_that_read_the_episode_step(tmp_path, monkeypatch):
    seen = {}
    _stop_at_dynamics(monkeypatch, seen)
    with pytest.raises(KeyboardInterrupt):
        pipeline.train_world("procedural", tmp_path / "w", 0.005, size=32, clock=True, say=lambda s: None)
    assert seen["overrides"] == {"model": {"clock": True}}
    assert json.loads((tmp_path / "w" / "pipeline.json").read_text())["plan"]["clock"] is True
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        pipeline.train_world("procedural", tmp_path / "plain", 0.005, size=32, say=lambda s: None)
    assert seen["overrides"] is None
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        pipeline.train_world("procedural", tmp_path / "sal", 0.005, size=32, clock=True, salience=10, say=lambda s: None)
    assert seen["overrides"] == {"model": {"clock": True}, "diffusion": {"salience_weight": 10.0}}
    plan = json.loads((tmp_path / "sal" / "pipeline.json").read_text())["plan"]
    assert "--clock --salience-weight 10" in pipeline.command_line(plan)
    with pytest.raises(ValueError, match=r"differs in --salience-weight\)"):   # a resume must not change the loss
        pipeline.train_world("procedural", tmp_path / "sal", 0.005, size=32, clock=True, say=lambda s: None)
    with pytest.raises(ValueError, match="--salience-weight must be >= 0"):
        pipeline.plan_training("procedural", 1.0, salience=-1)


def test_train_world_with_latents_fits_that_wide_an_autoencoder(tmp_path, monkeypatch):
    _stop_at_dynamics(monkeypatch)
    out = tmp_path / "w"
    with pytest.raises(KeyboardInterrupt):
        pipeline.train_world("procedural", out, 0.005, size=32, latents=8, say=lambda s: None)
    state = json.loads((out / "pipeline.json").read_text())
    assert state["plan"]["latents"] == 8
    assert state["stages"]["autoencoder"]["latent_channels"] == 8       # not widened against copy-last
    from worldmodel.world_checkpoint import load_autoencoder
    assert load_autoencoder(out / "work" / "autoencoder").config.latent_channels == 8
    with pytest.raises(ValueError, match=r"--policy sticky --latents 8 \(this command differs in --latents\)"):
        pipeline.train_world("procedural", out, 0.005, size=32, say=lambda s: None)
    assert "--latents 8" in pipeline.command_line(state["plan"])
    for bad in (0, 49):
        with pytest.raises(ValueError, match="--latents must be in 1..48"):
            pipeline.plan_training("procedural", 1.0, latents=bad)


def test_train_world_with_latent_norm_channel_whitens_the_autoencoder(tmp_path, monkeypatch):
    _stop_at_dynamics(monkeypatch)
    out = tmp_path / "w"
    with pytest.raises(KeyboardInterrupt):
        pipeline.train_world("procedural", out, 0.005, size=32, latents=8, latent_norm="channel", say=lambda s: None)
    state = json.loads((out / "pipeline.json").read_text())
    from worldmodel.world_checkpoint import load_autoencoder
    ae = load_autoencoder(out / "work" / "autoencoder")
    assert ae.config.latent_norm == "channel" and len(set(ae.latent_std.tolist())) == 8   # a std per channel
    assert "--latents 8 --latent-norm channel" in pipeline.command_line(state["plan"])
    with pytest.raises(ValueError, match=r"differs in --latent-norm\)"):   # a resume must not change the latents
        pipeline.train_world("procedural", out, 0.005, size=32, latents=8, say=lambda s: None)
    with pytest.raises(ValueError, match="--latent-norm must be one of shared, channel"):
        pipeline.plan_training("procedural", 1.0, latent_norm="pixel")


def _metrics(dpsnr4, psnr1, copy1, sharp16, collapsed):
    return {"dpsnr": {"4": dpsnr4, "16": dpsnr4}, "psnr": {"1": psnr1, "4": 20.0, "16": 19.0},
            "psnr_copy_last": {"1": copy1, "4": 19.0, "16": 18.0}, "psnr_counterfactual": {"4": 19.5},
            "sharpness": {"1": 0.9, "4": 0.8, "16": sharp16}, "action_gap": {"1": {"gap_pct": 40.0}},
            "stability": {"frames": 900, "finite": True, "collapsed": collapsed}}


def test_player_summary_says_plainly_what_a_player_feels():
    good = player_summary(_metrics(2.5, 26.0, 25.0, 0.8, False))
    assert all(line.startswith("- **yes**") for line in good) and len(good) == 4
    bad = player_summary(_metrics(0.02, 22.0, 25.0, 0.1, True))
    assert bad[0].startswith("- **NO**") and "ignores its keys" in bad[0]
    assert "blur" in bad[2] and "does not last" in bad[3] and "what to try" in bad[-1]
    assert "--hours" not in bad[-1]         # a shipped world was not made by `worldmodel train`
    assert "--hours" in player_summary(_metrics(0.02, 22.0, 25.0, 0.1, True), more=pipeline.TRAIN_MORE)[-1]
    weak = player_summary(_metrics(0.5, 26.0, 25.0, 0.5, False))
    assert weak[0].startswith("- **weak**") and "softer" in weak[2]
    red = player_summary(_metrics(0.02, 22.0, 25.0, 0.1, True), colour=True)
    assert red[0].startswith("\033[31m")
    # above copy-last, but as a blur: PSNR rewards the mean of the possible frames, so not "predicts"
    soup = _metrics(0.6, 25.2, 23.1, 0.1, True)
    soup["sharpness"]["1"] = 0.13
    line = player_summary(soup)[1]
    assert line.startswith("- **weak**") and "only as a blur" in line and "0.13" in line


def test_the_autoencoder_is_widened_until_it_clears_copy_last(recording, tmp_path):
    """No world's next frame beats its autoencoder's reconstruction, so the pipeline widens the
    patch PCA until that stands AE_MARGIN_DB above copy-last@1; a wider PCA reconstructs better."""
    from worldmodel.data import load_episodes, split_episodes
    from worldmodel.metrics import mean_psnr
    from worldmodel.train.autoencoder import train_autoencoder

    tried = []

    def fake(width, psnr={16: 30.0, 24: 34.0, 32: 40.0}):
        tried.append(width)
        return {"val_psnr": psnr[width]}
    assert pipeline.fit_wide_enough(fake, 26.0) == (16, {"val_psnr": 30.0}) and tried == [16]
    tried.clear()
    assert pipeline.fit_wide_enough(fake, 30.5)[0] == 24 and tried == [16, 24]
    assert pipeline.fit_wide_enough(fake, 39.0)[0] == 32                  # none clears it: the widest

    narrow = train_autoencoder(recording, tmp_path / "a8", "pca-tiny", latent_channels=8, progress=False)
    wide = train_autoencoder(recording, tmp_path / "a24", "pca-tiny", latent_channels=24, progress=False)
    assert wide["val_psnr"] > narrow["val_psnr"] + 1.0
    assert json.loads((tmp_path / "a24" / "config.json").read_text())["autoencoder"]["latent_channels"] == 24
    with pytest.raises(ValueError, match="latent_channels must be 1..48"):
        train_autoencoder(recording, tmp_path / "bad", "pca-tiny", latent_channels=49, progress=False)

    _, eps = load_episodes(recording, progress=False)
    _, val = split_episodes(len(eps), seed=0)
    expect = mean_psnr(eps[val[0]].frames[1:], eps[val[0]].frames[:-1]) if len(val) == 1 else None
    got = pipeline.copy_last_psnr(recording)
    assert 10 < got < 60 and (expect is None or abs(got - expect) < 1e-6)
