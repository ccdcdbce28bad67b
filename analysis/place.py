"""Place-likeness of units: Skaggs spatial information, place fields, and the place-unit test
against time-shift shuffles.

Skaggs information (bits per unit activity) is ``sum_i p_i (r_i / r) log2(r_i / r)`` over visited
places ``i`` with occupancy ``p_i`` and mean rate ``r = sum_i p_i r_i``. Permuting the bins of a map
leaves it unchanged (it depends only on the histogram of rates under uniform occupancy), so the
shuffle here is the one used for recorded place cells: the unit's activity is circularly shifted
in time against the walk, which keeps its temporal statistics and the walk's occupancy but breaks
the link between activity and place. A place unit has information above the shuffle percentile
and exactly one field (an 8-connected region of the rasterised map above a fraction of its peak),
with at most ``MAX_FIELD_FRACTION`` of the world's nodes above that fraction of the peak.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage, sparse

from analysis.maps import _check_map, _rng, raster_layout, rasterise_many

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


def _information(maps: np.ndarray, occupancy) -> np.ndarray:
    """Skaggs information ``(S,)`` of maps ``(S, ...)`` (rasters ``(S, H, W)`` or node maps
    ``(S, n_nodes)``) that share their NaN entries; ``occupancy`` has the shape of one map, or is
    None (uniform over the finite entries)."""
    valid = np.isfinite(maps[0])
    if occupancy is None:
        occ = valid.astype(float)
    else:
        occ = np.nan_to_num(np.asarray(occupancy, dtype=float), nan=0.0)
        if occ.shape != valid.shape or (occ < 0).any():
            raise ValueError(f"occupancy must be non-negative with shape {valid.shape}, "
                             f"got shape {occ.shape}")
        valid &= occ > 0
    if not valid.any():
        return np.full(len(maps), np.nan)
    p = occ[valid] / occ[valid].sum()  # (n,)
    rates = maps[:, valid]  # (S, n)
    rates = rates - np.minimum(rates.min(axis=1, keepdims=True), 0.0)  # signed units: min -> 0
    mean = rates @ p  # (S,)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = rates / mean[:, None]
        terms = np.where(ratio > 0, ratio * np.log2(np.where(ratio > 0, ratio, 1.0)), 0.0)
    return np.where(mean > 0, np.maximum(terms @ p, 0.0), np.nan)  # >= 0 up to rounding


def _shifted_information(activity: np.ndarray, nodes: np.ndarray, n_nodes: int, occupancy: np.ndarray,
                         shifts: np.ndarray, chunk: int = 25) -> np.ndarray:
    """Skaggs information ``(S, U)`` of the node maps of ``activity (K, U)`` circularly shifted in time
    by each of ``shifts (S,)`` steps against the walk ``nodes (K,)``: ``node_maps(np.roll(activity,
    shift, axis=0), nodes, n_nodes)`` for all shifts at once, ``chunk`` shifts per sparse product
    (rolling the activity forward is rolling the nodes back: step ``k``'s activity is counted at
    node ``nodes[(k + shift) % K]``)."""
    K, n_units = activity.shape
    steps = np.arange(K)
    out = np.empty((len(shifts), n_units))
    with np.errstate(invalid="ignore", divide="ignore"):
        visited = np.where(occupancy > 0, occupancy, np.nan)
    for lo in range(0, len(shifts), chunk):
        part = np.asarray(shifts[lo:lo + chunk], dtype=np.int64)
        rows = (np.arange(len(part))[:, None] * n_nodes + nodes[(steps + part[:, None]) % K]).ravel()
        onehot = sparse.csr_matrix((np.ones(rows.size), (rows, np.tile(steps, len(part)))),
                                   shape=(len(part) * n_nodes, K))
        maps = np.asarray(onehot @ activity).reshape(len(part), n_nodes, n_units) / visited[:, None]
        out[lo:lo + chunk] = _information(maps.transpose(0, 2, 1).reshape(-1, n_nodes),
                                          occupancy).reshape(len(part), n_units)
    return out


def spatial_information(rate_map, occupancy=None) -> float:
    """Skaggs spatial information (bits/spike) of a ``(H, W)`` rate map, NaN = unvisited:
    ``sum_i p_i (r_i / r) log2(r_i / r)`` with ``r = sum_i p_i r_i``.

    occupancy: ``(H, W)`` time per bin (``p_i`` proportional to it); None = uniform over the finite
    bins. Negative rates (units with signed activity) are shifted so that the minimum is 0, which
    makes the value depend on the map's minimum; a map that is 0 everywhere gives NaN.
    """
    x = _check_map(rate_map, min_size=1)
    return float(_information(x[None], occupancy)[0])


def count_fields(rate_map, *, threshold: float = 0.5, min_bins: int = 2) -> int:
    """Number of place fields of a ``(H, W)`` map: 8-connected regions (diagonal neighbours join)
    of at least ``min_bins`` bins where the rate exceeds ``threshold * peak``. Maps with negative
    values are shifted so that their minimum is 0 first (as ``spatial_information``)."""
    x = _check_map(rate_map, min_size=1)
    x = x - min(np.nanmin(x), 0.0)
    peak = np.nanmax(x)
    if not peak > 0:
        return 0
    with np.errstate(invalid="ignore"):
        above = x > threshold * peak
    labels, n = ndimage.label(above, structure=np.ones((3, 3), dtype=int))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return int((sizes >= min_bins).sum())


def place_cell_scores(activity: np.ndarray, nodes: np.ndarray, world, *, n_shuffles: int = 100,
                      percentile: float = 95, min_shift: int | None = None, field_threshold: float = 0.5,
                      rng) -> list[dict]:
    """Score units whose ``activity (K, U)`` was recorded at ``nodes (K,)`` of ``world`` (its
    ``n_nodes``, ``positions (n_nodes, 2)`` and ``lattice`` are read).

    Returns one dict per unit (``U`` dicts): ``spatial_information`` (Skaggs, occupancy from the
    walk), ``spatial_information_threshold`` (``percentile`` over ``n_shuffles`` circular shifts
    of at least ``min_shift`` steps, default K/20), ``n_fields`` (``count_fields`` of the
    rasterised node map above ``field_threshold`` of its peak: at least 1 bin on square lattices,
    2 otherwise), ``field_fraction`` (fraction of the world's ``n_nodes`` nodes above
    ``field_threshold`` of the peak; unvisited nodes count as below) and ``is_place``
    (information above threshold, exactly one field, field fraction at most
    ``MAX_FIELD_FRACTION``).
    """
    activity = np.asarray(activity, dtype=float)
    nodes = np.asarray(nodes)
    if activity.ndim != 2 or len(activity) != len(nodes):
        raise ValueError(f"activity must be (K, n_units) with K = len(nodes) = {len(nodes)}, got {activity.shape}")
    rng = _rng(rng)
    K = len(nodes)
    min_shift = max(1, K // 20) if min_shift is None else min_shift
    maps, occupancy = node_maps(activity, nodes, world.n_nodes)  # (U, n_nodes), (n_nodes,)
    information = _information(maps, occupancy)
    shifts = rng.integers(min_shift, max(min_shift + 1, K - min_shift), n_shuffles)
    shuffled = _shifted_information(activity, nodes, world.n_nodes, occupancy, shifts)  # (n_shuffles, U)
    with warnings.catch_warnings():  # a silent unit has NaN information in every shuffle
        warnings.simplefilter("ignore", RuntimeWarning)
        thresholds = np.nanpercentile(shuffled, percentile, axis=0) if n_shuffles else np.full(len(maps), np.nan)
    min_bins = 1 if world.lattice == "square" else 2  # one node: one bin on squares, a few on hex rasters
    rasters = rasterise_many(maps, raster_layout(world.positions))
    results = []
    for unit, unit_map in enumerate(maps):
        fields = count_fields(rasters[unit], threshold=field_threshold, min_bins=min_bins)
        shifted = unit_map - min(np.nanmin(unit_map), 0.0)
        fraction = float(np.nanmean(shifted > field_threshold * np.nanmax(shifted)))
        results.append({"spatial_information": float(information[unit]),
                        "spatial_information_threshold": float(thresholds[unit]), "n_fields": int(fields),
                        "field_fraction": round(fraction, 4),
                        "is_place": bool(information[unit] > thresholds[unit] and fields == 1
                                         and fraction <= MAX_FIELD_FRACTION)})
    return results
