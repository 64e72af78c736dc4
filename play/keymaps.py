"""Keymaps are data: which physical key becomes which `Action` key, for the pygame window and for
the browser. The game loops only look keys up here; the help overlay and the page print these
tables."""
from __future__ import annotations

from worldmodel import Action

# (Action key, pygame key names, browser KeyboardEvent.code values)
BINDINGS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("up", ("up",), ("ArrowUp",)),
    ("down", ("down",), ("ArrowDown",)),
    ("left", ("left",), ("ArrowLeft",)),
    ("right", ("right",), ("ArrowRight",)),
    ("w", ("w",), ("KeyW",)),
    ("a", ("a",), ("KeyA",)),
    ("s", ("s",), ("KeyS",)),
    ("d", ("d",), ("KeyD",)),
    ("space", ("space",), ("Space",)),
    ("shift", ("left shift", "right shift"), ("ShiftLeft", "ShiftRight")),
    ("ctrl", ("left ctrl", "right ctrl"), ("ControlLeft", "ControlRight")),
    ("enter", ("return",), ("Enter",)),
    ("tab", ("tab",), ("Tab",)),
    ("e", ("e",), ("KeyE",)),
    ("q", ("q",), ("KeyQ",)),
    ("r", ("r",), ("KeyR",)),
    ("f", ("f",), ("KeyF",)),
    ("1", ("1",), ("Digit1",)),
    ("2", ("2",), ("Digit2",)),
    ("3", ("3",), ("Digit3",)),
    ("4", ("4",), ("Digit4",)),
)

# the pygame window's own keys (pygame key name -> what it does); they never reach the world
CONTROL_KEYS: dict[str, str] = {
    "h": "show / hide this help",
    "escape": "release the mouse (a second Esc quits)",
    "p": "pause",
    "backspace": "reset to the start image",
    "f5": "mark this frame (fork)",
    "f9": "return to the marked frame",
    "t": "switch student (fast) / teacher (slow)",
    "f2": "start / stop recording an MP4",
}


def pygame_keymap(config: dict) -> dict[str, str]:
    """pygame key name -> Action key for a world; a checkpoint may carry its own pygame names
    under config["keymap"] (same form), which win."""
    table = {name: key for key, names, _ in BINDINGS for name in names}
    return {**table, **config.get("keymap", {})}


def browser_keymap(config: dict) -> dict[str, str]:
    """KeyboardEvent.code -> Action key for a world (the page sends codes; the server maps them)."""
    table = {code: key for key, _, codes in BINDINGS for code in codes}
    extra = config.get("browser_keymap", {})
    return {**table, **extra}


def used_keys(action_set: list[Action]) -> list[str]:
    """The Action keys that the world's game reacts to, in vocabulary order."""
    from worldmodel import KEYS
    held = set().union(*(a.keys for a in action_set)) if action_set else set()
    return [k for k in KEYS if k in held]


def uses_mouse(action_set: list[Action]) -> bool:
    """First-person worlds turn with the mouse: their native actions move it."""
    return any(a.mouse_dx or a.mouse_dy for a in action_set)


def help_lines(config: dict, action_set: list[Action]) -> list[str]:
    """The help overlay's text: the world's keys, the mouse, then the window's own keys."""
    names = {key: names for key, names, _ in BINDINGS}
    lines = ["this world's keys:"]
    for key in used_keys(action_set):
        lines.append(f"  {' / '.join(names.get(key, (key,)))}: {key}")
    if uses_mouse(action_set):
        lines.append("  mouse: turn (click the window to capture it, Esc releases)")
    if any(a.buttons for a in action_set):
        lines.append("  left click: fire / use")
    lines.append("window:")
    lines += [f"  {k}: {v}" for k, v in CONTROL_KEYS.items()]
    return lines


# Touch buttons on the page: (label, code). The pseudo-codes turn and fire the way the world's
# native actions do (first-person worlds); the others are ordinary key codes.
TOUCH_BUTTONS: tuple[tuple[str, str], ...] = (
    ("▲", "ArrowUp"), ("◀", "ArrowLeft"), ("▼", "ArrowDown"), ("▶", "ArrowRight"),
    ("W", "KeyW"), ("A", "KeyA"), ("S", "KeyS"), ("D", "KeyD"), ("space", "Space"),
    ("turn ◀", "TurnLeft"), ("turn ▶", "TurnRight"), ("fire", "Fire"),
)
# mouse buttons pressed over the frame arrive as these codes
MOUSE_CODES = {"MouseLeft": "left", "MouseRight": "right", "Fire": "left"}


def touch_visible(code: str, config: dict, action_set: list[Action]) -> bool:
    """Whether the page shows the touch button `code` for this world."""
    if code in ("TurnLeft", "TurnRight"):
        return uses_mouse(action_set)
    if code == "Fire":
        return any(a.buttons for a in action_set)
    return browser_keymap(config).get(code) in used_keys(action_set)


def turn_pixels(action_set: list[Action]) -> float:
    """How far one held turn button moves the mouse per frame: the game's own turn size."""
    return max((abs(a.mouse_dx) for a in action_set), default=0.0)


def browser_help(config: dict, action_set: list[Action]) -> str:
    """The page's keymap, as one line of Markdown: the keys the world knows, the mouse."""
    codes: dict[str, list[str]] = {}
    for code, key in browser_keymap(config).items():
        codes.setdefault(key, []).append(code.removeprefix("Key").removeprefix("Digit").removeprefix("Arrow"))
    # "`W`" where the key is its own name, "`Space` space" where the page key and the action differ
    items = [f"`{'/'.join(codes.get(k, [k]))}`" + ("" if codes.get(k, [k]) == [k.upper()] else f" {k}")
             for k in used_keys(action_set)]
    if uses_mouse(action_set):
        items.append("mouse over the frame: turn")
    if any(a.buttons for a in action_set):
        items.append("click on the frame: fire")
    return "**Keys of this world:** " + " · ".join(items)
