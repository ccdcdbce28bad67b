"""Rasters and correlograms: node values binned onto a square raster, NaN-aware smoothing, spatial
auto- and cross-correlograms, and shuffled copies of maps with the shuffle percentiles of a score.

A rate map is a ``(H, W)`` float array: row = y bin, column = x bin (plot it with
``origin="lower"``), NaN (or inf) = unvisited. Distances are in bins. Every randomised function
takes ``rng`` (an ``np.random.Generator`` or an int seed) explicitly.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage, spatial


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
def _hull_fill(empty: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The empty bins ``(m,)`` (flat indices) inside the convex hull of the node bins ``idx (n, 2)``
    (x, y) and the nearest node ``(m,)`` of each; none when the nodes are collinear (no 2D hull)."""
    none = np.zeros(0, dtype=np.int64)
    rows, cols = np.nonzero(empty)
    if rows.size == 0 or len(idx) < 3:
        return none, none
    try:  # (a Delaunay triangulation of lattice points is degenerate and very slow to query)
        hull = spatial.ConvexHull(idx.astype(float))
    except spatial.QhullError:  # collinear nodes, e.g. a line world
        return none, none
    query = np.stack([cols, rows], axis=1).astype(float)
    inside = (query @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9).all(axis=1)
    _, nearest = spatial.cKDTree(idx).query(query[inside])
    return rows[inside] * empty.shape[1] + cols[inside], np.asarray(nearest, dtype=np.int64)


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


class RasterLayout(NamedTuple):
    """Where :func:`rasterise` puts each node: ``shape (H, W)`` of the raster, ``bins (n_nodes,)``
    the flat bin of each node, and the filled bins ``fill_bins (m,)`` (empty bins inside the hull)
    with the node ``fill_nodes (m,)`` whose value each takes."""

    shape: tuple[int, int]
    bins: np.ndarray
    fill_bins: np.ndarray
    fill_nodes: np.ndarray


def raster_layout(positions, *, bin_size: float | None = None, fill: bool = True) -> RasterLayout:
    """The :class:`RasterLayout` of nodes at ``positions (n_nodes, 2)`` (see :func:`rasterise`):
    computed once, it rasterises any number of maps of the same nodes (:func:`rasterise_many`)."""
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 2 or len(positions) == 0:
        raise ValueError(f"positions must be (n_nodes, 2) with n_nodes >= 1, got shape {positions.shape}")
    origin = positions.min(axis=0)
    bin_size = default_bin_size(positions) if bin_size is None else bin_size
    if not bin_size > 0:
        raise ValueError(f"bin_size must be positive, got {bin_size}")
    idx = np.rint((positions - origin) / bin_size).astype(np.int64)  # (n, 2) as (x, y)
    width, height = idx.max(axis=0) + 1
    flat = idx[:, 1] * width + idx[:, 0]
    fill_bins, fill_nodes = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if fill:
        empty = np.bincount(flat, minlength=height * width).reshape(height, width) == 0
        fill_bins, fill_nodes = _hull_fill(empty, idx)
    return RasterLayout((int(height), int(width)), flat, fill_bins, fill_nodes)


def rasterise_many(values, layout: RasterLayout) -> np.ndarray:
    """Rasterise node maps ``values (B, n_nodes)`` (NaN = unvisited) with a :func:`raster_layout`
    at once; returns ``(B, H, W)``, each map exactly ``rasterise(values[b], positions)``."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(layout.bins):
        raise ValueError(f"values must be (B, n_nodes) with n_nodes = {len(layout.bins)}, got {values.shape}")
    n_maps, n_bins = len(values), layout.shape[0] * layout.shape[1]
    ok = np.isfinite(values)
    flat = (np.arange(n_maps)[:, None] * n_bins + layout.bins)[ok]  # per map, nodes in order (as bincount)
    total = np.bincount(flat, weights=values[ok], minlength=n_maps * n_bins)
    count = np.bincount(flat, minlength=n_maps * n_bins)
    raster = np.full(n_maps * n_bins, np.nan)
    raster[count > 0] = total[count > 0] / count[count > 0]
    raster = raster.reshape(n_maps, n_bins)
    raster[:, layout.fill_bins] = values[:, layout.fill_nodes]
    return raster.reshape(n_maps, *layout.shape)


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
    changed, and nothing outside the hull is filled. Many maps of the same nodes:
    :func:`raster_layout` once, then :func:`rasterise_many`.
    """
    values = np.asarray(values, dtype=float)
    positions = np.asarray(positions, dtype=float)
    if values.ndim != 1 or positions.shape != (len(values), 2):
        raise ValueError(f"values must be (n_nodes,) and positions (n_nodes, 2), got shapes "
                         f"{values.shape} and {positions.shape}")
    if len(values) == 0:
        raise ValueError("rasterise needs at least one node")
    return rasterise_many(values[None], raster_layout(positions, bin_size=bin_size, fill=fill))[0]


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


