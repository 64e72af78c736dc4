"""A thin pygame loop around `World`: keys and mouse -> Action -> frame -> screen."""
from __future__ import annotations

import time

from worldmodel import Action

from .keymaps import CONTROL_KEYS, keymap_for


def run_window(world, image=None, scale: int = 8) -> int:
    import numpy as np
    import pygame

    keymap = keymap_for(world.config)
    h, w = world.resolution
    pygame.init()
    screen = pygame.display.set_mode((w * scale, h * scale + 24))
    pygame.display.set_caption("worldmodel - arrows/WASD move, Esc quits, Backspace resets, P pauses, "
                               "T switches student/teacher")
    font = pygame.font.Font(None, 22)
    frame = world.reset(image)
    paused, running = False, True
    times: list[float] = []
    clock = pygame.time.Clock()
    while running:
        for ev in pygame.event.get():
            if ev.type == pygame.QUIT:
                running = False
            elif ev.type == pygame.KEYDOWN:
                name = pygame.key.name(ev.key)
                if CONTROL_KEYS.get(name) == "quit":
                    running = False
                elif name == "backspace":
                    frame = world.reset(image)
                elif name == "p":
                    paused = not paused
                elif name == "t" and world.fast is not None:
                    world.set_fast(not world.fast)
                    times.clear()
        if not running:
            break
        pressed = pygame.key.get_pressed()
        held = set()
        for pg_name, key in keymap.items():
            code = pygame.key.key_code(pg_name)
            if pressed[code]:
                held.add(key)
        dx, dy = pygame.mouse.get_rel()
        buttons = pygame.mouse.get_pressed()
        action = Action(keys=frozenset(held), mouse_dx=dx / scale, mouse_dy=dy / scale,
                        buttons=frozenset(b for b, on in zip(("left", "", "right"), buttons) if on and b))
        if not paused:
            t0 = time.perf_counter()
            frame = world.step(action)
            times.append(time.perf_counter() - t0)
            times = times[-30:]
        surf = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        screen.blit(pygame.transform.scale(surf, (w * scale, h * scale)), (0, 0))
        screen.fill((0, 0, 0), (0, h * scale, w * scale, 24))
        fps = len(times) / max(sum(times), 1e-9) if times else 0.0
        path = "" if world.fast is None else ("student  " if world.fast else "teacher  ")
        text = f"{'PAUSED  ' if paused else ''}{path}{fps:5.1f} frames/s  keys: {action}"
        screen.blit(font.render(text, True, (230, 230, 230)), (6, h * scale + 4))
        pygame.display.flip()
        clock.tick(world.fps)
    pygame.quit()
    return 0
