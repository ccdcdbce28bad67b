"""Gridness of rate maps: s60 and s90 (DeepMind-style annulus scores), grid spacing and
orientation, and grid units scored against shuffle thresholds.

A rate map is a ``(H, W)`` float array: row = y bin, column = x bin, NaN (or inf) = unvisited.
Angles are in degrees, counter-clockwise from +x in that frame; distances are in bins. s60 is
``mean(c60, c120) - mean(c30, c90, c150)`` and s90 is ``c90 - mean(c45, c135)``, where ``cA`` is
the Pearson correlation of the map's autocorrelogram with its rotation by A degrees inside an
annulus around the centre; each is maximised over annuli. A unit is a grid unit when its s60 is
above the 95th percentile of the s60 of maps with its values permuted.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from analysis.maps import (_as_raster, _check_map, _default_min_overlap, _nan_reduce, _rng,
                           autocorrelogram, shuffled_maps, smooth_map)

GRID_ANGLES = (30, 45, 60, 90, 120, 135, 150)  # rotations of the autocorrelogram, degrees
INNER_FRACTION = 0.2  # DeepMind's scorer: annuli from 0.2 ...
OUTER_FRACTIONS = tuple(float(f) for f in np.linspace(0.4, 1.0, 10))  # ... to 0.4-1.0 map sides
GRID_METHOD = ("deepmind-style annulus gridness (Banino et al. 2018): Pearson correlations of the "
               "NaN-aware autocorrelogram with its rotations by 30-150 degrees inside annuli "
               "around the masked central peak; s60 and s90 each maximised over annuli")


# ----------------------------------------------------------------------------- gridness
def _rotations(sac: np.ndarray, angles: Sequence[float],
               order: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotations of ``sac (h, w)`` about its centre: values and validity, both ``(A, h, w)``.

    NaN bins are first filled with their nearest finite value (so the spline sees no hole), rotated
    with ``scipy.ndimage.rotate(order=order, reshape=False)``; a rotated bin is valid only where
    all four bilinear neighbours of its source point are finite and inside the array.
    """
    finite = np.isfinite(sac)
    nearest = ndimage.distance_transform_edt(~finite, return_distances=False, return_indices=True)
    filled = sac[tuple(nearest)]
    values, valid = [], []
    for angle in angles:
        values.append(ndimage.rotate(filled, angle, reshape=False, order=order, mode="nearest"))
        mask = ndimage.rotate(finite.astype(float), angle, reshape=False, order=1, mode="constant")
        valid.append(mask > 1 - 1e-6)
    return np.stack(values), np.stack(valid)


def _ring_correlations(sac: np.ndarray, rotated: np.ndarray, rot_valid: np.ndarray,
                       inner: float, outers: np.ndarray) -> np.ndarray:
    """Pearson correlation ``(R, A)`` of ``sac`` with each rotation inside each annulus
    ``inner <= r < outers[r]``, over bins finite in ``sac`` and valid in the rotation.

    The annuli are nested, so each sum is a cumulative sum over the bins grouped by the first
    annulus that contains them (bincount, not a matrix product: no BLAS threads for tiny work).
    """
    h, w = sac.shape
    yy, xx = np.indices((h, w))
    radius = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2).ravel()
    first = np.searchsorted(outers, radius, side="right")  # bin lies in annulus k for all k >= first
    keep = (radius >= inner) & (first < len(outers))
    first = first[keep]
    a = np.nan_to_num(sac).ravel()[keep]
    joint = (rot_valid & np.isfinite(sac)).reshape(len(rotated), -1)[:, keep].astype(float)  # (A, P)
    b = rotated.reshape(len(rotated), -1)[:, keep] * joint

    def ring_sums(q: np.ndarray) -> np.ndarray:  # (A, P) -> (R, A)
        per_ring = np.stack([np.bincount(first, weights=row, minlength=len(outers)) for row in q], axis=1)
        return np.cumsum(per_ring, axis=0)

    n, s_a, s_b = ring_sums(joint), ring_sums(joint * a), ring_sums(b)
    var_a = n * ring_sums(joint * a * a) - s_a ** 2
    var_b = n * ring_sums(b * b) - s_b ** 2
    cov = n * ring_sums(b * a) - s_a * s_b
    ok = (n >= 3) & (var_a > 1e-12 * n ** 2) & (var_b > 1e-12 * n ** 2)
    out = np.full(n.shape, np.nan)
    out[ok] = cov[ok] / np.sqrt(var_a[ok] * var_b[ok])
    return out


def _best(scores: np.ndarray, outers: np.ndarray, inner: float) -> tuple[float, tuple | None]:
    """Max of ``scores (R,)`` over annuli and the ``(inner, outer)`` radii where it is reached."""
    if not np.isfinite(scores).any():
        return float("nan"), None
    i = int(np.nanargmax(scores))
    return float(scores[i]), (float(inner), float(outers[i]))