def _correlate(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``scipy.signal.correlate(u, v, mode="full", method="fft")`` of two real ``(H, W)`` arrays, the
    same transforms in the same order (so the same values), without importing ``scipy.signal``
    (half a second): ``(2H-1, 2W-1)``."""
    full = [2 * n - 1 for n in u.shape]
    shape = [sp_fft.next_fast_len(n, True) for n in full]
    spectrum = sp_fft.rfftn(u, shape, axes=[0, 1]) * sp_fft.rfftn(v[::-1, ::-1], shape, axes=[0, 1])
    return sp_fft.irfftn(spectrum, shape, axes=[0, 1])[:full[0], :full[1]].copy()


def crosscorrelogram(map_a, map_b, min_overlap: int | None = None) -> np.ndarray:
    """NaN-aware spatial cross-correlogram of two ``(H, W)`` maps; returns ``(2H-1, 2W-1)``.

    Entry ``[H-1+dy, W-1+dx]`` is the Pearson correlation of ``map_a[i+dy, j+dx]`` with
    ``map_b[i, j]`` over the pairs where both bins are finite; NaN where there are fewer than
    ``min_overlap`` pairs (default: 20, lowered to a quarter of the valid bins of ``map_a``, at
    least 3, for small maps) or where either side has zero variance. The sums over pairs (count,
    sums, sums of squares, cross sums) are six FFT cross-correlations of masks and values
    (:func:`_correlate`), not a loop over shifts.
    """
    a, b = _check_map(map_a), _check_map(map_b)
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape, got {a.shape} and {b.shape}")
    if min_overlap is None:
        min_overlap = _default_min_overlap(int(np.isfinite(a).sum()))
    (za, ma), (zb, mb) = _standardised(a), _standardised(b)

    xcorr = _correlate  # out[H-1+dy, W-1+dx] = sum_ij u[i+dy, j+dx] * v[i, j]
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


def _standardised_many(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``_standardised`` values of each map of ``x (B, H, W)`` with finite bins ``valid`` (the same
    reductions, row by row)."""
    counts = valid.sum(axis=(1, 2))
    z = np.zeros_like(x)
    if len(x) and counts[0] and (counts == counts[0]).all():  # one reshape serves all maps
        values = x[valid].reshape(len(x), counts[0])
        mean, scale = values.mean(axis=1, keepdims=True), values.std(axis=1, keepdims=True)
        z[valid] = ((values - mean) / np.where(scale > 0, scale, 1.0)).ravel()
        return z
    for b in range(len(x)):
        z[b] = _standardised(x[b])[0] if counts[b] else 0.0
    return z


def autocorrelograms(rate_maps, min_overlap=None) -> np.ndarray:
    """``autocorrelogram`` of every map of ``rate_maps (B, H, W)`` at once; returns
    ``(B, 2H-1, 2W-1)`` (all NaN for a map with no finite bin).

    ``min_overlap``: an int, one per map ``(B,)``, or None (each map's default, as
    ``autocorrelogram``). The sums of :func:`crosscorrelogram` from real FFTs batched over the maps:
    per map, two forward FFTs (values, squared values) and three inverse ones; the mask's once when
    all maps share their NaN bins (a unit and its shuffles). The sums ``crosscorrelogram`` takes from
    the second map are the first map's at the opposite shift.
    """
    x = np.array(rate_maps, dtype=float)
    if x.ndim != 3:
        raise ValueError(f"rate_maps must be (B, H, W), got shape {x.shape}")
    n_maps, height, width = x.shape
    valid = np.isfinite(x)
    if min_overlap is None:
        min_overlap = np.minimum(20, np.maximum(3, valid.sum(axis=(1, 2)) // 4))
    min_overlap = np.broadcast_to(np.asarray(min_overlap), (n_maps,))[:, None, None]
    z = _standardised_many(x, valid)
    masks = valid[:1] if n_maps and (valid == valid[:1]).all() else valid  # (1 or B, H, W)
    shape = [sp_fft.next_fast_len(2 * s - 1, True) for s in (height, width)]
    rows = np.r_[shape[0] - height + 1:shape[0], :height]  # shifts -(H-1)..H-1 in the circular result
    cols = np.r_[shape[1] - width + 1:shape[1], :width]

    def sums(spectrum):  # out[..., H-1+dy, W-1+dx] = sum_ij u[i+dy, j+dx] v[i, j] for spectrum U conj(V)
        return sp_fft.irfft2(spectrum, s=shape, axes=(-2, -1)).take(rows, axis=-2).take(cols, axis=-1)

    mask = sp_fft.rfft2(masks.astype(float), s=shape, axes=(-2, -1))
    mask_conj = mask.conj()
    values = sp_fft.rfft2(z, s=shape, axes=(-2, -1))
    n, s_a = np.rint(sums(mask * mask_conj)), sums(values * mask_conj)
    sq_a = sums(sp_fft.rfft2(z * z, s=shape, axes=(-2, -1)) * mask_conj)
    cross = sums(values * values.conj())
    s_b = s_a[:, ::-1, ::-1]  # the second map's sums: the opposite shift
    var_a = n * sq_a - s_a * s_a
    var_b = var_a[:, ::-1, ::-1]  # n is point-symmetric (integers): the second map's variance, exactly
    # in place from here: these arrays are large, and allocating them cost as much as the FFTs
    cov = n * cross
    cov -= s_a * s_b
    floor = 1e-9 * (n * n)
    ok = (var_a > floor) & (var_b > floor)
    ok &= n >= np.maximum(min_overlap, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = np.sqrt(var_a * var_b)
        out = np.divide(cov, denominator, out=cov)
    out[~ok] = np.nan
    return np.clip(out, -1.0, 1.0, out=out)


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

