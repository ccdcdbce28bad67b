"""Object-vector cells (Høydal et al. 2019; TEM, Whittington et al. 2020): units that fire at a
fixed displacement from salient objects, wherever the objects stand.

The score of a unit compares its *object-centred* rate maps (activity against the displacement
``(dx, dy)`` of each node from its nearest salient object) in two environments whose salient
objects stand at different places: an object-vector cell keeps its object-centred map, a place or
grid cell does not. The correlation is tested against a shuffle that places the salient objects at
random other nodes and recomputes both object-centred maps; a unit whose correlation exceeds the
95th percentile of its own shuffle is counted as an object-vector cell.

:func:`object_vector_scores` scores plain arrays; :func:`object_vector_run` walks a trained run in
two salient-object environments (see :func:`salient_environment`) and writes
``RUN/objectvector.json`` and ``RUN/objectvector.png``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from analysis.ratemaps import run_windows, split_window
from envs import Batch, World, WalkPolicy, WalkSampler, make_worlds

MIN_BINS = 3
"""Fewest displacement bins two object-centred maps must share to be correlated."""


def displacement_bins(positions: np.ndarray, objects: np.ndarray, *, bin_size: float | None = None,
                      max_distance: float | None = None) -> np.ndarray:
    """``(n_nodes, 2)`` the binned displacement of each node from its nearest salient object.

    ``positions (n_nodes, 2)``, ``objects (k,)`` node ids of the salient objects. The nearest object
    is the one at the smallest Euclidean distance (ties: the first in ``objects``). With
    ``bin_size=None`` the displacement is rounded to 1e-3: on a lattice the displacement between
    two nodes is a lattice vector, so each bin is one lattice displacement (integer ``(dx, dy)`` on
    square grids; on hex grids the rounded hex vectors). With a ``bin_size`` the displacement is
    rounded to the nearest multiple of it (for irregular positions). Rows farther than
    ``max_distance`` from their nearest object are NaN (left out of every map). Periodic worlds
    are not unwrapped: displacements are read off the plane.
    """
    positions, objects = np.asarray(positions, dtype=np.float64), np.asarray(objects, dtype=np.int64)
    if objects.ndim != 1 or len(objects) == 0:
        raise ValueError("objects must be a non-empty 1-D array of node ids")
    delta = positions[:, None, :] - positions[objects][None, :, :]  # (n_nodes, k, 2)
    dist = np.linalg.norm(delta, axis=2)
    nearest = dist.argmin(axis=1)
    d = delta[np.arange(len(positions)), nearest]  # (n_nodes, 2)
    d = np.round(d, 3) if bin_size is None else np.round(d / bin_size) * bin_size
    d = d + 0.0  # no -0.0 keys
    if max_distance is not None:
        d[dist.min(axis=1) > max_distance] = np.nan
    return d


def object_centred_maps(maps: np.ndarray, bins: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``(n_units, n_keys)`` mean of ``maps (n_units, n_nodes)`` (NaN: not visited, ignored) over the
    nodes whose displacement ``bins (n_nodes, 2)`` equals each row of ``keys (n_keys, 2)``; NaN
    where no visited node falls in a bin."""
    maps = np.asarray(maps, dtype=np.float64)
    match = (bins[None, :, :] == keys[:, None, :]).all(axis=2).astype(np.float64)  # (n_keys, n_nodes)
    valid = ~np.isnan(maps)
    sums = np.where(valid, maps, 0.0) @ match.T
    counts = valid.astype(np.float64) @ match.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def _pair_correlation(maps_a, maps_b, bins_a, bins_b) -> np.ndarray:
    """``(n_units,)`` Pearson r between the object-centred maps of the two environments, over the
    displacement bins both have (NaN with fewer than :data:`MIN_BINS` or a flat map)."""
    both = np.concatenate([bins_a, bins_b])
    keys = np.unique(both[~np.isnan(both).any(axis=1)], axis=0)
    a = object_centred_maps(maps_a, bins_a, keys)
    b = object_centred_maps(maps_b, bins_b, keys)
    return masked_pearson(a, b)


