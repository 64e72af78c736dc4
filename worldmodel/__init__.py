"""World-model playground: one image becomes a world you can play.

    from worldmodel import World, Action
    world = World.from_pretrained()          # the shipped default world
    frame = world.reset()                     # its start frame, or reset("any.png")
    frame = world.step(Action.press("right"))
"""
from .action import ACTION_DIM, KEYS, Action, ActionError

__all__ = ["World", "Action", "ActionError", "KEYS", "ACTION_DIM"]


def __getattr__(name):  # import the torch-heavy World only when it is asked for
    if name == "World":
        from .world import World
        return World
    raise AttributeError(f"module 'worldmodel' has no attribute {name!r}")
