"""Spatial scores of rate maps: gridness (s60, s90), grid spacing and orientation, place-likeness.

A rate map is a ``(H, W)`` float array: row = y bin, column = x bin (plot it with
``origin="lower"``), NaN (or inf) = unvisited. Angles are in degrees, counter-clockwise from +x in
that frame; distances are in bins. Definitions follow DESIGN §4. Every randomised function takes
``rng`` (an ``np.random.Generator`` or an int seed) explicitly.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage, signal, spatial

GRID_ANGLES = (30, 45, 60, 90, 120, 135, 150)
INNER_FRACTION = 0.2  # DeepMind's scorer: annuli from 0.2 ...
OUTER_FRACTIONS = tuple(float(f) for f in np.linspace(0.4, 1.0, 10))  # ... to 0.4-1.0 map sides
GRID_METHOD = ("deepmind-style annulus gridness (Banino et al. 2018): Pearson correlations of the "
               "NaN-aware autocorrelogram with its rotations by 30-150 degrees inside annuli "
               "around the masked central peak; s60 and s90 each maximised over annuli")
PLACE_METHOD = ("Skaggs spatial information (bits/spike) of the NaN-aware Gaussian-smoothed map vs "
                "the percentile of the same statistic over maps with valid bins permuted; fields = "
                "8-connected regions above a fraction of the peak")


def _check_map(rate_map, min_size: int = 3) -> np.ndarray:
    """``rate_map`` as a ``(H, W)`` float array with non-finite values set to NaN, or ValueError."""
    x = np.array(rate_map, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"rate_map must be a 2D array (NaN = unvisited), got shape {x.shape}")
    if min(x.shape) < min_size:
        raise ValueError(f"rate_map must be at least {min_size}x{min_size}, got shape {x.shape}")
    x[~np.isfinite(x)] = np.nan
    if np.isnan(x).all():
        raise ValueError(f"rate_map has no finite values (all NaN = unvisited), shape {x.shape}")
    return x


def _rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _nan_reduce(values: np.ndarray, fn: Callable, *args) -> float:
    """``fn`` over the finite entries of ``values``; NaN (and no warning) when there are none."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(fn(finite, *args)) if finite.size else float("nan")


# ----------------------------------------------------------------------------- rasterising
def _fill_hull(raster: np.ndarray, empty: np.ndarray, idx: np.ndarray, values: np.ndarray) -> None:
    """Give empty bins inside the convex hull of the node bins ``idx (n, 2)`` (x, y) the value of
    the nearest node, in place; skipped when the nodes are collinear (no 2D hull)."""
    rows, cols = np.nonzero(empty)
    if rows.size == 0 or len(idx) < 3:
        return
    try:  # (a Delaunay triangulation of lattice points is degenerate and very slow to query)
        hull = spatial.ConvexHull(idx.astype(float))
    except spatial.QhullError:  # collinear nodes, e.g. a line world
        return
    query = np.stack([cols, rows], axis=1).astype(float)
    inside = (query @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9).all(axis=1)
    _, nearest = spatial.cKDTree(idx).query(query[inside])
    raster[rows[inside], cols[inside]] = values[nearest]


def default_bin_size(positions) -> float:
    """The raster bin of :func:`rasterise` for nodes at ``positions (n, 2)``: the lattice spacing d
    for nodes on a square lattice, else d / 2 (hex lattices). Multiply spacings in bins by it to
    get them in node steps."""
    positions = np.asarray(positions, dtype=float)
    if len(positions) < 2:
        return 1.0
    spacing = spatial.cKDTree(positions).query(positions, k=2)[0][:, 1].min()  # nearest-neighbour distance
    steps = (positions - positions.min(axis=0)) / spacing
    return float(spacing if np.allclose(steps, np.rint(steps), atol=1e-6) else spacing / 2)


