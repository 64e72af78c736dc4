"""The pygame window, driven by synthetic key and mouse events on SDL's dummy video driver."""
import av
import numpy as np
import pygame
import pytest

from play import pygame_app
from worldmodel import Action, World


def key(kind, k):
    return pygame.event.Event(kind, key=k, mod=0, unicode="", scancode=0)


def down(k):
    return key(pygame.KEYDOWN, k)


def up(k):
    return key(pygame.KEYUP, k)


def run_script(world, script, monkeypatch, **kw):
    """Run the window with one list of events per frame; returns (frames drawn, actions stepped)."""
    shown, acted = [], []
    real_draw, real_step = pygame_app.Window.draw, pygame_app.PlaySession.step
    monkeypatch.setattr(pygame_app.Window, "draw", lambda self, f: (shown.append(f.copy()), real_draw(self, f))[1])
    monkeypatch.setattr(pygame_app.PlaySession, "step",
                        lambda self, a: (acted.append(a) if not self.paused else None, real_step(self, a))[1])
    frames = iter(script)
    monkeypatch.setattr(pygame.event, "get", lambda: next(frames, [pygame.event.Event(pygame.QUIT)]))
    assert pygame_app.run_window(world, scale=2, fps=0, **kw) == 0
    return shown, acted


def test_keys_mark_return_and_recording(tiny_world, monkeypatch, tmp_path):
    world = World.from_pretrained(tiny_world)
    shown, acted = run_script(world, [
        [down(pygame.K_F2)],                         # 0: record from the start frame, shown first
        [down(pygame.K_RIGHT)],                      # 1, 2: right held
        [],
        [down(pygame.K_F5)],                         # 3: mark the frame on screen, step on (right)
        [up(pygame.K_RIGHT), down(pygame.K_SPACE)],  # 4: space
        [up(pygame.K_SPACE), down(pygame.K_F9)],     # 5: back to the mark: that frame is shown again
        [down(pygame.K_RIGHT)],                      # 6: right from the mark again
        [up(pygame.K_RIGHT), down(pygame.K_F2)],     # 7: stop recording (writes the clip), step idle
    ], monkeypatch, record_dir=tmp_path)
    assert [a.keys for a in acted] == [{"right"}] * 3 + [{"space"}, {"right"}, set()]
    assert np.array_equal(shown[5], shown[2])        # F9 shows the marked frame exactly
    assert np.array_equal(shown[6], shown[3])        # and the same key from there gives the same frame

    # keys change the world: replaying the same actions gives the same frames, idle does not
    replay = World.from_pretrained(tiny_world)
    assert np.array_equal(replay.reset(), shown[0])
    same = [replay.step(a) for a in acted[:4]]
    assert all(np.array_equal(x, y) for x, y in zip(same, shown[1:5]))
    idle = World.from_pretrained(tiny_world)
    idle.reset()
    idle_frames = [idle.step(Action()) for _ in range(3)]
    assert np.abs(idle_frames[2].astype(int) - shown[3].astype(int)).mean() > 1.0

    # the recording holds exactly the frames shown from F2 to F2
    (clip,) = tmp_path.glob("worldmodel-*.mp4")
    with av.open(str(clip)) as f:
        got = [fr.to_ndarray(format="rgb24")[::4, ::4] for fr in f.decode(video=0)]  # written at scale 4
    want = shown[0:7]                                # start .. the frame before the second F2
    assert len(got) == len(want)
    mse = np.mean([(g.astype(float) - w) ** 2 for g, w in zip(got, want)])
    assert 10 * np.log10(255 ** 2 / mse) > 30


