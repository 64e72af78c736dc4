"""Environment adapters. `make_env(spec)` builds one from a spec string:

    procedural            the built-in numpy world
    atari:GAME            an Atari game through ale-py, e.g. atari:Breakout
    vizdoom:MAP           a first-person ViZDoom (freedoom) map, e.g. vizdoom:E1M1
"""
from __future__ import annotations

from .base import Env

ENV_HELP = "procedural | atari:GAME (e.g. atari:Breakout, atari:Boxing) | vizdoom:MAP (e.g. vizdoom:E1M1)"


def make_env(spec: str, size: int = 64) -> Env:
    kind, _, arg = spec.partition(":")
    if kind == "procedural" and not arg:
        from .procedural import ProceduralEnv
        return ProceduralEnv(size=size)
    if kind == "atari" and arg:
        from .atari import AtariEnv
        return AtariEnv(arg, size=size)
    if kind == "vizdoom" and arg:
        from .doom import DoomEnv
        return DoomEnv(arg, size=size)
    raise ValueError(f"unknown environment {spec!r}; expected {ENV_HELP}")


__all__ = ["Env", "make_env", "ENV_HELP"]
