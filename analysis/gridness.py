"""Gridness of rate maps: s60 and s90 (DeepMind-style annulus scores), grid spacing and
orientation, and grid units scored against shuffle thresholds.

A rate map is a ``(H, W)`` float array: row = y bin, column = x bin, NaN (or inf) = unvisited.
Angles are in degrees, counter-clockwise from +x in that frame; distances are in bins. s60 is
``mean(c60, c120) - mean(c30, c90, c150)`` and s90 is ``c90 - mean(c45, c135)``, where ``cA`` is
the Pearson correlation of the map's autocorrelogram with its rotation by A degrees inside an
annulus around the centre; each is maximised over annuli. A unit is a grid unit when its s60 is
above the 95th percentile of the s60 of maps with its values permuted.

:func:`grid_scores` and :func:`score_units_reference` score one map at a time; :func:`score_units`
scores a unit and its shuffles together (autocorrelograms from batched FFTs, the rotations as one
sparse product per angle, built once per map shape and checked against ``scipy.ndimage.rotate``,
the annulus sums as sparse products), with the same values to rounding (~1e-13).
"""
from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import ndimage, sparse, special

from analysis.maps import (_as_raster, _check_map, _default_min_overlap, _nan_reduce, _rng, autocorrelogram,
                           autocorrelograms, raster_layout, rasterise_many, shuffled_maps, smooth_map)

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


def _s60_s90(c: dict) -> tuple[np.ndarray, np.ndarray]:
    """s60 and s90 from the correlations ``c[angle]`` with the rotations (arrays of any one shape)."""
    return (c[60] + c[120]) / 2 - (c[30] + c[90] + c[150]) / 3, c[90] - (c[45] + c[135]) / 2


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
    s60, s90 = _s60_s90(dict(zip(GRID_ANGLES, _ring_correlations(sac, rotated, rot_valid, inner, outers).T)))
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


# ----------------------------------------------------------------------------- many maps at once
SPLINE_PAD = 12  # scipy.ndimage pads by 12 bins ("edge") before its spline prefilter in mode "nearest"


class _RotationPlan(NamedTuple):
    """:func:`_rotations` on one autocorrelogram shape as sparse matrices, at the bins that count.

    ``pixels (P,)``: the flat bins inside the largest annulus and outside the inner radius, and the
    first annulus that holds each, ``ring (P,)``. ``operators``: one ``(P, (h + 2 pad) *
    (w + 2 pad))`` CSR matrix per angle of ``GRID_ANGLES``, from the spline coefficients of the
    filled map padded by ``pad`` bins to its rotation at ``pixels``.
    """

    pixels: np.ndarray
    ring: np.ndarray
    pad: int
    operators: tuple


class _Layout(NamedTuple):
    """What the autocorrelograms with one NaN layout share: ``nearest (h * w,)`` the flat index of
    each bin's nearest finite bin (the fill); ``rings``, per angle, the sparse ``(R, P)`` 0/1 matrix
    of the bins of ``plan.pixels`` where both the map and its rotation are valid, by the first
    annulus that holds them (``all_rings``: the angles' matrices stacked, ``(A * R, P)``); and
    ``counts (A, R, 1)``, the number of such bins in each nested annulus."""

    nearest: np.ndarray
    rings: tuple
    all_rings: sparse.csr_matrix
    counts: np.ndarray