def test_help_pause_reset_and_switch_messages(tiny_world, monkeypatch):
    world = World.from_pretrained(tiny_world)
    helps = []
    real_help = pygame_app.Window.draw_help
    monkeypatch.setattr(pygame_app.Window, "draw_help", lambda self: (helps.append(1), real_help(self))[1])
    said = []
    real_say = pygame_app.Window.say
    monkeypatch.setattr(pygame_app.Window, "say", lambda self, t, *a: (said.append(t), real_say(self, t, *a))[1])
    shown, acted = run_script(world, [
        [down(pygame.K_h)], [], [down(pygame.K_h)],  # help on for 2 frames, then off
        [down(pygame.K_p)], [], [down(pygame.K_p)],  # paused: no steps
        [down(pygame.K_F9)],                          # return with no mark: a message, no crash
        [down(pygame.K_t)],                           # no student/teacher pair: a message
        [down(pygame.K_BACKSPACE)],                   # reset: the start frame again
        [down(pygame.K_ESCAPE)],                      # mouse not captured here: Esc quits
        [down(pygame.K_RIGHT)],                       # never reached
    ], monkeypatch)
    assert len(helps) == 2
    assert len(acted) == 5                            # frames 1, 2, then paused for 3-4, then 5, 6, 7
    assert any("no frame is marked" in t for t in said) and any("no student/teacher" in t for t in said)
    assert np.array_equal(shown[-1], shown[0])        # after Backspace: the start frame
    assert len(shown) == 9                            # Esc quit before the last scripted frame


def test_first_person_mouse_is_captured_and_turns(monkeypatch):
    world = World.from_pretrained("doom")             # first-person: its actions turn with the mouse
    captures = []
    real_capture = pygame_app.Window.capture
    monkeypatch.setattr(pygame_app.Window, "capture", lambda self, on: (captures.append(on), real_capture(self, on))[1])
    motion = pygame.event.Event(pygame.MOUSEMOTION, rel=(24, -8), pos=(0, 0), buttons=(0, 0, 0))
    click = pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(0, 0))
    shown, acted = run_script(world, [
        [],                                           # the start frame is shown
        [motion],                                     # captured from the start: turns
        [click],                                      # fires
        [pygame.event.Event(pygame.MOUSEBUTTONUP, button=1, pos=(0, 0)), down(pygame.K_ESCAPE)],  # releases
        [motion],                                     # released: motion does not turn
        [click],                                      # the click captures again (no shot)
        [down(pygame.K_ESCAPE)], [down(pygame.K_ESCAPE)],
    ], monkeypatch)
    assert captures == [True, False, True, False]
    assert (acted[0].mouse_dx, acted[0].mouse_dy) == (12.0, -4.0)   # screen pixels / scale 2
    assert acted[1].buttons == {"left"} and acted[2].buttons == set()
    assert acted[3].mouse_dx == 0 and acted[4].buttons == set()
    assert len(acted) == 6


def test_keymaps_are_valid_data():
    from play.keymaps import BINDINGS, CONTROL_KEYS, TOUCH_BUTTONS, pygame_keymap
    from worldmodel import KEYS
    pygame.init()
    for name, k in pygame_keymap({}).items():
        assert pygame.key.key_code(name) > 0, name
        assert k in KEYS, k
    assert {k for k, _, _ in BINDINGS} == set(KEYS)               # every key of the vocabulary is reachable
    for name in CONTROL_KEYS:                                      # the window's keys never shadow the world's
        assert pygame.key.key_code(name) > 0 and name not in pygame_keymap({})
    assert len({c for _, c in TOUCH_BUTTONS}) == len(TOUCH_BUTTONS)


@pytest.mark.parametrize("argv, message", [
    (["play", "--checkpoint", "no-such-world", "--headless"], "no checkpoint folder or shipped world named"),
    (["play", "--record", "x.avi"], "--record must end in .mp4"),
    (["play", "--fps", "-1"], "--fps must be a number >= 0"),
    (["play", "--image", "no-such-image.png", "--headless"], "image not found"),
    pytest.param(["play", "--device", "cuda", "--headless"], "no usable CUDA GPU",
                 marks=pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is here")),
])
def test_play_command_line_refusals(argv, message, capsys, monkeypatch):
    from worldmodel.cli import main
    monkeypatch.setattr(pygame_app, "run_window", lambda *a, **k: pytest.fail("must not open a window"))
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
