"""Pictures of a world with its objects and the agent: an RGB image and a text map.

Drawing uses matplotlib's object API (``Figure`` + ``FigureCanvasAgg``), never pyplot's global
state, so rendering from many envs or threads leaves no figure behind.
"""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from envs.world import World

def is_grid(world: World) -> bool:
    """True for square and hexagonal grid worlds (neighbours one unit apart)."""
    return world.lattice is not None


def world_edges(world: World) -> np.ndarray:
    """``(n_edges, 2, 2)`` float: the segments between neighbouring node positions.

    Each undirected pair is drawn once; self loops (``stay``) are left out, and so are the
    wrap-around edges of periodic grids (longer than one lattice step).
    """
    src, act = np.nonzero(world.transitions >= 0)
    dst = world.transitions[src, act]
    keep = src < dst
    if is_grid(world):
        length = np.linalg.norm(world.positions[src] - world.positions[dst], axis=1)
        keep &= length < 1.5
    pairs = np.unique(np.stack([src[keep], dst[keep]], axis=1), axis=0).reshape(-1, 2)
    return world.positions[pairs]  # (n_edges, 2, 2)


def nearest_distance(positions: np.ndarray) -> float:
    """Smallest distance between two distinct node positions (``(n, 2)`` in, 1.0 if none)."""
    if len(positions) < 2:
        return 1.0
    gaps = np.linalg.norm(positions[:, None] - positions[None], axis=-1)  # (n, n)
    gaps = gaps[gaps > 1e-9]
    return float(gaps.min()) if len(gaps) else 1.0


def render_rgb(world: World, objects: np.ndarray, node: int, n_objects: int,
               size_px: int = 256) -> np.ndarray:
    """Draw nodes coloured by object id, edges faintly, and the agent as a ringed dot.

    Args:
        world: the world. objects: ``(n_nodes,)`` int object ids. node: the agent's node.
        n_objects: number of object ids (fixes the colour scale). size_px: image side in pixels.

    Returns:
        ``(size_px, size_px, 3)`` uint8 RGB image.
    """
    dpi = 64
    fig = Figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    pos = world.positions
    span = float(np.ptp(pos, axis=0).max()) or 1.0
    margin = 0.08 * span + 0.5 * (span / np.sqrt(world.n_nodes))
    center = (pos.max(axis=0) + pos.min(axis=0)) / 2
    ax.set_xlim(center[0] - span / 2 - margin, center[0] + span / 2 + margin)
    ax.set_ylim(center[1] - span / 2 - margin, center[1] + span / 2 + margin)
    ax.set_aspect("equal")
    ax.add_collection(LineCollection(world_edges(world), colors="0.6", linewidths=0.8, alpha=0.4))
    points_per_unit = size_px * 72 / dpi / (span + 2 * margin)
    cell_pt = 0.75 * nearest_distance(pos) * points_per_unit  # marker diameter in points
    ax.scatter(pos[:, 0], pos[:, 1], c=np.asarray(objects), cmap=colormaps["turbo"],
               vmin=0, vmax=max(n_objects - 1, 1), s=cell_pt ** 2, edgecolors="none")
    ax.scatter([pos[node, 0]], [pos[node, 1]], s=(1.3 * cell_pt) ** 2, facecolors="none",
               edgecolors="black", linewidths=2.5)
    ax.scatter([pos[node, 0]], [pos[node, 1]], s=(0.3 * cell_pt) ** 2, c="black")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def render_ansi(world: World, objects: np.ndarray, node: int) -> str:
    """A text map: grids as rows of object ids (north up), other worlds as a node listing.

    The agent's node is shown in brackets, e.g. ``[12]``.
    """
    objects = np.asarray(objects)
    width = len(str(int(objects.max()))) + 2
    cells = [f"[{o:>{width - 2}}]" if v == node else f" {o:>{width - 2}} "
             for v, o in enumerate(objects.tolist())]
    if not is_grid(world):
        lines = [f"{world.name}: node object (agent in brackets)"]
        lines += [f"{v:>4} {cell}".rstrip() for v, cell in enumerate(cells)]
        return "\n".join(lines) + "\n"
    x, y = world.positions[:, 0], np.round(world.positions[:, 1], 6)
    columns = np.round((x - x.min()) * width).astype(int)  # half-unit hex offsets = half a cell
    lines = []
    for row_y in np.unique(y)[::-1]:
        chars = [" "] * (columns.max() + width)
        for v in np.flatnonzero(y == row_y):
            chars[columns[v]:columns[v] + width] = cells[v]
        lines.append("".join(chars).rstrip())
    return "\n".join(lines) + "\n"
