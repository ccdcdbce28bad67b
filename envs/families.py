"""World families: named distributions of worlds that share one action set, e.g. ``square:8-11``.

The spec grammar of :func:`make_worlds` (and so of ``train.py --world``)::

    SPEC  := KIND[+stay][:SIZES] | FILE[,FILE...]
    KIND  := square | periodic-square | hex | periodic-hex | line | ring | family-tree
           | family-tree-10 | line-jumps[J] | w-maze | laps
    SIZES := N | N-M | SIZES,SIZES            e.g. 9, 8-11, 8,10
    FILE  := a path ending in .graphml, .gml or .json (see envs.files)
"""
from __future__ import annotations

import re

from envs import files, graphs, grids, tasks
from envs.world import World

DEFAULT_SIZES = {
    "square": "8-11", "periodic-square": "8-11", "hex": "8-11", "periodic-hex": "8-12",
    "line": "10", "ring": "12", "family-tree": "3", "family-tree-10": "3", "line-jumps": "10",
    "w-maze": "3-5", "laps": "3-5",
}
FAMILIES = tuple(DEFAULT_SIZES)
GRID_KINDS = ("square", "periodic-square", "hex", "periodic-hex")
DEFAULT_JUMP = 2
"""Jump length of a plain ``line-jumps`` spec."""


def parse_sizes(text: str) -> list[int]:
    """``"8-11"`` -> [8, 9, 10, 11]; ``"9"`` -> [9]; ``"8,10"`` -> [8, 10]."""
    sizes = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            sizes += list(range(int(low), int(high or low) + 1))
    except ValueError:
        sizes = []
    if not sizes:
        raise ValueError(f"world sizes must look like '8-11', '9' or '8,10', got {text!r}")
    return sizes


def make_worlds(spec: str, *, stay_action: bool = False) -> list[World]:
    """All worlds of a family spec ``"KIND[+stay][:SIZES]"`` (one per size) or ``"FILE[,FILE...]"``
    (one per file).

    Kinds: ``square``, ``periodic-square``, ``hex``, ``periodic-hex`` (sizes are sides, default
    8-11; periodic hex needs even sides), ``line`` (number of nodes), ``ring`` (number of nodes),
    ``family-tree`` (generations below the root, 4 actions), ``family-tree-10`` (the same with the
    10 relations of the TEM family-tree task, depth >= 2, default 3), ``line-jumpsJ`` (number of
    nodes, default 10; moves of up to ``J`` positions either way, e.g. ``line-jumps3:12``; plain
    ``line-jumps`` means J=2), ``w-maze`` (stem length, default 3-5: left/right alternation with
    a 0.15 error chance, see :func:`envs.tasks.w_maze`), ``laps`` (side of a square track run 4
    laps, default 3-5, see :func:`envs.tasks.laps`). A ``+stay`` suffix on a grid kind (e.g. ``square+stay:5``, the TEM
    port's world) adds a stand-still action, as ``stay_action=True`` does.

    Files: a path ending in ``.graphml``, ``.gml`` or ``.json``, or several separated by commas
    (e.g. ``examples/worlds/lattice3d.json,examples/worlds/lattice3d-5.json``); their worlds must
    share one action set. See :mod:`envs.files` for the format.

    Raises:
        ValueError: an unknown kind, bad sizes, a bad or unreadable world file.
        FileNotFoundError: a world file that does not exist.
    """
    if files.is_file_spec(spec):
        if stay_action:
            raise ValueError(f"stay_action applies to grid worlds ({', '.join(GRID_KINDS)}), not to files {spec!r}")
        return files.load_worlds(spec)
    kind, _, size_text = spec.partition(":")
    if kind.endswith("+stay"):
        kind, stay_action = kind[: -len("+stay")], True
        if kind not in GRID_KINDS:
            raise ValueError(f"'+stay' applies to grid worlds ({', '.join(GRID_KINDS)}), not {kind!r}")
    jump = re.fullmatch(r"line-jumps(\d*)", kind)
    if jump:
        kind, jump = "line-jumps", int(jump.group(1) or DEFAULT_JUMP)
    if kind not in DEFAULT_SIZES:
        raise ValueError(f"unknown world {kind!r}; choose one of {', '.join(FAMILIES)} "
                         "(optionally with '+stay' and sizes, e.g. 'square+stay:8-11'; 'line-jumpsJ' "
                         "for jumps of up to J), or world files ending in .graphml, .gml or .json")
    sizes = parse_sizes(size_text or DEFAULT_SIZES[kind])
    if kind == "periodic-hex":
        sizes = [s for s in sizes if s % 2 == 0] or sizes  # odd sides raise a clear error below
    build = {
        "square": lambda s: grids.square_grid(s, s, stay_action=stay_action),
        "periodic-square": lambda s: grids.square_grid(s, s, periodic=True, stay_action=stay_action),
        "hex": lambda s: grids.hex_grid(s, s, stay_action=stay_action),
        "periodic-hex": lambda s: grids.hex_grid(s, s, periodic=True, stay_action=stay_action),
        "line": graphs.line,
        "ring": graphs.ring,
        "family-tree": graphs.family_tree,
        "family-tree-10": lambda s: graphs.family_tree(s, relations=10),
        "line-jumps": lambda s: graphs.line_jumps(s, jump),
        "w-maze": tasks.w_maze,
        "laps": tasks.laps,
    }[kind]
    return [build(s) for s in sizes]
