"""Square and hexagonal grid worlds, bounded (walls) or periodic (torus)."""
from __future__ import annotations

import numpy as np

from envs.world import World

SQUARE_ACTIONS = ("N", "E", "S", "W")
SQUARE_STEPS = ((0, 1), (1, 0), (0, -1), (-1, 0))  # (dx, dy) per action
SQUARE_INVERSES = (2, 3, 0, 1)  # N<->S, E<->W

HEX_ACTIONS = ("E", "NE", "NW", "W", "SW", "SE")
HEX_STEPS = ((1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1))  # axial (dq, dr) per action
HEX_INVERSES = (3, 4, 5, 0, 1, 2)  # each direction and its opposite


def check_side(name: str, value: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {value!r}")


def _with_stay(transitions, names, inverses, stay_action):
    if not stay_action:
        return transitions, names, inverses
    stay = np.arange(len(transitions))[:, None]
    return (np.concatenate([transitions, stay], axis=1), names + ("stay",),
            inverses + (len(names),))


def square_grid(width: int, height: int | None = None, *, periodic: bool = False,
                stay_action: bool = False) -> World:
    """A ``width x height`` square grid with actions N, E, S, W (and ``stay`` if asked).

    Node ``v = y * width + x`` sits at position ``(x, y)``; N increases ``y``. In a bounded grid a
    move into the wall is unavailable; in a periodic grid it wraps around.
    """
    height = width if height is None else height
    check_side("width", width)
    check_side("height", height)
    y, x = np.divmod(np.arange(width * height), width)
    columns = []
    for dx, dy in SQUARE_STEPS:
        nx_, ny_ = x + dx, y + dy
        if periodic:
            nx_, ny_ = nx_ % width, ny_ % height
        inside = (nx_ >= 0) & (nx_ < width) & (ny_ >= 0) & (ny_ < height)
        columns.append(np.where(inside, ny_ * width + nx_, -1))
    transitions, names, inverses = _with_stay(np.stack(columns, axis=1), SQUARE_ACTIONS,
                                              SQUARE_INVERSES, stay_action)
    kind = "periodic square" if periodic else "square"
    return World(name=f"{kind} {width}x{height}", transitions=transitions,
                 positions=np.stack([x, y], axis=1), action_names=names,
                 inverse_actions=np.array(inverses), lattice="square", periodic=periodic)


def hex_grid(width: int, height: int | None = None, *, periodic: bool = False,
             stay_action: bool = False) -> World:
    """A hexagonal (triangular-lattice) grid of ``height`` rows of ``width`` nodes, 6 directions.

    Rows are offset by half a node so the world is a rectangle; node ``v = row * width + col``.
    Positions are on the triangular lattice (neighbours at distance 1). A periodic hex grid needs an
    even ``height`` so that the offset rows wrap consistently.
    """
    height = width if height is None else height
    check_side("width", width)
    check_side("height", height)
    if periodic and height % 2:
        raise ValueError(f"height must be even for a periodic hex grid, got {height}")
    row, col = np.divmod(np.arange(width * height), width)
    q = col - row // 2  # axial coordinates of the offset rectangle
    columns = []
    for dq, dr in HEX_STEPS:
        nr = row + dr
        ncol = q + dq + nr // 2
        if periodic:
            nr, ncol = nr % height, (q + dq + nr // 2) % width
        inside = (ncol >= 0) & (ncol < width) & (nr >= 0) & (nr < height)
        columns.append(np.where(inside, nr * width + ncol, -1))
    transitions, names, inverses = _with_stay(np.stack(columns, axis=1), HEX_ACTIONS,
                                              HEX_INVERSES, stay_action)
    positions = np.stack([q + row / 2.0, row * np.sqrt(3) / 2.0], axis=1)
    kind = "periodic hex" if periodic else "hex"
    return World(name=f"{kind} {width}x{height}", transitions=transitions, positions=positions,
                 action_names=names, inverse_actions=np.array(inverses), lattice="hex", periodic=periodic)
