"""PlaySession: the play logic both front ends share (mark/return, pause, reset, recording)."""
import numpy as np
import pytest

from play.session import PlaySession
from worldmodel import Action, World
from worldmodel.image import ImageError

RIGHT, LEFT = Action.press("right"), Action.press("left")


def test_back_to_mark_restores_the_frame_and_the_future(tiny_world):
    s = PlaySession(World.from_pretrained(tiny_world))
    for _ in range(2):
        s.step(RIGHT)
    s.mark()
    marked = s.frame.copy()
    first = [s.step(a).copy() for a in (RIGHT, LEFT, RIGHT)]
    assert np.array_equal(s.back_to_mark(), marked)
    assert s.steps == 2
    again = [s.step(a) for a in (RIGHT, LEFT, RIGHT)]           # same actions: the same branch
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    s.back_to_mark()                                             # the mark is reusable
    other = [s.step(a) for a in (LEFT, LEFT, LEFT)]              # another way: another branch
    assert not np.array_equal(other[-1], first[-1])
    side = s.branches_side_by_side(gap=2)
    h, w = marked.shape[:2]
    assert side.shape == (4, h, 2 * w + 2, 3)
    assert np.array_equal(side[0, :, :w], marked) and np.array_equal(side[0, :, w + 2:], marked)
    assert np.array_equal(side[-1, :, :w], again[-1]) and np.array_equal(side[-1, :, w + 2:], other[-1])


def test_refusals_leave_the_session_as_it_was(tiny_world):
    s = PlaySession(World.from_pretrained(tiny_world))
    with pytest.raises(ValueError, match="no frame is marked"):
        s.back_to_mark()
    with pytest.raises(ValueError, match="no second branch"):
        s.branches_side_by_side()
    s.step(RIGHT)
    before = s.frame.copy()
    with pytest.raises(ImageError):
        s.reset(b"not an image")
    assert np.array_equal(s.frame, before) and s.steps == 1
    with pytest.raises(ValueError, match="steps"):
        s.set_sampling(steps=0)
    with pytest.raises(ValueError, match="finite"):
        s.set_sampling(guidance_scale=float("nan"))
    assert s.world.steps == 2 and s.world.guidance_scale == 1.5
    with pytest.raises(ValueError, match="not a distilled student"):
        s.set_fast(False)
    s.step(RIGHT)                                                # and it plays on


def test_pause_reset_history_and_recording(tiny_world, tmp_path):
    import av
    s = PlaySession(World.from_pretrained(tiny_world), max_recorded=5)
    start = s.frame.copy()
    s.start_recording()
    s.step(RIGHT)
    s.paused = True
    assert s.step(RIGHT) is s.frame and s.steps == 1            # paused: no new frame, nothing recorded
    s.paused = False
    for _ in range(6):
        s.step(LEFT)
    assert len(s.history) == 5 and s.truncated                  # bounded memory, oldest dropped
    assert [a for a, _ in s.history] == [LEFT] * 5
    frames = s.stop_recording()
    assert len(frames) == 5 and np.array_equal(frames[-1], s.frame)
    out = s.write_recording(tmp_path / "r.mp4", frames, scale=1)
    with av.open(str(out)) as f:
        assert sum(1 for _ in f.decode(video=0)) == 5
    assert np.array_equal(s.reset(), start) and s.steps == 0 and s.history[0][0] is None
    stats = s.stats()
    assert stats["frame"] == 0 and not stats["recording"] and "frames/s" in s.status_line()
