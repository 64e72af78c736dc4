import json
import os
import pickle

import numpy as np
import pytest
import torch

from worldmodel import Action, World
from worldmodel.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_save_load_gives_identical_outputs(tiny_world, tmp_path):
    w1 = World.from_pretrained(tiny_world, seed=5)
    a = w1.reset()
    frames1 = [w1.step(Action.press(k)) for k in ("up", "left", "space")]
    # re-save the loaded world elsewhere and load again
    from worldmodel.world_checkpoint import save_world
    copy = save_world(tmp_path / "copy", w1.config, w1.autoencoder, w1.denoiser)
    w2 = World.from_pretrained(copy, seed=5)
    assert np.array_equal(w2.reset(a), a)
    frames2 = [w2.step(Action.press(k)) for k in ("up", "left", "space")]
    for f1, f2 in zip(frames1, frames2):
        assert np.array_equal(f1, f2)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['EVIL_MARKER']}",))


def test_pickle_is_refused_without_running(tiny_world, tmp_path, monkeypatch):
    import shutil
    bad = tmp_path / "evil"
    shutil.copytree(tiny_world, bad)
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    (bad / "pytorch_model.bin").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError, match="pickle"):
        World.from_pretrained(bad)
    assert not marker.exists(), "loading must never unpickle"
    # and a folder that holds only pickle weights is refused the same way
    for f in bad.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(bad)
    assert not marker.exists()


def test_missing_corrupt_and_mismatched(tiny_world, tmp_path):
    import shutil
    with pytest.raises(CheckpointError, match="not found"):
        World.from_pretrained(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no checkpoint folder or shipped world"):
        World.from_pretrained("no-such-world")
    bad = tmp_path / "bad"
    shutil.copytree(tiny_world, bad)
    w = next(bad.glob("*.safetensors"))
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        World.from_pretrained(bad)
    shutil.rmtree(bad)
    shutil.copytree(tiny_world, bad)
    (bad / "config.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        World.from_pretrained(bad)
    cfg = json.loads((tiny_world / "config.json").read_text())
    cfg["dynamics"]["dim"] = 48
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not fit|shape mismatch"):
        World.from_pretrained(bad)
    (bad / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        World.from_pretrained(bad)


def test_sharding_and_fp16(tmp_path):
    t = {"a": torch.randn(300, 1000), "b": torch.randn(300, 1000), "i": torch.arange(5)}
    save_checkpoint(tmp_path / "c", {"kind": "x"}, t, half=True, shard_mib=1.0)
    files = sorted(p.name for p in (tmp_path / "c").glob("*.safetensors"))
    assert len(files) == 2 and files[0].startswith("model-00001-of-00002")
    cfg, back = load_checkpoint(tmp_path / "c")
    assert back["a"].dtype == torch.float16 and back["i"].dtype == torch.int64
    assert torch.allclose(back["a"].float(), t["a"], atol=1e-2)
