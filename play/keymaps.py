"""Keymaps are data: pygame key names -> `Action` key names. The game loop only looks them up."""
from __future__ import annotations

# pygame.key.name(...) -> worldmodel.KEYS entry
DEFAULT_KEYMAP: dict[str, str] = {
    "up": "up", "down": "down", "left": "left", "right": "right",
    "w": "w", "a": "a", "s": "s", "d": "d",
    "space": "space", "left shift": "shift", "right shift": "shift",
    "left ctrl": "ctrl", "right ctrl": "ctrl", "return": "enter", "tab": "tab",
    "e": "e", "q": "q", "r": "r", "f": "f", "1": "1", "2": "2", "3": "3", "4": "4",
}
# keys the window itself uses; they never reach the world
CONTROL_KEYS = {"escape": "quit", "backspace": "reset to the start image", "p": "pause",
                "t": "switch student (fast) / teacher (slow)"}


def keymap_for(config: dict) -> dict[str, str]:
    """The keymap of a world: the checkpoint may carry its own under config["keymap"]."""
    return {**DEFAULT_KEYMAP, **config.get("keymap", {})}