def _spline_weights(x: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """First tap ``(N,)`` and the ``(N, order + 1)`` B-spline weights at coordinates ``x (N,)``
    (odd ``order``, as ``scipy.ndimage``: taps ``floor(x) - order // 2`` onwards)."""
    base = np.floor(x)
    t = x - base
    if order == 1:
        weights = np.stack([1 - t, t], axis=1)
    else:  # cubic B-spline
        u = 1 - t
        weights = np.stack([u ** 3 / 6, (3 * t ** 3 - 6 * t ** 2 + 4) / 6,
                            (3 * u ** 3 - 6 * u ** 2 + 4) / 6, t ** 3 / 6], axis=1)
    return base.astype(np.int64) - order // 2, weights


def _build_plan(shape: tuple[int, int], inner: float, outers: tuple, order: int) -> _RotationPlan | None:
    """The rotation plan of ``shape`` (None where a tap would leave the padded map)."""
    h, w = shape
    yy, xx = np.indices(shape)
    radius = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2).ravel()
    first = np.searchsorted(np.array(outers), radius, side="right")
    pixels = np.flatnonzero((radius >= inner) & (first < len(outers)))
    pad = SPLINE_PAD  # (order 1: the edge padding is what mode "nearest" reads past the edge)
    hp, wp = h + 2 * pad, w + 2 * pad
    rows, cols = np.divmod(pixels, w)
    centre = (np.array(shape) - 1) / 2
    operators = []
    for angle in GRID_ANGLES:  # as scipy.ndimage.rotate(reshape=False): source = R @ target + offset
        c, s = special.cosdg(angle), special.sindg(angle)
        rot = np.array([[c, s], [-s, c]])
        offset = centre - rot @ centre
        (r0, wr), (c0, wc) = (_spline_weights(rows * rot[i, 0] + cols * rot[i, 1] + offset[i] + pad, order)
                              for i in range(2))
        taps = np.arange(order + 1)
        tap_rows, tap_cols = r0[:, None] + taps, c0[:, None] + taps  # (P, order + 1)
        if tap_rows.min() < 0 or tap_rows.max() >= hp or tap_cols.min() < 0 or tap_cols.max() >= wp:
            return None
        index = (tap_rows[:, :, None] * wp + tap_cols[:, None, :]).reshape(len(pixels), -1)
        weight = (wr[:, :, None] * wc[:, None, :]).reshape(len(pixels), -1)
        row_index = np.repeat(np.arange(len(pixels)), index.shape[1])
        operators.append(sparse.csr_matrix((weight.ravel(), (row_index, index.ravel())),
                                           shape=(len(pixels), hp * wp)))
    return _RotationPlan(pixels, first[pixels], pad, tuple(operators))