def rasterise(values, positions, *, bin_size: float | None = None, fill: bool = True) -> np.ndarray:
    """Bin node values onto a square raster; returns a ``(H, W)`` rate map (row = y, column = x).

    values: ``(n_nodes,)``, NaN = unvisited. positions: ``(n_nodes, 2)`` (x, y) node positions.
    Bin ``(row, col)`` holds the mean of the finite values of the nodes whose position rounds to
    it (``round((pos - pos.min(0)) / bin_size)``); NaN when it holds no node or only NaN ones.

    Default ``bin_size``: nodes on a square lattice (spacing d = nearest-neighbour distance) get
    ``d``, so an integer grid maps one node per bin and round-trips exactly. Anything else (a hex
    lattice, rows at sqrt(3)/2) gets ``d / 2``; rows then land at most a quarter bin from their true
    height. With ``fill`` (default), bins holding no node but lying inside the convex hull of the
    occupied bins take the value of the nearest node (nearest-neighbour interpolation; NaN if that
    node is unvisited), so the autocorrelogram sees a continuous map. Bins holding a node are never
    changed, and nothing outside the hull is filled.
    """
    values = np.asarray(values, dtype=float)
    positions = np.asarray(positions, dtype=float)
    if values.ndim != 1 or positions.shape != (len(values), 2):
        raise ValueError(f"values must be (n_nodes,) and positions (n_nodes, 2), got shapes "
                         f"{values.shape} and {positions.shape}")
    if len(values) == 0:
        raise ValueError("rasterise needs at least one node")
    origin = positions.min(axis=0)
    bin_size = default_bin_size(positions) if bin_size is None else bin_size
    if not bin_size > 0:
        raise ValueError(f"bin_size must be positive, got {bin_size}")
    idx = np.rint((positions - origin) / bin_size).astype(np.int64)  # (n, 2) as (x, y)
    width, height = idx.max(axis=0) + 1
    flat = idx[:, 1] * width + idx[:, 0]
    ok = np.isfinite(values)
    total = np.bincount(flat[ok], weights=values[ok], minlength=height * width)
    count = np.bincount(flat[ok], minlength=height * width)
    raster = np.full(height * width, np.nan)
    raster[count > 0] = total[count > 0] / count[count > 0]
    raster = raster.reshape(height, width)
    if fill:
        empty = np.bincount(flat, minlength=height * width).reshape(height, width) == 0
        _fill_hull(raster, empty, idx, values)
    return raster


