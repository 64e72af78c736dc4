"""The pygame window: keys and mouse -> Action -> PlaySession -> screen. Thin on purpose: what a
key does lives in keymaps.py (data) and session.py (behaviour)."""
from __future__ import annotations

import time
from pathlib import Path

from worldmodel import Action

from .keymaps import CONTROL_KEYS, help_lines, pygame_keymap, uses_mouse
from .session import PlaySession

BAR = 24  # pixels of the status line under the frame


class Window:
    """State of the window between frames: held keys, mouse, overlay, messages."""

    def __init__(self, session: PlaySession, scale: int, record_dir: Path):
        import pygame
        self.pg, self.session, self.scale, self.record_dir = pygame, session, scale, Path(record_dir)
        world = session.world
        self.keymap = pygame_keymap(world.config)
        self.first_person = uses_mouse(world.action_set)
        self.help_text = help_lines(world.config, world.action_set)
        self.held: set[str] = set()              # Action keys held, from KEYDOWN/KEYUP events
        self.buttons: set[str] = set()
        self.dx = self.dy = 0.0                  # mouse motion since the last frame, screen pixels
        self.show_help = False
        self.captured = False
        self.running = True
        self.jumped = True                       # reset/return (and the start): show that frame first
        self.message, self.message_until = "", 0.0
        h, w = world.resolution
        self.size = (w * scale, h * scale)
        self.screen = pygame.display.set_mode((self.size[0], self.size[1] + BAR))
        pygame.display.set_caption("worldmodel - H shows the keys")
        self.font = pygame.font.Font(None, 22)
        if self.first_person:
            self.capture(True)
        self.say("H: help" + ("   mouse turns; Esc releases it" if self.first_person else ""))

    # ----- input --------------------------------------------------------------------------
    def handle(self, ev) -> None:
        pg = self.pg
        if ev.type == pg.QUIT:
            self.running = False
        elif ev.type == pg.WINDOWFOCUSLOST:
            self.held.clear()                    # keys released elsewhere never send KEYUP here
            self.buttons.clear()
        elif ev.type == pg.KEYDOWN:
            name = pg.key.name(ev.key)
            if name in CONTROL_KEYS:
                self.control(name)
            elif name in self.keymap:
                self.held.add(self.keymap[name])
        elif ev.type == pg.KEYUP:
            name = pg.key.name(ev.key)
            if name in self.keymap:
                self.held.discard(self.keymap[name])
        elif ev.type == pg.MOUSEMOTION:
            if self.captured or not self.first_person:
                self.dx += ev.rel[0]
                self.dy += ev.rel[1]
        elif ev.type == pg.MOUSEBUTTONDOWN:
            if self.first_person and not self.captured:
                self.capture(True)               # the click that captures the mouse is not a shot
            elif ev.button in (1, 3):
                self.buttons.add("left" if ev.button == 1 else "right")
        elif ev.type == pg.MOUSEBUTTONUP and ev.button in (1, 3):
            self.buttons.discard("left" if ev.button == 1 else "right")

    def control(self, name: str) -> None:
        s = self.session
        try:
            if name == "escape":
                if self.captured:
                    self.capture(False)
                else:
                    self.running = False
            elif name == "h":
                self.show_help = not self.show_help
            elif name == "p":
                s.paused = not s.paused
            elif name == "backspace":
                s.reset()
                self.jumped = True
                self.say("reset to the start image")
            elif name == "f5":
                s.mark()
                self.say("marked this frame: F9 returns here")
            elif name == "f9":
                s.back_to_mark()
                self.jumped = True
                self.say("back at the marked frame")
            elif name == "t":
                if s.world.fast is None:
                    self.say("this world has no student/teacher pair")
                else:
                    s.set_fast(not s.world.fast)
                    self.say(f"now the {'student (fast)' if s.world.fast else 'teacher (slow)'}")
            elif name == "f2":
                self.toggle_recording()
        except ValueError as e:                  # e.g. F9 before any F5: say so, keep playing
            self.say(str(e))

    def toggle_recording(self, path: Path | None = None) -> Path | None:
        s = self.session
        if s.recording is None:
            s.start_recording()
            self.say("recording: F2 stops and writes the MP4")
            return None
        frames = s.stop_recording()
        path = path or self.record_dir / time.strftime("worldmodel-%Y%m%d-%H%M%S.mp4")
        s.write_recording(path, frames)
        self.say(f"wrote {len(frames)} frames to {path}")
        print(f"wrote {len(frames)} frames to {path}")
        return path

    def capture(self, on: bool) -> None:
        """Relative mouse mode: the pointer is hidden and held in the window; motion turns."""
        pg = self.pg
        if hasattr(pg.mouse, "set_relative_mode"):
            pg.mouse.set_relative_mode(on)
        else:
            pg.mouse.set_visible(not on)
            pg.event.set_grab(on)
        self.captured = on

    def action(self) -> Action:
        a = Action(keys=frozenset(self.held), mouse_dx=self.dx / self.scale, mouse_dy=self.dy / self.scale,
                   buttons=frozenset(self.buttons))
        self.dx = self.dy = 0.0
        return a

    def say(self, text: str, seconds: float = 3.0) -> None:
        self.message, self.message_until = text, time.monotonic() + seconds

    # ----- drawing ------------------------------------------------------------------------
    def draw(self, frame) -> None:
        import numpy as np
        pg, screen = self.pg, self.screen
        surf = pg.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        screen.blit(pg.transform.scale(surf, self.size), (0, 0))
        if self.show_help:
            self.draw_help()
        if self.message and time.monotonic() < self.message_until:
            self.text_box([self.message], (6, self.size[1] - 30))   # above the status line, clear of the help
        screen.fill((0, 0, 0), (0, self.size[1], self.size[0], BAR))
        screen.blit(self.font.render(self.session.status_line(), True, (230, 230, 230)), (6, self.size[1] + 4))
        pg.display.flip()

    def draw_help(self) -> None:
        self.text_box(self.help_text, (12, 12), alpha=200)

    def text_box(self, lines, at, alpha: int = 160) -> None:
        pg = self.pg
        rendered = [self.font.render(line, True, (255, 255, 255)) for line in lines]
        w = max(r.get_width() for r in rendered) + 12
        h = sum(r.get_height() + 2 for r in rendered) + 8
        box = pg.Surface((w, h), pg.SRCALPHA)
        box.fill((0, 0, 0, alpha))
        self.screen.blit(box, at)
        y = at[1] + 4
        for r in rendered:
            self.screen.blit(r, (at[0] + 6, y))
            y += r.get_height() + 2


def run_window(world, image=None, scale: int = 8, fps: float | None = None, record: str | Path | None = None,
               record_dir: str | Path = ".") -> int:
    """Play `world` in a window until it is closed. fps: frames per second to pace at (None = the
    world's own rate, 0 = as fast as it generates). record: write everything shown to this MP4
    at quit (F2 records clips into record_dir as well)."""
    import pygame
    session = PlaySession(world, image)
    pygame.display.init()                        # not pygame.init(): no sound, so no audio device needed
    pygame.font.init()
    try:
        win = Window(session, scale, Path(record_dir))
        if record is not None:
            session.start_recording()
        clock = pygame.time.Clock()
        rate = world.fps if fps is None else fps
        while True:
            for ev in pygame.event.get():
                win.handle(ev)
            if not win.running:
                break
            if win.jumped:                       # the frame jumped to is shown as it is
                win.jumped = False
                win.draw(session.frame)
            else:
                win.draw(session.step(win.action()))
            if rate > 0:
                clock.tick(rate)
        if record is not None and session.recording is not None:
            win.toggle_recording(Path(record))
        elif session.recording is not None:  # F2 pressed without a second F2: keep the clip
            win.toggle_recording()
    finally:
        pygame.quit()
    return 0
