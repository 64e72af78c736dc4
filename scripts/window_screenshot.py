"""A screenshot of the pygame window with its help overlay, without a display.

    SDL_VIDEODRIVER=dummy python scripts/window_screenshot.py --checkpoint doom --out docs/img/window.png

Runs the real window (play/pygame_app.py) on SDL's dummy video driver with scripted events: a few
frames holding W, then H for the help overlay, and saves what the window drew.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="world (default: the default world)")
    p.add_argument("--key", default="w", help="pygame key name to hold (default w)")
    p.add_argument("--frames", type=int, default=8, help="frames to play before the screenshot (default 8)")
    p.add_argument("--out", default="window.png")
    args = p.parse_args()
    import pygame

    from play import pygame_app
    from worldmodel import World

    world = World.from_pretrained(args.checkpoint)
    pygame.display.init()
    code = pygame.key.key_code(args.key)
    script = ([[pygame.event.Event(pygame.KEYDOWN, key=code, mod=0, unicode="", scancode=0)]]
              + [[] for _ in range(args.frames)]
              + [[pygame.event.Event(pygame.KEYDOWN, key=pygame.K_h, mod=0, unicode="", scancode=0)], []])
    frames = iter(script)
    saved = []
    real_draw = pygame_app.Window.draw

    def draw(self, frame):
        real_draw(self, frame)
        saved.append(self.screen.copy())

    pygame_app.Window.draw = draw
    pygame.event.get = lambda: next(frames, [pygame.event.Event(pygame.QUIT)])
    pygame_app.run_window(world)
    pygame.image.save(saved[-1], args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