@functools.lru_cache(maxsize=8)
def _rotation_plan(shape: tuple[int, int], inner: float, outers: tuple, order: int) -> _RotationPlan | None:
    """:func:`_build_plan`, checked once against :func:`_rotations` on a random map with a hole
    (None, and the per-map path, if they differ by more than 1e-9 or the order is not 1 or 3)."""
    if order not in (1, 3):
        return None
    plan = _build_plan(shape, inner, outers, order)
    if plan is None:
        return None
    sac = np.random.default_rng(0).normal(size=shape)
    sac[: shape[0] // 5, : shape[1] // 3] = np.nan
    expected = _rotations(sac, GRID_ANGLES, order)[0].reshape(len(GRID_ANGLES), -1)[:, plan.pixels]
    filled = sac.ravel()[_layout(plan, np.isfinite(sac), len(outers)).nearest].reshape(1, *shape)
    coefficients = _spline_coefficients(filled, plan.pad, order)[:, 0]
    found = np.stack([op @ coefficients for op in plan.operators])
    return plan if np.abs(found - expected).max() < 1e-9 else None


def _layout(plan: _RotationPlan, finite: np.ndarray, n_rings: int) -> _Layout:
    """The :class:`_Layout` of autocorrelograms whose finite bins are ``finite (h, w)``: the fill and
    the rotated validity exactly as :func:`_rotations` computes them."""
    index = ndimage.distance_transform_edt(~finite, return_distances=False, return_indices=True)
    nearest = np.ravel_multi_index(tuple(index), finite.shape).ravel()
    rings = []
    for angle in GRID_ANGLES:
        rotated = ndimage.rotate(finite.astype(float), angle, reshape=False, order=1, mode="constant")
        rows = np.flatnonzero((rotated.ravel() > 1 - 1e-6)[plan.pixels] & finite.ravel()[plan.pixels])
        rings.append(sparse.csr_matrix((np.ones(len(rows)), (plan.ring[rows], rows)), shape=(n_rings, len(plan.pixels))))
    all_rings = sparse.vstack(rings, format="csr")
    counts = np.cumsum(np.asarray(all_rings.sum(axis=1)).reshape(len(GRID_ANGLES), n_rings, 1), axis=1)
    return _Layout(nearest, tuple(rings), all_rings, counts)


def _spline_coefficients(maps: np.ndarray, pad: int, order: int) -> np.ndarray:
    """``((h + 2 pad) * (w + 2 pad), B)`` spline coefficients of maps ``(B, h, w)`` padded by
    ``pad`` bins ("edge"), as ``scipy.ndimage.rotate(mode="nearest")`` computes them (order 1: the
    padded maps; 3: :func:`_cubic_prefilter` along both axes)."""
    padded = np.pad(np.moveaxis(maps, 0, -1), ((pad, pad), (pad, pad), (0, 0)), mode="edge")  # (hp, wp, B)
    if order == 3 and min(padded.shape[:2]) >= 16:  # (the padding makes them so)
        for axis in (0, 1):
            _cubic_prefilter(padded, axis)
    elif order > 1:
        for axis in (0, 1):
            padded = ndimage.spline_filter1d(padded, order, axis=axis, mode="nearest")
    return padded.reshape(-1, len(maps))


CUBIC_POLE = np.sqrt(3.0) - 2.0
"""The pole of the cubic B-spline's inverse (prefilter) recursion."""


def _cubic_prefilter(x: np.ndarray, axis: int) -> None:
    """Replace samples ``x`` by their cubic B-spline coefficients along ``axis``, in place: the
    inverse filter of Unser, Aldroubi & Eden (1991), a gain of 6 then a causal and an anti-causal
    first-order recursion with pole ``z = sqrt(3) - 2``, each started as for the line extended by
    half-sample symmetry (what ``scipy.ndimage.spline_filter1d(x, 3, axis, mode="nearest")``
    computes, to 2e-15 for lines of 13 samples or more; shorter ones start differently by ~z^(2n)).
    Every line along ``axis`` at once: each step of a recursion is one numpy
    operation on a whole slice, ~2.5x faster than scipy's line-by-line loop over the strided lines
    of many stacked maps."""
    c = np.moveaxis(x, axis, 0)  # (n, ...): a view
    n, z = len(c), CUBIC_POLE
    c *= (1 - z) * (1 - 1 / z)
    # causal start: c[0] + z * sum_k z^k c[k] over the symmetrically extended line (period 2n), in
    # closed form; terms under 1e-20 are left out (far below a float's rounding of the sum)
    z_n = z ** n
    total = c[0] + z_n * c[n - 1]
    weight = z
    for i in range(1, n):
        if abs(weight) < 1e-20:
            break
        total += weight * (c[i] + z_n * c[n - 1 - i])
        weight *= z
    c[0] += total * (z / (1 - z_n * z_n))
    scratch = np.empty_like(c[0])
    for i in range(1, n):
        c[i] += np.multiply(z, c[i - 1], out=scratch)
    c[n - 1] *= z / (z - 1)  # anti-causal start
    for i in range(n - 2, -1, -1):
        np.subtract(c[i + 1], c[i], out=c[i])
        c[i] *= z


def _correlations(sacs: np.ndarray, plan: _RotationPlan, layout: _Layout, order: int, n_rings: int) -> dict:
    """``{angle: (R, B)}`` Pearson correlations of autocorrelograms ``sacs (B, h, w)`` sharing
    ``layout`` with their rotations inside each annulus (``_ring_correlations``, batched). The sums
    over each annulus are sparse products with the layout's 0/1 matrices (one pass over the summed
    array; the map's own sums for all angles at once), then cumulative sums over the nested annuli."""
    flat = sacs.reshape(len(sacs), -1)
    filled = flat[:, layout.nearest].reshape(sacs.shape)
    coefficients = _spline_coefficients(filled, plan.pad, order)  # (P_pad, B)
    a = np.nan_to_num(flat[:, plan.pixels].T)  # (P, B)
    s_a, s_aa = (np.cumsum((layout.all_rings @ x).reshape(len(GRID_ANGLES), n_rings, -1), axis=1) for x in (a, a * a))
    c = {}
    for k, (angle, operator, rings) in enumerate(zip(GRID_ANGLES, plan.operators, layout.rings)):
        b = operator @ coefficients  # (P, B): the rotation (where it is not valid the rings weigh it 0)
        n = layout.counts[k]
        s_b, s_bb, s_ab = (np.cumsum(rings @ x, axis=0) for x in (b, b * b, b * a))
        var_a = n * s_aa[k] - s_a[k] ** 2
        var_b = n * s_bb - s_b ** 2
        cov = n * s_ab - s_a[k] * s_b
        ok = (n >= 3) & (var_a > 1e-12 * n ** 2) & (var_b > 1e-12 * n ** 2)
        c[angle] = np.full(cov.shape, np.nan)
        c[angle][ok] = cov[ok] / np.sqrt(var_a[ok] * var_b[ok])
    return c


def _gridness_many(sacs: np.ndarray, side: int, inner_fraction: float, outer_fractions: Sequence[float],
                   order: int, cache: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """``_gridness`` of many autocorrelograms ``sacs (B, h, w)`` of ``side``-bin maps at once.

    Returns ``s60 (B,)``, ``s90 (B,)``, the index of each one's best annulus ``(B,)`` (-1: none)
    and the outer radii ``(R,)``. Maps with the same NaN layout (a unit and its shuffles) share the
    fill and the rotated validity masks (kept in ``cache`` for later calls); the rotations of all
    maps are one sparse product per angle.
    """
    n_maps = len(sacs)
    inner = inner_fraction * side
    outers = np.array([f * side for f in outer_fractions if f * side > inner])
    s60, s90 = np.full(n_maps, np.nan), np.full(n_maps, np.nan)
    best60, best90 = np.full(n_maps, -1), np.full(n_maps, -1)
    finite = np.isfinite(sacs)
    some = np.flatnonzero(finite.any(axis=(1, 2)))
    plan = _rotation_plan(sacs.shape[1:], inner, tuple(outers), order) if outers.size and some.size else None
    for members, c in _correlation_groups(sacs, finite, some, plan, inner, outers, order, cache):
        for scores, out, best in zip(_s60_s90(c), (s60, s90), (best60, best90)):  # scores (R, len(members))
            scored = np.isfinite(scores).any(axis=0)
            index = np.argmax(np.where(np.isfinite(scores), scores, -np.inf), axis=0)  # first maximum, as nanargmax
            out[members[scored]] = scores[index, np.arange(len(members))][scored]
            best[members[scored]] = index[scored]
    return s60, s90, best60, best90, outers


def _correlation_groups(sacs, finite, some, plan, inner, outers, order, cache):
    """``(members, {angle: (R, len(members))})`` for groups of the maps ``some`` with one NaN layout
    each (usually one group), or map by map without a plan (:func:`_ring_correlations`)."""
    if plan is None:  # unusual parameters (or nothing to score): one map at a time
        for b in some if outers.size else ():
            rotated, rot_valid = _rotations(sacs[b], GRID_ANGLES, order)
            c = _ring_correlations(sacs[b], rotated, rot_valid, inner, outers)  # (R, A)
            yield np.array([b]), dict(zip(GRID_ANGLES, c.T[:, :, None]))
        return
    cache = {} if cache is None else cache
    if (finite[some] == finite[some[0]]).all():  # the usual case: a unit and its shuffles
        groups = [some]
    else:
        _, group = np.unique(np.packbits(finite[some].reshape(len(some), -1), axis=1), axis=0, return_inverse=True)
        groups = [some[group.ravel() == g] for g in range(group.max() + 1)]
    for members in groups:
        key = (id(plan), np.packbits(finite[members[0]]).tobytes())
        if key not in cache:
            cache[key] = _layout(plan, finite[members[0]], len(outers))
        yield members, _correlations(sacs[members], plan, cache[key], order, len(outers))


def _unit_scores(stack: np.ndarray, n_shuffles: int, percentile: float, cache: dict | None = None,
                 inner_fraction: float = INNER_FRACTION, outer_fractions: Sequence[float] = OUTER_FRACTIONS,
                 order: int = 3, min_overlap: int | None = None) -> dict:
    """``_grid_unit`` of rasters ``stack (1 + n_shuffles, H, W)``: the unit's map, then its shuffles."""
    x = _check_map(stack[0])
    if min_overlap is None:
        min_overlap = _default_min_overlap(int(np.isfinite(x).sum()))
    side = min(x.shape)
    sacs = autocorrelograms(stack, min_overlap)
    s60, s90, best60, best90, outers = _gridness_many(sacs, side, inner_fraction, outer_fractions, order, cache)
    inner = inner_fraction * side
    spacing, orientation = grid_spacing_orientation(sacs[0])
    params = {"angles": GRID_ANGLES, "inner_radius": inner,
              "outer_radii": [f * side for f in outer_fractions if f > inner_fraction],
              "radius_unit": "bins", "min_overlap": min_overlap, "interpolation_order": order,
              "n_shuffles": n_shuffles, "percentile": percentile}
    scores = {"s60": float(s60[0]), "s90": float(s90[0]),
              "annulus60": (float(inner), float(outers[best60[0]])) if best60[0] >= 0 else None,
              "annulus90": (float(inner), float(outers[best90[0]])) if best90[0] >= 0 else None,
              "spacing": spacing, "orientation": orientation, "method": GRID_METHOD, "params": params,
              "s60_threshold": _nan_reduce(s60[1:], np.percentile, percentile),
              "s90_threshold": _nan_reduce(s90[1:], np.percentile, percentile)}
    scores["is_grid"] = bool(scores["s60"] > scores["s60_threshold"])
    return scores


# ----------------------------------------------------------------------------- units and shuffles
def _grid_unit(rate_map, positions, n_shuffles: int, percentile: float, rng, **kwargs) -> dict:
    """``grid_scores`` plus shuffle thresholds of s60 and s90 from the same permuted maps, one map at
    a time: the reference that :func:`score_units` computes in batches."""
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


def _check_units(rate_maps, positions) -> np.ndarray:
    maps = np.asarray(rate_maps, dtype=float)
    if maps.ndim != (3 if positions is None else 2):
        expected = "(n_units, H, W)" if positions is None else "(n_units, n_nodes) with positions"
        raise ValueError(f"rate_maps must be {expected}, got shape {maps.shape}")
    return np.where(np.isfinite(maps), maps, np.nan)  # inf = unvisited, like NaN


def score_units(rate_maps, *, positions=None, n_shuffles: int = 100, percentile: float = 95, rng,
                progress: bool = False, workers: int | None = None, **kwargs) -> list[dict]:
    """Gridness of every map of ``rate_maps (n_units, H, W)``, or with ``positions (n_nodes, 2)`` of
    node values ``(n_units, n_nodes)`` (rasterised, node values permuted for the shuffles:
    preferred for hex worlds); returns one dict per unit (``n_units`` dicts).

    Each dict is ``grid_scores`` plus ``s60_threshold`` and ``s90_threshold`` (the ``percentile``
    of s60 and s90 over ``n_shuffles`` permuted maps) and ``is_grid`` (s60 above its threshold).
    ``kwargs`` go to ``grid_scores``; ``progress`` shows a tqdm bar. One generator serves all units.
    A unit and its shuffles are scored together (batched FFTs and sparse rotations); the values are
    those of :func:`score_units_reference`, which scores one map at a time, to rounding. Units are
    scored on ``workers`` threads (default: up to 4, one per CPU; the FFTs, sparse products and
    spline filters release the GIL), the shuffles drawn first in unit order, so the scores do not
    depend on ``workers``.
    """
    from concurrent.futures import ThreadPoolExecutor

    maps = _check_units(rate_maps, positions)
    rng = _rng(rng)
    layout = None if positions is None else raster_layout(positions)
    stacks = [np.concatenate([unit_map[None], shuffled_maps(unit_map, n_shuffles, rng=rng)]) for unit_map in maps]
    cache = {}  # NaN layouts shared by units (a race only computes one twice)

    def score(stack: np.ndarray) -> dict:
        rasters = stack if layout is None else rasterise_many(stack, layout)
        return _unit_scores(rasters, n_shuffles, percentile, cache, **kwargs)

    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(score, stacks)
        if progress:
            from tqdm.auto import tqdm
            results = tqdm(results, total=len(stacks), desc="grid scores", unit="unit")
        return list(results)


def score_units_reference(rate_maps, *, positions=None, n_shuffles: int = 100, percentile: float = 95, rng,
                          progress: bool = False, **kwargs) -> list[dict]:
    """:func:`score_units` one map at a time (``grid_scores`` of each unit and each shuffle): the
    plain definition the batched scores are tested against; slow (~1 s per unit)."""
    maps = _check_units(rate_maps, positions)
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