# ----------------------------------------------------------------------------- autocorrelogram
def _default_min_overlap(n_valid: int) -> int:
    return int(min(20, max(3, n_valid // 4)))


def _standardised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values centred and scaled over the finite bins, 0 at NaN (better conditioned sums), and
    the float validity mask; both ``(H, W)``."""
    valid = np.isfinite(x)
    mean, scale = x[valid].mean(), x[valid].std()
    z = np.zeros_like(x)
    z[valid] = (x[valid] - mean) / (scale if scale > 0 else 1.0)
    return z, valid.astype(float)


def crosscorrelogram(map_a, map_b, min_overlap: int | None = None) -> np.ndarray:
    """NaN-aware spatial cross-correlogram of two ``(H, W)`` maps; returns ``(2H-1, 2W-1)``.

    Entry ``[H-1+dy, W-1+dx]`` is the Pearson correlation of ``map_a[i+dy, j+dx]`` with
    ``map_b[i, j]`` over the pairs where both bins are finite; NaN where there are fewer than
    ``min_overlap`` pairs (default: 20, lowered to a quarter of the valid bins of ``map_a``, at
    least 3, for small maps) or where either side has zero variance. The sums over pairs (count,
    sums, sums of squares, cross sums) are six FFT cross-correlations of masks and values
    (``scipy.signal.correlate``), not a loop over shifts.
    """
    a, b = _check_map(map_a), _check_map(map_b)
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape, got {a.shape} and {b.shape}")
    if min_overlap is None:
        min_overlap = _default_min_overlap(int(np.isfinite(a).sum()))
    (za, ma), (zb, mb) = _standardised(a), _standardised(b)

    def xcorr(u, v):  # out[H-1+dy, W-1+dx] = sum_ij u[i+dy, j+dx] * v[i, j]
        return signal.correlate(u, v, mode="full", method="fft")

    n = np.rint(xcorr(ma, mb))
    s_a, s_b = xcorr(za, mb), xcorr(ma, zb)
    var_a = n * xcorr(za * za, mb) - s_a ** 2  # n^2 * variance of each side over the pairs
    var_b = n * xcorr(ma, zb * zb) - s_b ** 2
    cov = n * xcorr(za, zb) - s_a * s_b
    ok = (n >= max(min_overlap, 2)) & (var_a > 1e-9 * n ** 2) & (var_b > 1e-9 * n ** 2)
    out = np.full(n.shape, np.nan)
    out[ok] = cov[ok] / np.sqrt(var_a[ok] * var_b[ok])
    return np.clip(out, -1.0, 1.0)


def autocorrelogram(rate_map, min_overlap: int | None = None) -> np.ndarray:
    """NaN-aware spatial autocorrelogram of a ``(H, W)`` map; returns ``(2H-1, 2W-1)``.

    ``crosscorrelogram(rate_map, rate_map, min_overlap)``: entry ``[H-1+dy, W-1+dx]`` is the
    Pearson correlation of ``map[i+dy, j+dx]`` with ``map[i, j]`` over the pairs finite in both;
    the centre is 1 and the array is point-symmetric about it.
    """
    return crosscorrelogram(rate_map, rate_map, min_overlap)


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
    """DeepMind-style gridness of a ``(H, W)`` rate map (NaN = unvisited); DESIGN §4.

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


# ----------------------------------------------------------------------------- shuffles
def shuffled_maps(rate_map, n_shuffles: int, *, rng) -> np.ndarray:
    """``(n_shuffles, *rate_map.shape)`` copies of ``rate_map`` (a ``(H, W)`` raster or
    ``(n_nodes,)`` node values) with its finite values permuted among its finite entries (NaN
    entries stay NaN)."""
    x = np.array(rate_map, dtype=float)
    valid = np.isfinite(x)
    stack = np.broadcast_to(x[valid], (n_shuffles, int(valid.sum())))
    out = np.full((n_shuffles, *x.shape), np.nan)
    out[:, valid] = _rng(rng).permuted(stack, axis=1)
    return out


def _as_raster(rate_map, positions) -> np.ndarray:
    """The ``(H, W)`` map that is scored: ``rate_map`` itself when ``positions`` is None, else
    node values ``(n_nodes,)`` rasterised at ``positions (n_nodes, 2)``."""
    return np.asarray(rate_map, dtype=float) if positions is None else rasterise(rate_map, positions)


def shuffle_threshold(rate_map, score_fn: Callable[[np.ndarray], float], *, positions=None,
                      n_shuffles: int = 100, percentile: float = 95, rng) -> float:
    """The ``percentile`` of ``score_fn`` (map ``(H, W)`` -> float) over ``n_shuffles`` maps with
    the valid values permuted (``shuffled_maps``). NaN scores are ignored; NaN if all are.

    ``rate_map``: a ``(H, W)`` raster, or with ``positions (n_nodes, 2)`` node values
    ``(n_nodes,)``: then node values are permuted and each shuffle is rasterised (DESIGN §4; on a
    hex raster, permuting bins would also break up the nearest-neighbour filled bins).
    Example: ``shuffle_threshold(m, lambda m: grid_scores(m)["s60"], rng=0)``.
    """
    maps = shuffled_maps(rate_map, n_shuffles, rng=rng)
    return _nan_reduce([score_fn(_as_raster(m, positions)) for m in maps], np.percentile, percentile)


def shuffle_thresholds(rate_maps, score_fn: Callable[[np.ndarray], float], *, positions=None,
                       n_shuffles: int = 100, percentile: float = 95, rng) -> np.ndarray:
    """``shuffle_threshold`` of each map of ``rate_maps`` (``(n_units, H, W)``, or node values
    ``(n_units, n_nodes)`` with ``positions``); returns ``(n_units,)``."""
    rng = _rng(rng)
    return np.array([shuffle_threshold(m, score_fn, positions=positions, n_shuffles=n_shuffles,
                                       percentile=percentile, rng=rng)
                     for m in np.asarray(rate_maps, dtype=float)])


# ----------------------------------------------------------------------------- place-likeness
def _information(maps: np.ndarray, occupancy) -> np.ndarray:
    """Skaggs information ``(S,)`` of maps ``(S, H, W)`` that share their NaN bins."""
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


def spatial_information(rate_map, occupancy=None) -> float:
    """Skaggs spatial information (bits/spike) of a ``(H, W)`` rate map, NaN = unvisited:
    ``sum_i p_i (r_i / r) log2(r_i / r)`` with ``r = sum_i p_i r_i``.

    occupancy: ``(H, W)`` time per bin (``p_i`` proportional to it); None = uniform over the finite
    bins. Negative rates (units with signed activity) are shifted so that the minimum is 0, which
    makes the value depend on the map's minimum; a map that is 0 everywhere gives NaN.
    """
    x = _check_map(rate_map, min_size=1)
    return float(_information(x[None], occupancy)[0])


def smooth_map(rate_map, sigma: float) -> np.ndarray:
    """NaN-aware Gaussian smoothing (``sigma`` in bins) of maps ``(..., H, W)``: NaN bins neither
    contribute nor change; ``sigma=0`` returns a copy."""
    x = np.array(rate_map, dtype=float)
    if sigma <= 0:
        return x
    valid = np.isfinite(x)
    sig = (0,) * (x.ndim - 2) + (sigma, sigma)
    num = ndimage.gaussian_filter(np.where(valid, x, 0.0), sig, mode="constant")
    den = ndimage.gaussian_filter(valid.astype(float), sig, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, num / den, np.nan)


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


def place_scores(rate_map, *, positions=None, occupancy=None, n_shuffles: int = 100,
                 percentile: float = 95, smooth_sigma: float = 1.0, field_threshold: float = 0.5,
                 min_field_bins: int = 2, rng) -> dict:
    """Place-likeness of a ``(H, W)`` rate map (NaN = unvisited), or of node values
    ``(n_nodes,)`` at ``positions (n_nodes, 2)`` (rasterised; shuffles permute node values).
    ``occupancy``: ``(H, W)`` time per bin of the scored raster; None = uniform.

    Uniform-occupancy Skaggs information depends only on the histogram of rates, so permuting bins
    leaves it unchanged; the statistic tested is therefore the information of the map smoothed
    with a NaN-aware Gaussian of ``smooth_sigma`` bins (a coherent field survives smoothing,
    scattered values average out), against the ``percentile`` of the same statistic over
    ``n_shuffles`` bin permutations. Fields are counted on the smoothed map (``count_fields``).

    Returns a dict: ``spatial_information`` (smoothed map), ``spatial_information_raw``,
    ``spatial_information_threshold``, ``n_fields``, ``is_place`` (information above threshold and
    exactly one field), ``method`` and ``params``.
    """
    x = _check_map(_as_raster(rate_map, positions), min_size=1)
    smoothed = smooth_map(x, smooth_sigma)
    info = float(_information(smoothed[None], occupancy)[0])
    source = x if positions is None else np.asarray(rate_map, dtype=float)  # what is permuted
    shuffled = shuffled_maps(source, n_shuffles, rng=rng)
    shuffled = np.stack([_as_raster(m, positions) for m in shuffled])  # (S, H, W)
    shuffled = _information(smooth_map(shuffled, smooth_sigma), occupancy)
    threshold = _nan_reduce(shuffled, np.percentile, percentile)
    n_fields = count_fields(smoothed, threshold=field_threshold, min_bins=min_field_bins)
    params = {"n_shuffles": n_shuffles, "percentile": percentile, "smooth_sigma": smooth_sigma,
              "field_threshold": field_threshold, "min_field_bins": min_field_bins,
              "connectivity": 8, "occupancy": "uniform" if occupancy is None else "given"}
    return {"spatial_information": info,
            "spatial_information_raw": float(_information(x[None], occupancy)[0]),
            "spatial_information_threshold": threshold, "n_fields": n_fields,
            "is_place": bool(info > threshold and n_fields == 1), "method": PLACE_METHOD,
            "params": params}


# ----------------------------------------------------------------------------- many units
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


def score_units(rate_maps, *, kind: str = "grid", positions=None, n_shuffles: int = 100,
                percentile: float = 95, rng, progress: bool = False, **kwargs) -> list[dict]:
    """Score every map of ``rate_maps (n_units, H, W)``, or with ``positions (n_nodes, 2)`` of node
    values ``(n_units, n_nodes)`` (rasterised, node values permuted for the shuffles: preferred
    for hex worlds); returns one dict per unit.

    ``kind="grid"``: ``grid_scores`` plus ``s60_threshold``, ``s90_threshold`` (shuffle
    percentiles) and ``is_grid`` (s60 above its threshold). ``kind="place"``: ``place_scores``.
    ``kwargs`` go to the scorer; ``progress`` shows a tqdm bar. One generator serves all units.
    """
    if kind not in ("grid", "place"):
        raise ValueError(f"kind must be 'grid' or 'place', got {kind!r}")
    maps = np.asarray(rate_maps, dtype=float)
    if maps.ndim != (3 if positions is None else 2):
        expected = "(n_units, H, W)" if positions is None else "(n_units, n_nodes) with positions"
        raise ValueError(f"rate_maps must be {expected}, got shape {maps.shape}")
    maps = np.where(np.isfinite(maps), maps, np.nan)  # inf = unvisited, like NaN
    rng = _rng(rng)
    if progress:
        from tqdm.auto import tqdm
        maps = tqdm(maps, desc=f"{kind} scores", unit="unit")
    if kind == "grid":
        return [_grid_unit(m, positions, n_shuffles, percentile, rng, **kwargs) for m in maps]
    return [place_scores(m, positions=positions, n_shuffles=n_shuffles, percentile=percentile,
                         rng=rng, **kwargs) for m in maps]


def fraction_above(scores: Sequence[dict], key: str, threshold: str | float) -> float:
    """Fraction of units whose ``scores[i][key]`` exceeds ``threshold``: another key of the same
    dict (e.g. ``"s60_threshold"``) or a number. NaN counts as not above; NaN for no units."""
    if len(scores) == 0:
        return float("nan")
    value = np.array([s[key] for s in scores], dtype=float)
    limit = np.array([s[threshold] if isinstance(threshold, str) else threshold for s in scores],
                     dtype=float)
    with np.errstate(invalid="ignore"):
        return float(np.mean(value > limit))