def _gridness(x: np.ndarray, min_overlap: int, inner_fraction: float,
              outer_fractions: Sequence[float], order: int) -> dict:
    """s60, s90 and their best annuli for a checked map ``x (H, W)``, plus its autocorrelogram."""
    sac = autocorrelogram(x, min_overlap=min_overlap)
    side = min(x.shape)
    inner = inner_fraction * side
    outers = np.array([f * side for f in outer_fractions if f * side > inner])
    if not np.isfinite(sac).any() or outers.size == 0:
        return {"s60": np.nan, "s90": np.nan, "annulus60": None, "annulus90": None, "autocorr": sac}
    rotated, rot_valid = _rotations(sac, GRID_ANGLES, order)
    c = dict(zip(GRID_ANGLES, _ring_correlations(sac, rotated, rot_valid, inner, outers).T))
    s60 = (c[60] + c[120]) / 2 - (c[30] + c[90] + c[150]) / 3
    s90 = c[90] - (c[45] + c[135]) / 2
    (best60, ring60), (best90, ring90) = _best(s60, outers, inner), _best(s90, outers, inner)
    return {"s60": best60, "s90": best90, "annulus60": ring60, "annulus90": ring90,
            "autocorr": sac}


def grid_scores(rate_map, *, min_overlap: int | None = None, inner_fraction: float = INNER_FRACTION,
                outer_fractions: Sequence[float] = OUTER_FRACTIONS, order: int = 3) -> dict:
    """DeepMind-style gridness of a ``(H, W)`` rate map (NaN = unvisited).

    The NaN-aware autocorrelogram (``autocorrelogram(min_overlap)``) is rotated by 30, 45, 60, 90,
    120, 135 and 150 degrees (spline ``order``, 3 = scipy's default, as DeepMind's scorer) and
    Pearson-correlated with itself inside annuli ``inner <= r < outer`` around its centre, with
    ``inner = inner_fraction * min(H, W)`` masking the central peak and ``outer = f * min(H, W)``
    for ``f`` in ``outer_fractions`` (DeepMind: 0.2 and 0.4..1.0 in 10 steps). As in DeepMind's
    scorer the inner radius is fixed, not fitted to the central peak: patterns whose spacing is
    large against the map keep part of the central peak in the annuli.
    ``s60 = mean(c60, c120) - mean(c30, c90, c150)`` and ``s90 = c90 - mean(c45, c135)`` are each
    maximised over annuli. Constant maps give NaN scores.

    Returns a dict: ``s60``, ``s90`` (floats), ``annulus60``/``annulus90`` (``(inner, outer)``
    radii in bins of the best annulus, or None), ``spacing`` (bins) and ``orientation`` (degrees)
    from ``grid_spacing_orientation``, ``method`` (str) and ``params`` (the parameters used).
    """
    x = _check_map(rate_map)
    if min_overlap is None:
        min_overlap = _default_min_overlap(int(np.isfinite(x).sum()))
    result = _gridness(x, min_overlap, inner_fraction, outer_fractions, order)
    spacing, orientation = grid_spacing_orientation(result.pop("autocorr"))
    side = min(x.shape)
    params = {"angles": GRID_ANGLES, "inner_radius": inner_fraction * side,
              "outer_radii": [f * side for f in outer_fractions if f > inner_fraction],
              "radius_unit": "bins", "min_overlap": min_overlap, "interpolation_order": order}
    return {**result, "spacing": spacing, "orientation": orientation, "method": GRID_METHOD,
            "params": params}


