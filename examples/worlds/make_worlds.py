"""Write the example world files of this folder (each usable as ``train.py --world FILE``).

    python examples/worlds/make_worlds.py            # rewrites the files next to this script

* ``lattice3d.json``, ``lattice3d-5.json``: 4x4x4 and 5x5x5 cubic lattices, actions ``+x -x +y -y
  +z -z`` (node-link JSON; positions an oblique 2D projection);
* ``diagonal-grid.graphml``, ``diagonal-grid-10.graphml``: 8x8 and 10x10 square grids with king
  moves ``N NE E SE S SW W NW``;
* ``ternary-tree.gml``, ``ternary-tree-4.gml``: ternary trees of depth 3 and 4, actions ``parent
  child1 child2 child3``.

Each world is built as a networkx graph with ``action`` labels on its edges and an
``inverse_actions`` graph attribute, the way you would describe your own world, then written with
:func:`envs.save_world`. Train on a family with e.g.
``--world examples/worlds/lattice3d.json,examples/worlds/lattice3d-5.json``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import networkx as nx

try:
    import envs
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import envs

HERE = Path(__file__).resolve().parent
KING_MOVES = {"N": (0, 1), "NE": (1, 1), "E": (1, 0), "SE": (1, -1),
              "S": (0, -1), "SW": (-1, -1), "W": (-1, 0), "NW": (-1, 1)}
PROJECTION = (0.4, 0.3)
"""Where one step along z lands on the plane: off the integer grid, so no two nodes overlap."""


def lattice3d(n: int) -> envs.World:
    """An ``n x n x n`` cubic lattice with walls; node ``x + n*y + n*n*z``."""
    axes = "xyz"
    graph = nx.DiGraph(inverse_actions={f"{s}{a}": f"{'-' if s == '+' else '+'}{a}" for a in axes for s in "+-"})
    nodes = [(x, y, z) for z in range(n) for y in range(n) for x in range(n)]
    for x, y, z in nodes:
        graph.add_node((x, y, z), pos=(x + PROJECTION[0] * z, y + PROJECTION[1] * z))
    for node in nodes:
        for axis in range(3):
            step = tuple(int(i == axis) for i in range(3))
            other = tuple(c + s for c, s in zip(node, step))
            if other in graph:
                graph.add_edge(node, other, action=f"+{axes[axis]}")
                graph.add_edge(other, node, action=f"-{axes[axis]}")
    actions = [f"{s}{a}" for a in axes for s in "+-"]
    return envs.from_networkx(graph, actions=actions, name=f"cubic lattice {n}x{n}x{n}")


def diagonal_grid(n: int) -> envs.World:
    """An ``n x n`` square grid with walls and 8 moves (the 4 sides and the 4 diagonals)."""
    names = list(KING_MOVES)
    graph = nx.DiGraph(inverse_actions={a: names[(i + 4) % 8] for i, a in enumerate(names)})
    for y in range(n):
        for x in range(n):
            graph.add_node((x, y), pos=(float(x), float(y)))
    for x, y in list(graph.nodes):
        for action, (dx, dy) in KING_MOVES.items():
            if (x + dx, y + dy) in graph:
                graph.add_edge((x, y), (x + dx, y + dy), action=action)
    return envs.from_networkx(graph, actions=names, name=f"diagonal grid {n}x{n}")


def ternary_tree(depth: int) -> envs.World:
    """A complete ternary tree with ``depth`` generations below the root; the children of ``v`` are
    ``3v+1, 3v+2, 3v+3``. ``child k`` is undone by ``parent``; ``parent`` has no single inverse."""
    children = ("child1", "child2", "child3")
    graph = nx.DiGraph(inverse_actions={c: "parent" for c in children})
    n = (3 ** (depth + 1) - 1) // 2
    for v in range(n):
        generation = next(g for g in range(depth + 1) if v < (3 ** (g + 1) - 1) // 2)
        slot = v - (3 ** generation - 1) // 2
        graph.add_node(v, pos=((slot + 0.5) * 3.0 ** (depth - generation), -float(generation)))
    for v in range(1, n):
        parent = (v - 1) // 3
        graph.add_edge(v, parent, action="parent")
        graph.add_edge(parent, v, action=children[(v - 1) % 3])
    return envs.from_networkx(graph, actions=["parent", *children], name=f"ternary tree {depth}")


def build_worlds() -> dict[str, envs.World]:
    """``{file name: world}`` of every example file."""
    return {"lattice3d.json": lattice3d(4), "lattice3d-5.json": lattice3d(5),
            "diagonal-grid.graphml": diagonal_grid(8), "diagonal-grid-10.graphml": diagonal_grid(10),
            "ternary-tree.gml": ternary_tree(3), "ternary-tree-4.gml": ternary_tree(4)}


def main(out_dir: Path = HERE) -> None:
    for name, world in build_worlds().items():
        path = envs.save_world(world, Path(out_dir) / name)
        print(f"{path}: {world.n_nodes} nodes, actions {' '.join(world.action_names)}")


if __name__ == "__main__":
    main()
