"""The pygame window, driven by synthetic events on SDL's dummy video driver."""
import pygame

from play import pygame_app
from worldmodel import World


class FakeKeys:
    def __init__(self, held):
        self.held = held

    def __getitem__(self, code):
        return code in self.held


def test_window_turns_keys_into_actions(tiny_world, monkeypatch):
    world = World.from_pretrained(tiny_world)
    seen = []
    real_step = world.step
    monkeypatch.setattr(world, "step", lambda a: (seen.append(a), real_step(a))[1])
    frames = iter(range(100))

    def events():
        return [pygame.event.Event(pygame.QUIT)] if next(frames) >= 4 else []

    monkeypatch.setattr(pygame.event, "get", events)
    monkeypatch.setattr(pygame.key, "get_pressed", lambda: FakeKeys({pygame.K_RIGHT, pygame.K_SPACE}))
    assert pygame_app.run_window(world, scale=2) == 0
    assert len(seen) == 4 and all(a.keys == {"right", "space"} for a in seen)


def test_keymap_is_valid_data():
    from play.keymaps import DEFAULT_KEYMAP
    from worldmodel import KEYS
    pygame.init()
    for name, key in DEFAULT_KEYMAP.items():
        assert pygame.key.key_code(name) > 0, name
        assert key in KEYS, key
