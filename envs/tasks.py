"""Latent-state tasks: worlds whose nodes are (place, latent phase), so one place, and so one
object, appears at several nodes (aliased observations), and the walk follows the task's rules.

* :func:`w_maze`: continuous spatial alternation on a figure-8 / W maze (Wood et al. 2000; the
  ``wood2000`` world of the TEM TensorFlow code).
* :func:`laps`: running ``n_laps`` laps of a square track (Sun et al. 2020; ``sun2020`` there).

Both declare which nodes carry one object through :attr:`envs.world.World.object_groups`, and the
W-maze declares its turn probabilities through :attr:`envs.world.World.action_probs`. Actions are
the compass moves ``north, east, south, west`` (each undone by its opposite, although the tasks
run one way, so the opposite move is never available); each node sits at its place on the
plane, so the latent copies of a place share one 2D position.
"""
from __future__ import annotations

import numpy as np

from envs.world import World

COMPASS = ("north", "east", "south", "west")
_MOVE = {"north": (0, 1), "east": (1, 0), "south": (0, -1), "west": (-1, 0)}
_INVERSE = np.array([2, 3, 0, 1])
DEFAULT_ERROR = 0.15
"""Chance of turning the same way as on the last journey at the top of the W-maze stem."""
DEFAULT_ARM = 2
"""Nodes of the W-maze's top crossbar on each side of the stem."""
DEFAULT_LAPS = 4


def _path(start: tuple[int, int], moves: list[str]) -> list[tuple[int, int]]:
    """The places visited by ``moves`` from ``start`` (``start`` excluded)."""
    places, (x, y) = [], start
    for move in moves:
        x, y = x + _MOVE[move][0], y + _MOVE[move][1]
        places.append((x, y))
    return places


def w_maze(stem: int, arm: int = DEFAULT_ARM, error: float = DEFAULT_ERROR) -> World:
    """Continuous left/right alternation on a figure-8 maze with a central stem of ``stem`` nodes.

    Places (on the square lattice): the stem runs north from ``(0, 0)`` to ``(0, stem-1)``; at its
    top the animal turns ``west`` or ``east`` onto a crossbar of ``arm`` places, runs ``south``
    down that side arm to the bottom row, then back along the bottom row to the stem's bottom
    ``(0, 0)``. Every move is one way.

    Nodes ``(place, phase)``: the stem exists twice, ``0 .. stem-1`` on the way to a *left* turn
    (entered from the right loop) and ``stem .. 2*stem-1`` on the way to a *right* turn (entered
    from the left loop); node ``stem + i`` carries the same object as node ``i`` (its
    :attr:`~envs.world.World.object_groups`). The loops need no copies: after a left turn the
    next turn should be right whatever came before. The phase is the last turn taken, so an
    error (turning the same way again) returns the animal to the same stem copy.

    Task probabilities (:attr:`~envs.world.World.action_probs`): at the top of each stem copy,
    the alternating turn with probability ``1 - error`` and the repeated turn with ``error``;
    everywhere else the single available move. Nodes: ``2 * stem + 2 * (2 * arm + stem - 2)``
    (stem 4, arm 2: 20 nodes, 8 of them aliased in 4 pairs).
    """
    if not isinstance(stem, (int, np.integer)) or stem < 2:
        raise ValueError(f"stem must be an integer >= 2, got {stem!r}")
    if not isinstance(arm, (int, np.integer)) or arm < 1:
        raise ValueError(f"arm must be an integer >= 1, got {arm!r}")
    if not 0.0 <= error <= 1.0:
        raise ValueError(f"error must be a probability in [0, 1], got {error!r}")
    places = [(0, y) for y in range(stem)] * 2  # the two stem copies
    loop_moves = {}
    for side, out, back in (("left", "west", "east"), ("right", "east", "west")):
        moves = [out] * arm + ["south"] * (stem - 1) + [back] * (arm - 1)
        loop_moves[side] = moves
        places += _path((0, stem - 1), moves)
    n_loop = len(loop_moves["left"])
    to_left, to_right = 0, stem  # first node of each stem copy
    left0, right0 = 2 * stem, 2 * stem + n_loop
    n = 2 * stem + 2 * n_loop
    transitions = np.full((n, len(COMPASS)), -1, dtype=np.int64)
    probs = np.zeros((n, len(COMPASS)))
    act = {name: i for i, name in enumerate(COMPASS)}

    def edge(u, move, v, p=1.0):
        transitions[u, act[move]] = v
        probs[u, act[move]] = p

    for copy in (to_left, to_right):
        for i in range(stem - 1):
            edge(copy + i, "north", copy + i + 1)
    top_left, top_right = to_left + stem - 1, to_right + stem - 1
    edge(top_left, "west", left0, 1.0 - error)   # alternate: the last turn was right
    edge(top_left, "east", right0, error)        # error: right again
    edge(top_right, "east", right0, 1.0 - error)
    edge(top_right, "west", left0, error)
    for first, side, stem_entry in ((left0, "left", to_right), (right0, "right", to_left)):
        moves = loop_moves[side]
        for i in range(n_loop - 1):
            edge(first + i, moves[i + 1], first + i + 1)
        edge(first + n_loop - 1, "east" if side == "left" else "west", stem_entry)
    groups = np.arange(n)
    groups[to_right:to_right + stem] = np.arange(stem)
    return World(name=f"w-maze {stem}", transitions=transitions, positions=np.array(places, dtype=np.float64),
                 action_names=COMPASS, inverse_actions=_INVERSE, object_groups=groups, action_probs=probs)


def laps(side: int, n_laps: int = DEFAULT_LAPS) -> World:
    """``n_laps`` laps of a square track with ``side`` places per side, run counter-clockwise.

    The track's ``4 * (side - 1)`` places start at the corner ``(0, 0)`` and run ``east`` along
    the bottom, ``north``, ``west`` along the top and ``south`` back. Node ``lap * P + p`` is
    place ``p`` on lap ``lap`` (``P`` places a lap); every lap shows the same object at the same
    place (:attr:`~envs.world.World.object_groups` ``= node % P``), so the lap is a latent state.
    Leaving the last place of the last lap starts lap 0 again: the task is a cycle of
    ``n_laps * P`` nodes with one available move at each, so a walk is deterministic after its
    (random) start node.
    """
    if not isinstance(side, (int, np.integer)) or side < 2:
        raise ValueError(f"side must be an integer >= 2, got {side!r}")
    if not isinstance(n_laps, (int, np.integer)) or n_laps < 1:
        raise ValueError(f"n_laps must be an integer >= 1, got {n_laps!r}")
    moves = (["east"] * (side - 1) + ["north"] * (side - 1) + ["west"] * (side - 1)
             + ["south"] * (side - 1))
    track = [(0, 0)] + _path((0, 0), moves)[:-1]  # P places; the last move returns to (0, 0)
    per_lap = len(track)
    n = n_laps * per_lap
    transitions = np.full((n, len(COMPASS)), -1, dtype=np.int64)
    for v in range(n):
        transitions[v, COMPASS.index(moves[v % per_lap])] = (v + 1) % n
    return World(name=f"laps {side}x{n_laps}", transitions=transitions,
                 positions=np.array(track * n_laps, dtype=np.float64), action_names=COMPASS,
                 inverse_actions=_INVERSE, object_groups=np.arange(n) % per_lap)
