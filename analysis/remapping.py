"""Remapping: the same units in two worlds with the same structure and different objects.

Position-code (MEC) maps should be preserved up to a shift (the walks start at different nodes);
hippocampal maps should remap (their spatial correlation across worlds falls to about zero).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from analysis.maps import crosscorrelogram, raster_layout, rasterise_many
from analysis.plots import plot_node_map, plot_node_maps
from envs.render import is_grid

REMAP_METHOD = ("per unit, Pearson correlation over nodes visited in both worlds; for MEC units on grid "
                "worlds also the maximum over spatial shifts of the NaN-aware cross-correlogram of the "
                "rasterised maps ('shifted'); hippocampal unit k is the k-th unit of each walk")


def node_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two node maps ``(n_nodes,)`` over nodes finite in both (NaN if undefined)."""
    both = np.isfinite(a) & np.isfinite(b)
    if both.sum() < 3 or np.std(a[both]) == 0 or np.std(b[both]) == 0:
        return float("nan")
    return float(np.corrcoef(a[both], b[both])[0, 1])


def shifted_correlations(first: np.ndarray, second: np.ndarray, world) -> list[float]:
    """Per unit, the best Pearson correlation of node maps ``first[i], second[i]`` (each ``(n_units,
    n_nodes)``) over spatial shifts of their rasters (grid worlds; the raster layout computed once)."""
    layout = raster_layout(world.positions)
    best = []
    for a, b in zip(rasterise_many(first, layout), rasterise_many(second, layout)):
        cross = crosscorrelogram(a, b)
        best.append(float(np.nanmax(cross)) if np.isfinite(cross).any() else float("nan"))
    return best


def remapping_scores(first, second, world) -> dict:
    """Mean per-unit correlations between two :class:`~analysis.ratemaps.RateMaps` of ``world``."""
    grid_world = world.lattice is not None
    mec_direct = [node_correlation(a, b) for a, b in zip(first.mec, second.mec)]
    hpc_direct = [node_correlation(a, b) for a, b in zip(first.hippocampus, second.hippocampus)]
    result = {"method": REMAP_METHOD,
              "mec_correlation": float(np.nanmean(mec_direct)) if np.isfinite(mec_direct).any() else None,
              "hpc_correlation": float(np.nanmean(hpc_direct)) if np.isfinite(hpc_direct).any() else None}
    if grid_world:
        with np.errstate(invalid="ignore"):
            mec_shifted = shifted_correlations(first.mec, second.mec, world)
        result["mec_correlation_shifted"] = float(np.nanmean(mec_shifted))
    return result


def plot_remapping(first, second, world, scores: dict | None = None, *, n_units: int = 4):
    """Rows: MEC units in world A, in world B, hippocampal units in A, in B. Returns ``(fig, axes)``."""
    n = min(n_units, len(first.mec), len(first.hippocampus))
    rows = (("MEC, world A", first.mec), ("MEC, world B", second.mec),
            ("hippocampus, world A", first.hippocampus), ("hippocampus, world B", second.hippocampus))
    suptitle = None
    if scores:
        suptitle = (f"remapping ({world.name}): MEC r = {scores.get('mec_correlation_shifted', scores['mec_correlation']):.2f}"
                    f" (best shift), hippocampus r = {scores['hpc_correlation'] or float('nan'):.2f}")
    if is_grid(world):  # one image (fast)
        maps = np.concatenate([maps[:n] for _, maps in rows])
        titles = [f"{label}, unit {i}" for label, _ in rows for i in range(n)]
        return plot_node_maps(maps, world, titles=titles, ncols=n, suptitle=suptitle)
    fig, axes = plt.subplots(4, n, figsize=(1.8 * n, 7.6), squeeze=False)
    for r, (label, maps) in enumerate(rows):
        for i in range(n):
            plot_node_map(maps[i], world, ax=axes[r, i], title=f"{label}\nunit {i}")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig, axes
