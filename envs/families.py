"""World families: named distributions of worlds that share one action set, e.g. ``square:8-11``."""
from __future__ import annotations

from envs import graphs, grids
from envs.world import World

DEFAULT_SIZES = {
    "square": "8-11", "periodic-square": "8-11", "hex": "8-11", "periodic-hex": "8-12",
    "line": "10", "ring": "12", "family-tree": "3",
}
FAMILIES = tuple(DEFAULT_SIZES)
GRID_KINDS = ("square", "periodic-square", "hex", "periodic-hex")


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
    """All worlds of a family spec ``"KIND[+stay][:SIZES]"``, one per size.

    Kinds: ``square``, ``periodic-square``, ``hex``, ``periodic-hex`` (sizes are sides, default
    8-11; periodic hex needs even sides), ``line`` (number of nodes), ``ring`` (number of nodes),
    ``family-tree`` (generations below the root). A ``+stay`` suffix on a grid kind (e.g.
    ``square+stay:5``, the TEM port's world) adds a stand-still action, as ``stay_action=True`` does.
    """
    kind, _, size_text = spec.partition(":")
    if kind.endswith("+stay"):
        kind, stay_action = kind[: -len("+stay")], True
        if kind not in GRID_KINDS:
            raise ValueError(f"'+stay' applies to grid worlds ({', '.join(GRID_KINDS)}), not {kind!r}")
    if kind not in DEFAULT_SIZES:
        raise ValueError(f"unknown world {kind!r}; choose one of {', '.join(FAMILIES)} "
                         "(optionally with '+stay' and sizes, e.g. 'square+stay:8-11')")
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
    }[kind]
    return [build(s) for s in sizes]
