"""Environment adapters. `make_env(spec)` builds one from a spec string:

    procedural            the built-in numpy world
    atari:GAME            an Atari game through ale-py, e.g. atari:Breakout
    vizdoom:MAP           a first-person ViZDoom (freedoom) map, e.g. vizdoom:E1M1
"""
from __future__ import annotations

from .base import Env

ENV_HELP = "procedural | atari:GAME (e.g. atari:Breakout, atari:Boxing) | vizdoom:MAP (e.g. vizdoom:E1M1)"


def _env_class(spec: str):
    """(adapter class, its argument) for a spec string; imports only the adapter's module (the
    games themselves load when the adapter is built)."""
    kind, _, arg = spec.partition(":")
    if kind == "procedural" and not arg:
        from .procedural import ProceduralEnv
        return ProceduralEnv, None
    if kind == "atari" and arg:
        from .atari import AtariEnv
        return AtariEnv, arg
    if kind == "vizdoom" and arg:
        from .doom import DoomEnv
        return DoomEnv, arg
    raise ValueError(f"unknown environment {spec!r}; expected {ENV_HELP}")


def make_env(spec: str, size: int = 64) -> Env:
    cls, arg = _env_class(spec)
    return cls(size=size) if arg is None else cls(arg, size=size)


def settle_frames(spec: str) -> int:
    """`Env.settle_frames` of the game `spec` names, without starting the game."""
    return _env_class(spec)[0].settle_frames


def ignores_first_action(spec: str) -> bool:
    """`Env.ignores_first_action` of the game `spec` names, without starting the game."""
    return _env_class(spec)[0].ignores_first_action


__all__ = ["Env", "make_env", "settle_frames", "ignores_first_action", "ENV_HELP"]
