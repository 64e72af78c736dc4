import math

import numpy as np
import pytest

from worldmodel import ACTION_DIM, KEYS, Action, ActionError


def test_vector_round_trip():
    a = Action(keys=frozenset({"up", "space"}), mouse_dx=8.0, mouse_dy=-16.0, buttons=frozenset({"left"}))
    v = a.to_vector()
    assert v.shape == (ACTION_DIM,) and v.dtype == np.float32
    assert v[KEYS.index("up")] == 1 and v[KEYS.index("space")] == 1 and v[:len(KEYS)].sum() == 2
    assert Action.from_vector(v) == a


def test_press_and_string_keys():
    assert Action.press("up", "left").keys == {"up", "left"}
    assert Action(keys="up").keys == {"up"}  # a bare string is one key, not its letters
    assert str(Action()) == "idle"


def test_mouse_saturates_instead_of_exploding():
    v = Action(mouse_dx=10_000).to_vector()
    assert v[len(KEYS)] == 1.0


@pytest.mark.parametrize("kwargs, msg", [
    ({"keys": {"jump"}}, "unknown key"),
    ({"mouse_dx": math.nan}, "finite"),
    ({"mouse_dy": math.inf}, "finite"),
    ({"mouse_dx": "fast"}, "number"),
    ({"buttons": {"middle"}}, "mouse button"),
    ({"keys": 5}, "collection"),
])
def test_bad_actions_are_clear_errors(kwargs, msg):
    with pytest.raises(ActionError, match=msg):
        Action(**kwargs)


def test_from_vector_rejects_bad_vectors():
    with pytest.raises(ActionError, match="shape"):
        Action.from_vector(np.zeros(3))
    v = np.zeros(ACTION_DIM)
    v[0] = np.nan
    with pytest.raises(ActionError, match="NaN"):
        Action.from_vector(v)
