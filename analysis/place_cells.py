"""Place-likeness of units from their activity along a walk, with time-shift shuffles.

Permuting the bins of a map leaves its Skaggs information unchanged (it depends only on the
histogram of rates under uniform occupancy), so the shuffle here is the one used for recorded
place cells: the unit's activity is circularly shifted in time against the walk, which keeps its
temporal statistics and the walk's occupancy but breaks the link between activity and place.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse

from analysis.scores import _information, count_fields, rasterise

PLACE_METHOD = ("Skaggs spatial information (bits per unit activity, occupancy from the walk) against the "
                "percentile of the same statistic over circular time shifts of the activity; fields = "
                "8-connected regions of the rasterised map above a fraction of its peak covering at "
                "least one node; a place unit has exactly one field, covering at most a quarter of the "
                "visited nodes")
MAX_FIELD_FRACTION = 0.25


def node_maps(activity: np.ndarray, nodes: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean activity per node: ``activity (K, U)`` at ``nodes (K,)`` -> ``maps (U, n_nodes)`` (NaN
    where never visited) and ``occupancy (n_nodes,)`` visit counts."""
    onehot = sparse.csr_matrix((np.ones(len(nodes)), (nodes, np.arange(len(nodes)))), shape=(n_nodes, len(nodes)))
    occupancy = np.asarray(onehot.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        maps = np.asarray(onehot @ activity).T / np.where(occupancy > 0, occupancy, np.nan)
    return maps, occupancy


def place_cell_scores(activity: np.ndarray, nodes: np.ndarray, world, *, n_shuffles: int = 100,
                      percentile: float = 95, min_shift: int | None = None, field_threshold: float = 0.5,
                      rng) -> list[dict]:
    """Score units whose ``activity (K, U)`` was recorded at ``nodes (K,)`` of ``world``.

    Returns one dict per unit: ``spatial_information``, ``spatial_information_threshold``
    (``percentile`` over ``n_shuffles`` circular shifts of at least ``min_shift`` steps, default
    K/20), ``n_fields`` and ``is_place`` (information above threshold and exactly one field).
    """
    activity = np.asarray(activity, dtype=float)
    nodes = np.asarray(nodes)
    if activity.ndim != 2 or len(activity) != len(nodes):
        raise ValueError(f"activity must be (K, n_units) with K = len(nodes) = {len(nodes)}, got {activity.shape}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    K = len(nodes)
    min_shift = max(1, K // 20) if min_shift is None else min_shift
    maps, occupancy = node_maps(activity, nodes, world.n_nodes)
    information = _information(maps, occupancy)
    shuffled = np.stack([_information(node_maps(np.roll(activity, int(shift), axis=0), nodes, world.n_nodes)[0],
                                      occupancy)
                         for shift in rng.integers(min_shift, max(min_shift + 1, K - min_shift), n_shuffles)])
    with warnings.catch_warnings():  # a silent unit has NaN information in every shuffle
        warnings.simplefilter("ignore", RuntimeWarning)
        thresholds = np.nanpercentile(shuffled, percentile, axis=0) if n_shuffles else np.full(len(maps), np.nan)
    min_bins = 1 if world.family.startswith("square") else 2  # one node: one bin on squares, a few on hex rasters
    results = []
    for unit, unit_map in enumerate(maps):
        fields = count_fields(rasterise(unit_map, world.positions), threshold=field_threshold, min_bins=min_bins)
        shifted = unit_map - min(np.nanmin(unit_map), 0.0)
        fraction = float(np.nanmean(shifted > field_threshold * np.nanmax(shifted)))
        results.append({"spatial_information": float(information[unit]),
                        "spatial_information_threshold": float(thresholds[unit]), "n_fields": int(fields),
                        "field_fraction": round(fraction, 4),
                        "is_place": bool(information[unit] > thresholds[unit] and fields == 1
                                         and fraction <= MAX_FIELD_FRACTION)})
    return results