def masked_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson r of ``a, b (n, m)`` over the columns where both are finite."""
    mask = np.isfinite(a) & np.isfinite(b)
    n = mask.sum(axis=1)
    a0, b0 = np.where(mask, a, 0.0), np.where(mask, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = a0.sum(axis=1) / n, b0.sum(axis=1) / n
        da, db = np.where(mask, a0 - ma[:, None], 0.0), np.where(mask, b0 - mb[:, None], 0.0)
        r = (da * db).sum(axis=1) / np.sqrt((da ** 2).sum(axis=1) * (db ** 2).sum(axis=1))
    r[(n < MIN_BINS) | ~np.isfinite(r)] = np.nan
    return r


def object_vector_scores(maps_a: np.ndarray, maps_b: np.ndarray, positions: np.ndarray, objects_a,
                         objects_b, *, n_shuffles: int = 100, seed: int = 0, max_distance: float | None = None,
                         bin_size: float | None = None, percentile: float = 95.0) -> dict:
    """Object-vector score of every unit.

    Args:
        maps_a, maps_b: ``(n_units, n_nodes)`` rate maps of the same units in environments A and B
            (same node positions; NaN at unvisited nodes).
        positions: ``(n_nodes, 2)`` node coordinates. objects_a, objects_b: ``(k,)`` node ids of the
            salient objects in A and in B.
        n_shuffles: shuffles of object positions; each draws ``k`` distinct nodes for A among the
            nodes that are not A's salient objects, and likewise for B, and recomputes both maps.
        seed: seeds the shuffle's ``np.random.Generator``. max_distance, bin_size: see
            :func:`displacement_bins`. percentile: of each unit's shuffled correlations.

    Returns:
        dict with ``r (n_units,)`` the correlation of the object-centred maps of A and B,
        ``threshold (n_units,)`` the ``percentile`` of the unit's shuffled correlations,
        ``shuffled (n_shuffles, n_units)``, ``is_ovc (n_units,)`` bool (``r > threshold``), and
        ``object_vector_fraction``: the fraction of units with a finite r that are object-vector
        cells.
    """
    maps_a, maps_b = np.asarray(maps_a, dtype=np.float64), np.asarray(maps_b, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    objects_a, objects_b = np.asarray(objects_a, dtype=np.int64), np.asarray(objects_b, dtype=np.int64)
    n_nodes = len(positions)
    if maps_a.shape != maps_b.shape or maps_a.ndim != 2 or maps_a.shape[1] != n_nodes:
        raise ValueError(f"maps_a and maps_b must both be (n_units, {n_nodes}), got {maps_a.shape}, {maps_b.shape}")
    opts = dict(bin_size=bin_size, max_distance=max_distance)
    r = _pair_correlation(maps_a, maps_b, displacement_bins(positions, objects_a, **opts),
                          displacement_bins(positions, objects_b, **opts))
    rng = np.random.default_rng(seed)
    others_a, others_b = np.setdiff1d(np.arange(n_nodes), objects_a), np.setdiff1d(np.arange(n_nodes), objects_b)
    shuffled = np.full((n_shuffles, len(r)), np.nan)
    for i in range(n_shuffles):
        fake_a = rng.choice(others_a, size=len(objects_a), replace=False)
        fake_b = rng.choice(others_b, size=len(objects_b), replace=False)
        shuffled[i] = _pair_correlation(maps_a, maps_b, displacement_bins(positions, fake_a, **opts),
                                        displacement_bins(positions, fake_b, **opts))
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(shuffled).any(axis=0)
        threshold = np.full(len(r), np.nan)
        threshold[finite] = np.nanpercentile(shuffled[:, finite], percentile, axis=0)
        is_ovc = np.isfinite(r) & np.isfinite(threshold) & (r > threshold)
    scored = int(np.isfinite(r).sum())
    return {"r": r, "threshold": threshold, "shuffled": shuffled, "is_ovc": is_ovc,
            "object_vector_fraction": float(is_ovc.sum() / scored) if scored else float("nan"),
            "n_scored": scored}


# --- salient-object environments and the walk that approaches them -----------------------------

def salient_environment(world: World, n_salient: int, n_objects: int, walk_length: int, seed: int, *,
                        approach: float = 0.5):
    """One salient-object environment of ``world`` and a walk in it, drawn by
    :class:`envs.WalkSampler` with ``salient=n_salient`` (as training with ``--salient`` draws them):
    ``(salient (n_salient,), objects (n_nodes,), nodes (L,), actions (L,))``, with
    ``actions[0] = -1``. The salient nodes carry the reserved id ``n_objects - 1``; with probability
    ``approach`` each step heads for the current target, half of the targets being salient nodes."""
    sampler = WalkSampler([world], 1, walk_length, walk_length, n_objects, WalkPolicy(approach=approach), seed,
                          stagger=False, salient=n_salient)
    batch = sampler.next_window()
    return (np.sort(sampler.salient_nodes[0]), sampler.objects[0, :world.n_nodes].copy(), batch.node[0],
            batch.action[0])


@torch.no_grad()
def mec_rate_maps(model, nodes: np.ndarray, actions: np.ndarray, objects: np.ndarray, n_nodes: int, *,
                  window: int = 100, device="cpu") -> np.ndarray:
    """``(n_mec, n_nodes)`` mean MEC activity per node over the second half of one walk (``nodes,
    actions (L,)``, ``objects (n_nodes,)`` the object at each node; NaN where not visited then)."""
    length = len(nodes) - len(nodes) % window
    walk = Batch(objects[nodes[None, :length]], actions[None, :length], nodes[None, :length], np.array([True]),
                 np.zeros(1, dtype=np.int64))
    total, occupancy = None, np.zeros(n_nodes)
    for start, (batch, out) in zip(range(0, length, window),
                                   run_windows(model, split_window(walk, window), 1, device=device,
                                               return_activity=False)):
        keep = np.arange(start, start + window) >= length // 2
        if not keep.any():
            continue
        mec = out.mec[0].float().cpu().numpy()[keep]  # (k, n_mec)
        total = np.zeros((mec.shape[1], n_nodes)) if total is None else total
        np.add.at(total.T, batch.node[0][keep], mec)
        np.add.at(occupancy, batch.node[0][keep], 1)
    return total / np.where(occupancy > 0, occupancy, np.nan)


def object_vector_run(run_dir, world_spec: str = "square:11", n_salient: int = 2, walk_length: int | None = None,
                      seed: int = 0, *, n_shuffles: int = 100, approach: float = 0.5, device: str = "cpu",
                      max_distance: float | None = None) -> dict:
    """Walk a trained run in two salient-object environments of ``world_spec``'s first world and
    score its MEC units (see :func:`object_vector_scores`).

    Both environments have the same structure, ``n_salient`` salient nodes (different, drawn with
    ``seed``) carrying the reserved id ``n_objects - 1`` of the run, fresh ordinary objects, and a
    walk of ``walk_length`` steps (default ``50 * n_nodes``) from :func:`salient_environment`. A
    model trained without salient objects (no ``--salient``) shows whether object-vector coding comes
    out of the learnt structure; one trained with them, whether it is learnt. Writes
    ``RUN/objectvector.json`` (the summary and per-unit scores) and ``RUN/objectvector.png``; returns
    the summary.
    """
    from tem.checkpoint import load_checkpoint, restore_model

    run_dir = Path(run_dir)
    model = restore_model(load_checkpoint(run_dir)).to(device).eval()
    world = make_worlds(world_spec)[0]
    if tuple(world.action_names) != tuple(model.task.action_names):
        raise ValueError(f"world {world_spec!r} has actions {list(world.action_names)}, the model "
                         f"{list(model.task.action_names)}")
    n_objects = model.task.n_objects
    walk_length = walk_length or 50 * world.n_nodes
    if not 1 <= n_salient < world.n_nodes:
        raise ValueError(f"need 1 <= n_salient < {world.n_nodes} (the world's nodes), got {n_salient}")
    envs, draw = [], seed * 1000
    for _ in range(2):
        salient, objects, nodes, actions = salient_environment(world, n_salient, n_objects, walk_length, draw,
                                                               approach=approach)
        while envs and np.isin(salient, envs[0][0]).any():  # B's objects stand elsewhere than A's
            draw += 1
            salient, objects, nodes, actions = salient_environment(world, n_salient, n_objects, walk_length, draw,
                                                                   approach=approach)
        draw += 1
        envs.append((salient, objects, mec_rate_maps(model, nodes, actions, objects, world.n_nodes, device=device)))
    (sal_a, _, maps_a), (sal_b, _, maps_b) = envs
    scores = object_vector_scores(maps_a, maps_b, world.positions, sal_a, sal_b, n_shuffles=n_shuffles, seed=seed,
                                  max_distance=max_distance)
    summary = {"world": world.name, "n_salient": n_salient, "salient_object_id": n_objects - 1,
               "walk_length": walk_length, "approach": approach, "seed": seed, "n_shuffles": n_shuffles,
               "n_mec_units": len(maps_a), "n_scored": scores["n_scored"],
               "object_vector_fraction": scores["object_vector_fraction"],
               "median_r": _num(np.nanmedian(scores["r"])) if scores["n_scored"] else None,
               "salient_a": sal_a.tolist(), "salient_b": sal_b.tolist(),
               "units": [{"unit": i, "r": _num(r), "threshold": _num(t), "is_ovc": bool(o)} for i, (r, t, o)
                         in enumerate(zip(scores["r"], scores["threshold"], scores["is_ovc"]))]}
    (run_dir / "objectvector.json").write_text(json.dumps(summary, indent=2))
    fig, _ = plot_object_vector_units(maps_a, maps_b, world.positions, sal_a, sal_b, scores)
    fig.savefig(run_dir / "objectvector.png", dpi=100)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return {k: v for k, v in summary.items() if k != "units"}


def _num(x) -> float | None:
    return float(x) if np.isfinite(x) else None


def plot_object_vector_units(maps_a, maps_b, positions, objects_a, objects_b, scores: dict, *, n_units: int = 4,
                             fig=None):
    """For the ``n_units`` units of highest r: rate maps in A and B (salient objects as stars) and
    the object-centred maps in A and B (the object at (0, 0) as a star). Returns ``(fig, axes)``."""
    import matplotlib.pyplot as plt

    r = np.where(np.isfinite(scores["r"]), scores["r"], -np.inf)
    best = np.argsort(-r, kind="stable")[:n_units]
    if fig is None:
        fig = plt.figure(figsize=(10, 2.4 * max(len(best), 1)))
    axes = fig.subplots(max(len(best), 1), 4, squeeze=False)
    bins_a, bins_b = displacement_bins(positions, objects_a), displacement_bins(positions, objects_b)
    keys = np.unique(np.concatenate([bins_a, bins_b]), axis=0)
    for row, unit in zip(axes, best):
        oc = [object_centred_maps(m[unit:unit + 1], b, keys)[0] for m, b in ((maps_a, bins_a), (maps_b, bins_b))]
        origin = np.zeros((1, 2))
        panels = [(positions, maps_a[unit], positions[objects_a], "A"),
                  (positions, maps_b[unit], positions[objects_b], "B"),
                  (keys, oc[0], origin, "A object-centred"), (keys, oc[1], origin, "B object-centred")]
        for ax, (xy, value, stars, title) in zip(row, panels):
            ax.scatter(xy[:, 0], xy[:, 1], c=value, s=30, marker="s", cmap="viridis")
            ax.scatter(stars[:, 0], stars[:, 1], marker="*", s=120, c="red")
            ax.set_aspect("equal")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"unit {unit} {title}", fontsize=8)
        row[0].set_ylabel(f"r={scores['r'][unit]:.2f}\nthr={scores['threshold'][unit]:.2f}", fontsize=8)
    fig.tight_layout()
    return fig, axes