def grid_spacing_orientation(autocorr, n_peaks: int = 6, smooth: float = 1.0) -> tuple[float, float]:
    """Grid spacing (bins) and orientation (degrees) from a ``(h, w)`` autocorrelogram.

    The autocorrelogram is first smoothed (``smooth_map``, sigma ``smooth`` bins), so that ripples
    of the raster's sampling along a ridge (band cells on hex rasters) are not taken for peaks.
    Peaks are the positive local maxima over 3x3 neighbourhoods (``scipy.ndimage.maximum_filter``),
    the centre excluded, refined to sub-bin precision by a parabola through each peak and its
    neighbours along each axis. Of the ``n_peaks`` nearest the centre: spacing = median distance,
    orientation = smallest angle in [0, 360) (in [0, 60) for a hexagonal ring of six peaks).
    (NaN, NaN) when fewer than 3 peaks are found.
    """
    sac = np.asarray(autocorr, dtype=float)
    if sac.ndim != 2:
        raise ValueError(f"autocorr must be a 2D array, got shape {sac.shape}")
    sac = smooth_map(sac, smooth)
    f = np.where(np.isfinite(sac), sac, -np.inf)
    local_max = f == ndimage.maximum_filter(f, size=3, mode="constant", cval=-np.inf)
    peak = local_max & np.isfinite(sac) & (f > 0)
    rows, cols = np.nonzero(peak)
    cy, cx = (sac.shape[0] - 1) / 2, (sac.shape[1] - 1) / 2
    pad = np.pad(f, 1, constant_values=-np.inf)
    r, c = rows + 1, cols + 1

    def offset(lo, mid, hi):  # vertex of the parabola through (-1, lo), (0, mid), (1, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = (lo - hi) / (2 * (lo - 2 * mid + hi))
        return np.where(np.isfinite(d), np.clip(d, -0.5, 0.5), 0.0)

    dy = rows + offset(pad[r - 1, c], pad[r, c], pad[r + 1, c]) - cy
    dx = cols + offset(pad[r, c - 1], pad[r, c], pad[r, c + 1]) - cx
    dist = np.hypot(dy, dx)
    keep = np.hypot(rows - cy, cols - cx) > 0
    dy, dx, dist = dy[keep], dx[keep], dist[keep]
    if dist.size < 3:
        return float("nan"), float("nan")
    nearest = np.argsort(dist, kind="stable")[:n_peaks]
    angles = np.degrees(np.arctan2(dy[nearest], dx[nearest])) % 360.0
    return float(np.median(dist[nearest])), float(angles.min())


# ----------------------------------------------------------------------------- units and shuffles
def _grid_unit(rate_map, positions, n_shuffles: int, percentile: float, rng, **kwargs) -> dict:
    """``grid_scores`` plus shuffle thresholds of s60 and s90 from the same permuted maps."""
    scores = grid_scores(_as_raster(rate_map, positions), **kwargs)
    p = scores["params"]
    args = (p["min_overlap"], kwargs.get("inner_fraction", INNER_FRACTION),
            kwargs.get("outer_fractions", OUTER_FRACTIONS), p["interpolation_order"])
    maps = shuffled_maps(rate_map, n_shuffles, rng=rng)  # (S, H, W) or (S, n_nodes)
    shuffled = [_gridness(_check_map(_as_raster(m, positions)), *args) for m in maps]
    for key in ("s60", "s90"):
        values = [s[key] for s in shuffled]
        scores[f"{key}_threshold"] = _nan_reduce(values, np.percentile, percentile)
    scores["is_grid"] = bool(scores["s60"] > scores["s60_threshold"])
    scores["params"] = {**p, "n_shuffles": n_shuffles, "percentile": percentile}
    return scores


def score_units(rate_maps, *, positions=None, n_shuffles: int = 100, percentile: float = 95, rng,
                progress: bool = False, **kwargs) -> list[dict]:
    """Gridness of every map of ``rate_maps (n_units, H, W)``, or with ``positions (n_nodes, 2)`` of
    node values ``(n_units, n_nodes)`` (rasterised, node values permuted for the shuffles:
    preferred for hex worlds); returns one dict per unit (``n_units`` dicts).

    Each dict is ``grid_scores`` plus ``s60_threshold`` and ``s90_threshold`` (the ``percentile``
    of s60 and s90 over ``n_shuffles`` permuted maps) and ``is_grid`` (s60 above its threshold).
    ``kwargs`` go to ``grid_scores``; ``progress`` shows a tqdm bar. One generator serves all units.
    """
    maps = np.asarray(rate_maps, dtype=float)
    if maps.ndim != (3 if positions is None else 2):
        expected = "(n_units, H, W)" if positions is None else "(n_units, n_nodes) with positions"
        raise ValueError(f"rate_maps must be {expected}, got shape {maps.shape}")
    maps = np.where(np.isfinite(maps), maps, np.nan)  # inf = unvisited, like NaN
    rng = _rng(rng)
    if progress:
        from tqdm.auto import tqdm
        maps = tqdm(maps, desc="grid scores", unit="unit")
    return [_grid_unit(m, positions, n_shuffles, percentile, rng, **kwargs) for m in maps]


def fraction_above(scores: Sequence[dict], key: str, threshold: str | float) -> float:
    """Fraction of units whose ``scores[i][key]`` exceeds ``threshold``: another key of the same
    dict (e.g. ``"s60_threshold"``) or a number. ``scores``: one dict per unit (``n_units``).
    NaN counts as not above; NaN for no units."""
    if len(scores) == 0:
        return float("nan")
    value = np.array([s[key] for s in scores], dtype=float)
    limit = np.array([s[threshold] if isinstance(threshold, str) else threshold for s in scores],
                     dtype=float)
    with np.errstate(invalid="ignore"):
        return float(np.mean(value > limit))
