"""Non-random remapping: place units remap between worlds but keep their relationship to grid units.

Whittington et al. (Cell 2020) re-analysed grid and place cells recorded in two environments (Barry
et al.): a grid cell's firing rate at a place cell's peak in one environment correlates with its rate
at that place cell's (new) peak in the other, more than when the place cells' identities are shuffled
between the environments. Place cells remap, but to places of the same grid phase.

Here the grid units are the model's MEC units and the place units are hippocampal units that are
place-like in both worlds. The analysis needs hippocampal unit ``j`` to be the same unit in both
worlds, so it applies to models with a fixed population (``model.hippocampal_units == "neuron"``: TEM's
p cells, the SDM's neurons); an attention memory's units are walk steps and are skipped.
"""
from __future__ import annotations

import numpy as np

from analysis.place import place_cell_scores

RELATIONSHIP_METHOD = (
    "for every pair (MEC unit i, hippocampal unit j place-like in both worlds), MEC unit i's rate at j's "
    "peak node in world A against its rate at j's peak node in world B (each MEC map z-scored over its "
    "visited nodes in each world); r = Pearson correlation over pairs; null: the peaks in B permuted "
    "among the place units (identities shuffled between worlds), p = (1 + #(null r >= r)) / (1 + n_null)")


def peak_nodes(maps: np.ndarray) -> np.ndarray:
    """``(n_units,)`` node of the highest rate of each node map in ``maps (n_units, n_nodes)`` (NaN =
    unvisited; -1 for a map with no finite value)."""
    maps = np.asarray(maps, dtype=float)
    finite = np.isfinite(maps).any(axis=1)
    peaks = np.full(len(maps), -1, dtype=np.int64)
    if finite.any():
        peaks[finite] = np.nanargmax(maps[finite], axis=1)
    return peaks


def _standardise(mec: np.ndarray) -> np.ndarray:
    """Each row of ``mec (n_mec, n_nodes)`` z-scored over its finite nodes (a flat row becomes 0)."""
    mean = np.nanmean(mec, axis=1, keepdims=True)
    std = np.nanstd(mec, axis=1, keepdims=True)
    return (mec - mean) / np.where(std > 0, std, 1.0)


