"""Rasters and correlograms: node values binned onto a square raster, NaN-aware smoothing, spatial
auto- and cross-correlograms, and shuffled copies of maps with the shuffle percentiles of a score.

A rate map is a ``(H, W)`` float array: row = y bin, column = x bin (plot it with
``origin="lower"``), NaN (or inf) = unvisited. Distances are in bins. Every randomised function
takes ``rng`` (an ``np.random.Generator`` or an int seed) explicitly.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage, signal, spatial


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
    """``rng`` itself when it is a ``np.random.Generator``, else a generator seeded with it."""
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


# ----------------------------------------------------------------------------- correlograms
def _default_min_overlap(n_valid: int) -> int:
    """Fewest bin pairs a correlation needs: 20, lowered to a quarter of ``n_valid`` (at least 3)."""
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


# ----------------------------------------------------------------------------- smoothing
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
    ``(n_nodes,)``: then node values are permuted and each shuffle is rasterised (the unit that is
    permuted is the node, not the bin: on a hex raster, permuting bins would also break up the
    nearest-neighbour filled bins).
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