def relationship_pairs(mec_a, mec_b, peaks_a, peaks_b, *, standardise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Rates of every MEC unit at every place unit's peak: ``x[i, j] = mec_a[i, peaks_a[j]]`` and
    ``y[i, j] = mec_b[i, peaks_b[j]]``, both ``(n_mec, n_units)``; with ``standardise`` each MEC map
    is z-scored over its finite nodes in its own world first."""
    mec_a, mec_b = np.asarray(mec_a, dtype=float), np.asarray(mec_b, dtype=float)
    if mec_a.ndim != 2 or mec_a.shape != mec_b.shape:
        raise ValueError(f"mec_a and mec_b must both be (n_mec, n_nodes), got {mec_a.shape} and {mec_b.shape}")
    peaks_a, peaks_b = np.asarray(peaks_a, dtype=np.int64), np.asarray(peaks_b, dtype=np.int64)
    if peaks_a.shape != peaks_b.shape or peaks_a.ndim != 1:
        raise ValueError(f"peaks_a and peaks_b must both be (n_units,), got {peaks_a.shape} and {peaks_b.shape}")
    if len(peaks_a) and (min(peaks_a.min(), peaks_b.min()) < 0 or max(peaks_a.max(), peaks_b.max()) >= mec_a.shape[1]):
        raise ValueError(f"peaks must be node indices in [0, {mec_a.shape[1]})")
    if standardise:
        with np.errstate(invalid="ignore"):
            mec_a, mec_b = _standardise(mec_a), _standardise(mec_b)
    return mec_a[:, peaks_a], mec_b[:, peaks_b]


def _pearson_rows(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``x (n,)`` with each row of ``ys (S, n)`` (NaN where a row is flat)."""
    xc = x - x.mean()
    yc = ys - ys.mean(axis=1, keepdims=True)
    denominator = np.sqrt((xc ** 2).sum() * (yc ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, yc @ xc / denominator, np.nan)


def grid_place_relationship(mec_a, mec_b, peaks_a, peaks_b, n_null: int = 1000, seed: int = 0, *,
                            standardise: bool = True) -> dict:
    """Whether place units keep their relationship to grid units across two worlds.

    ``mec_a``, ``mec_b``: ``(n_mec, n_nodes)`` MEC rate maps in world A and B (NaN = unvisited);
    ``peaks_a``, ``peaks_b``: ``(n_units,)`` peak node of each place unit in A and in B (unit ``j`` the
    same unit in both). Pairs are every (MEC unit, place unit) with finite rates in both worlds.

    Returns ``r`` (Pearson correlation over pairs of the rate at the peak in A with the rate at the
    peak in B), ``p`` (against ``n_null`` permutations of the peaks in B among the place units, seeded
    by ``seed``: ``(1 + #(null r >= r)) / (1 + n_null)``), ``n_pairs``, ``null_r_mean``, ``null_r_95``
    (95th percentile of the null) and ``n_place_units``; ``r``, ``p`` and the null are None when there
    are fewer than 2 place units or 3 pairs. ``standardise``: z-score each MEC map over its nodes in
    each world first, so that differences in mean rate between MEC units do not make ``r`` large in
    the null as well.
    """
    x, y = relationship_pairs(mec_a, mec_b, peaks_a, peaks_b, standardise=standardise)  # (n_mec, n_units)
    n_units = x.shape[1]
    result = {"r": None, "p": None, "n_pairs": 0, "null_r_mean": None, "null_r_95": None,
              "n_place_units": int(n_units), "n_null": int(n_null)}
    pair_ok = np.isfinite(x) & np.isfinite(y)
    result["n_pairs"] = int(pair_ok.sum())
    if n_units < 2 or result["n_pairs"] < 3:
        return result
    r = _pearson_rows(x[pair_ok], y[pair_ok][None])[0]
    rng = np.random.default_rng(seed)
    null = np.empty(n_null)
    chunk = max(1, 2_000_000 // max(1, x.size))
    for lo in range(0, n_null, chunk):
        perms = np.stack([rng.permutation(n_units) for _ in range(min(chunk, n_null - lo))])  # (S, n_units)
        ys = y[:, perms].transpose(1, 0, 2)  # (S, n_mec, n_units): unit j's B peak from unit perm[j]
        ok = np.isfinite(x)[None] & np.isfinite(ys)
        if ok.all():
            null[lo:lo + len(perms)] = _pearson_rows(x.ravel(), ys.reshape(len(perms), -1))
        else:  # pairs differ between permutations: one at a time
            null[lo:lo + len(perms)] = [_pearson_rows(x[m], ys_s[m][None])[0] for ys_s, m in zip(ys, ok)]
    finite = null[np.isfinite(null)]
    if np.isfinite(r):
        result["r"] = round(float(r), 4)
        result["p"] = round(float((1 + np.sum(finite >= r)) / (1 + len(finite))), 5)
    if len(finite):
        result["null_r_mean"] = round(float(finite.mean()), 4)
        result["null_r_95"] = round(float(np.percentile(finite, 95)), 4)
    return result


def relationship_for_run(model, first, second, world, is_place_a, *, n_shuffles: int = 100, n_null: int = 1000,
                         seed: int = 0) -> tuple[dict, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`grid_place_relationship` of two :class:`~analysis.ratemaps.RateMaps` walks of ``world``
    with different objects (``first``: world A, ``second``: world B).

    ``is_place_a (n_hpc_units,)``: the place test of ``first``'s hippocampal units. Hippocampal units
    are matched by id (``hpc_units``): a walk maps the units most active in it, so only the ids mapped
    in both walks are used; ``second``'s units among them get the place test
    (:func:`analysis.place.place_cell_scores`, ``n_shuffles`` shuffles). Returns the result (with
    ``n_common_units`` and ``method``), or ``{"skipped": reason}``, and the ``(x, y)`` pairs of
    :func:`relationship_pairs` for a scatter plot (None when skipped or empty).
    """
    if model.hippocampal_units != "neuron":
        return {"skipped": f"hippocampal units are {model.hippocampal_units!r}s, not a fixed population of "
                           "neurons: unit j is not the same unit in both worlds"}, None
    if world.lattice is None:
        return {"skipped": "the place test needs a square or hexagonal world"}, None
    common, in_a, in_b = np.intersect1d(first.hpc_units, second.hpc_units, return_indices=True)
    place_b = np.zeros(len(common), dtype=bool)
    if len(common):
        scores = place_cell_scores(second.hpc_trace[:, in_b], second.nodes, world, n_shuffles=n_shuffles, rng=seed)
        place_b = np.array([s["is_place"] for s in scores], dtype=bool)
    both = np.asarray(is_place_a, dtype=bool)[in_a] & place_b
    peaks_a = peak_nodes(first.hippocampus[in_a[both]])
    peaks_b = peak_nodes(second.hippocampus[in_b[both]])
    result = grid_place_relationship(first.mec, second.mec, peaks_a, peaks_b, n_null=n_null, seed=seed)
    result.update(n_common_units=int(len(common)), n_place_a=int(np.sum(is_place_a)),
                  n_place_b=int(place_b.sum()), method=RELATIONSHIP_METHOD)
    pairs = relationship_pairs(first.mec, second.mec, peaks_a, peaks_b) if both.any() else None
    return result, pairs
