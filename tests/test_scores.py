"""Spatial scores: rasters, autocorrelograms and shuffles (``analysis.maps``), gridness on ideal and
noise maps (``analysis.gridness``), place-likeness of units along a walk (``analysis.place``)."""
import warnings

import numpy as np
import pytest
from scipy import spatial

from analysis.gridness import fraction_above, grid_scores, grid_spacing_orientation, score_units
from analysis.maps import (autocorrelogram, crosscorrelogram, rasterise, shuffle_threshold, shuffled_maps,
                           smooth_map)
from analysis.place import count_fields, place_cell_scores, spatial_information
from envs import WalkSampler, make_worlds

N = 40  # map side for the gridness tests


def hex_map(n=N, spacing=8.0, orientation=0.0, shape=None):
    """Sum of three plane waves 60 degrees apart: a hexagonal pattern whose fields are
    ``spacing`` bins apart along directions ``orientation + k * 60`` degrees."""
    k = 4 * np.pi / (np.sqrt(3) * spacing)  # wave number giving that field spacing
    yy, xx = np.indices(shape or (n, n)).astype(float)
    angles = np.radians(orientation + 30 + np.array([0, 60, 120]))  # wave vectors
    return sum(np.cos(k * (np.cos(a) * xx + np.sin(a) * yy)) for a in angles)


def square_map(n=N, wavelength=10.0):
    """Two orthogonal plane waves: a square lattice of fields."""
    yy, xx = np.indices((n, n)).astype(float)
    return np.cos(2 * np.pi * xx / wavelength) + np.cos(2 * np.pi * yy / wavelength)


def bump(n=N, centre=(20, 20), sigma=3.0):
    yy, xx = np.indices((n, n))
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma ** 2))


def s60(m):
    return grid_scores(m)["s60"]


def walk(spec, n_steps=4000):
    """The first world of ``spec`` and the nodes ``(n_steps,)`` of a seeded random walk on it."""
    world = make_worlds(spec)[0]
    return world, WalkSampler([world], 1, n_steps, n_steps, seed=0, stagger=False).next_window().node[0]


def node_field(world, centre, sigma):
    """A Gaussian place field ``(n_nodes,)`` of width ``sigma`` (node steps) at ``centre`` (x, y)."""
    x, y = world.positions.T
    return np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma ** 2))


# ----------------------------------------------------------------------------- gridness
def test_ideal_hex_map_is_gridlike():
    scores = grid_scores(hex_map())
    assert scores["s60"] > 1
    assert scores["s90"] < scores["s60"] - 0.5
    assert "deepmind" in scores["method"]
    expected = {"inner_radius", "outer_radii", "min_overlap", "interpolation_order"}
    assert expected <= set(scores["params"])


def test_square_lattice_scores_s90_not_s60():
    scores = grid_scores(square_map())
    assert scores["s90"] > 1
    assert scores["s60"] < 0.5


def test_noise_scores_near_zero():
    values = [s60(np.random.default_rng(seed).uniform(size=(N, N))) for seed in range(3)]
    assert all(abs(v) < 0.3 for v in values)
    assert abs(np.mean(values)) < 0.2


def test_nan_bins_are_tolerated():
    m = hex_map()
    m[np.random.default_rng(0).uniform(size=m.shape) < 0.2] = np.nan
    assert grid_scores(m)["s60"] > 0.8


def test_constant_map_gives_nan_without_warnings():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        scores = grid_scores(np.full((10, 10), 3.0))
    assert np.isnan(scores["s60"]) and np.isnan(scores["s90"]) and np.isnan(scores["spacing"])
    assert not record


@pytest.mark.parametrize("spacing", [6.0, 8.0, 11.0])
def test_spacing_matches_pattern(spacing):
    assert grid_scores(hex_map(spacing=spacing))["spacing"] == pytest.approx(spacing, rel=0.15)


@pytest.mark.parametrize("orientation", [0.0, 12.0, 25.0, 47.0])
def test_orientation_of_rotated_pattern_is_recovered(orientation):
    found = grid_spacing_orientation(autocorrelogram(hex_map(orientation=orientation)))[1]
    error = (found - orientation + 30) % 60 - 30  # orientation is defined modulo 60 degrees
    assert abs(error) < 3


def test_spacing_orientation_nan_without_peaks():
    assert np.isnan(grid_spacing_orientation(np.full((9, 9), np.nan))).all()


# ----------------------------------------------------------------------------- autocorrelogram
def brute_crosscorrelogram(x, y, min_overlap):
    H, W = x.shape
    out = np.full((2 * H - 1, 2 * W - 1), np.nan)
    for dy in range(-H + 1, H):
        for dx in range(-W + 1, W):
            a = x[max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)]  # x[i + dy, j + dx]
            b = y[max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]  # y[i, j]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() >= min_overlap and a[ok].std() > 0 and b[ok].std() > 0:
                out[H - 1 + dy, W - 1 + dx] = np.corrcoef(a[ok], b[ok])[0, 1]
    return out


def test_autocorrelogram_shape_centre_symmetry():
    m = hex_map(shape=(30, 36))
    m[5:9, 10:14] = np.nan
    sac = autocorrelogram(m)
    assert sac.shape == (59, 71)
    assert sac[29, 35] == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(sac, sac[::-1, ::-1], atol=1e-9, equal_nan=True)


def test_autocorrelogram_matches_brute_force():
    m = np.random.default_rng(3).normal(size=(5, 6))
    m[1, 2] = m[3, 0] = m[4, 5] = np.nan
    np.testing.assert_allclose(autocorrelogram(m, min_overlap=3), brute_crosscorrelogram(m, m, 3),
                               atol=1e-9, equal_nan=True)
    other = np.random.default_rng(4).normal(size=(5, 6))
    other[0, 0] = np.nan
    np.testing.assert_allclose(crosscorrelogram(m, other, min_overlap=3),
                               brute_crosscorrelogram(m, other, 3), atol=1e-9, equal_nan=True)


def test_crosscorrelogram_finds_shift():
    m = np.random.default_rng(5).normal(size=(20, 20))
    shifted = np.roll(m, (3, -2), axis=(0, 1))  # shifted[i + 3, j - 2] = m[i, j]
    cross = crosscorrelogram(shifted, m)
    assert np.unravel_index(np.nanargmax(cross), cross.shape) == (19 + 3, 19 - 2)
    with pytest.raises(ValueError, match="same shape"):
        crosscorrelogram(m, m[:10])


# ----------------------------------------------------------------------------- shuffles
def test_shuffled_maps_keep_nan_positions_and_values():
    m = hex_map(n=10)
    m[2, 3] = np.nan
    shuffled = shuffled_maps(m, 4, rng=0)
    assert shuffled.shape == (4, 10, 10)
    assert (np.isnan(shuffled) == np.isnan(m)).all()
    np.testing.assert_array_equal(np.sort(shuffled[1][np.isfinite(shuffled[1])]),
                                  np.sort(m[np.isfinite(m)]))
    assert not np.array_equal(shuffled[0], shuffled[1])


def test_shuffle_thresholds():
    hex_ = hex_map()
    threshold = shuffle_threshold(hex_, s60, n_shuffles=15, rng=np.random.default_rng(1))
    assert threshold < 0.5 < 1 < s60(hex_)
    noise = np.random.default_rng(7).uniform(size=(N, N))
    assert s60(noise) <= shuffle_threshold(noise, s60, n_shuffles=15, rng=2)
    again = [shuffle_threshold(hex_, s60, n_shuffles=3, rng=5) for _ in range(2)]
    assert again[0] == again[1]  # seeded: reproducible


# ----------------------------------------------------------------------------- place-likeness
def test_spatial_information():
    assert spatial_information(bump()) > 1
    assert spatial_information(np.full((N, N), 0.7)) == pytest.approx(0.0, abs=1e-12)
    shifted = spatial_information(bump() - 0.5)  # signed activity: shifted so the minimum is 0
    assert shifted == pytest.approx(spatial_information(bump() - bump().min()))
    occupancy = np.ones((N, N))
    assert spatial_information(bump(), occupancy) == pytest.approx(spatial_information(bump()))


def test_place_cell_scores_single_bump():
    """A unit firing in one Gaussian field along a walk is a place unit; one firing at random is not."""
    world, nodes = walk("square:20")
    bump_unit = node_field(world, (10, 10), 3.0)[nodes]
    noise_unit = np.random.default_rng(0).uniform(size=len(nodes))
    scores, noise = place_cell_scores(np.stack([bump_unit, noise_unit], axis=1), nodes, world,
                                      n_shuffles=20, rng=0)
    assert scores["spatial_information"] > 1
    assert scores["spatial_information"] > scores["spatial_information_threshold"]
    assert scores["n_fields"] == 1 and scores["is_place"]
    assert not noise["is_place"]


def test_count_fields():
    assert count_fields(bump()) == 1
    assert count_fields(bump(centre=(10, 10)) + bump(centre=(30, 28))) == 2
    assert count_fields(np.zeros((5, 5))) == 0


def test_smooth_map_keeps_nans_and_constants():
    m = np.full((6, 6), 2.0)
    m[1, 1] = np.nan
    out = smooth_map(m, 1.0)
    assert np.isnan(out[1, 1]) and np.allclose(out[np.isfinite(out)], 2.0)


# ----------------------------------------------------------------------------- many units
def test_score_units_and_fraction_above():
    maps = np.stack([hex_map(n=24, spacing=6), np.random.default_rng(1).uniform(size=(24, 24))])
    grid = score_units(maps, n_shuffles=8, rng=0)
    assert [s["is_grid"] for s in grid] == [True, False]
    assert fraction_above(grid, "s60", "s60_threshold") == 0.5
    assert fraction_above(grid, "s60", 5.0) == 0.0
    world, nodes = walk("square:20")
    bumps = np.stack([node_field(world, (10, 10), 3.0), node_field(world, (4, 15), 3.0)], axis=1)[nodes]
    place = place_cell_scores(bumps, nodes, world, n_shuffles=8, rng=0)
    assert fraction_above(place, "spatial_information", "spatial_information_threshold") == 1.0
    with pytest.raises(ValueError, match=r"\(n_units, H, W\)"):
        score_units(maps[0], rng=0)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad, message", [
    (np.zeros(10), r"rate_map must be a 2D array \(NaN = unvisited\), got shape \(10,\)"),
    (np.zeros((4, 4, 4)), r"rate_map must be a 2D array .* got shape \(4, 4, 4\)"),
    (np.full((6, 6), np.nan), r"rate_map has no finite values .*\(6, 6\)"),
    (np.ones((2, 2)), r"rate_map must be at least 3x3, got shape \(2, 2\)"),
])
def test_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        grid_scores(bad)


# ----------------------------------------------------------------------------- rasterise
def test_rasterise_square_grid_round_trips():
    rng = np.random.default_rng(0)
    expected = rng.normal(size=(7, 9))
    expected[2, 3] = np.nan  # an unvisited node stays NaN
    yy, xx = np.indices(expected.shape)
    positions = np.stack([xx.ravel(), yy.ravel()], axis=1) + np.array([-3, 5])
    order = rng.permutation(expected.size)
    raster = rasterise(expected.ravel()[order], positions[order])
    np.testing.assert_array_equal(raster, expected)


def hex_positions(width, height):
    row, col = np.divmod(np.arange(width * height), width)
    return np.stack([col + (row % 2) / 2, row * np.sqrt(3) / 2], axis=1)


def test_rasterise_hex_lattice_fills_hull():
    positions = hex_positions(12, 10)
    values = np.arange(len(positions), dtype=float)
    raster = rasterise(values, positions)
    idx = np.rint((positions - positions.min(0)) / 0.5).astype(int)  # default bin: half a spacing
    np.testing.assert_array_equal(raster[idx[:, 1], idx[:, 0]], values)  # nodes keep their values
    yy, xx = np.indices(raster.shape)
    bins = np.stack([xx.ravel(), yy.ravel()], axis=1)
    inside = spatial.Delaunay(idx).find_simplex(bins, tol=1e-9) >= 0
    assert inside.sum() > len(positions) and np.isfinite(raster.ravel()[inside]).all()


def test_rasterised_hex_world_is_gridlike():
    positions = hex_positions(22, 24)
    x, y = positions.T * 2  # the pattern in bins of the raster (bin = half a node spacing)
    k = 4 * np.pi / (np.sqrt(3) * 9.0)
    values = sum(np.cos(k * (np.cos(a) * x + np.sin(a) * y)) for a in np.radians([30, 90, 150]))
    scores = grid_scores(rasterise(values, positions))
    assert scores["s60"] > 1 and scores["spacing"] == pytest.approx(9.0, rel=0.15)


def test_node_values_with_positions_shuffle_nodes():
    positions = hex_positions(14, 16)
    x, y = positions.T * 2  # bins of the raster
    k = 4 * np.pi / (np.sqrt(3) * 7.0)
    pattern = sum(np.cos(k * (np.cos(a) * x + np.sin(a) * y)) for a in np.radians([30, 90, 150]))
    noise = np.random.default_rng(0).normal(size=len(positions))
    grid = score_units(np.stack([pattern, noise]), positions=positions, n_shuffles=8, rng=0)
    assert [g["is_grid"] for g in grid] == [True, False]
    with pytest.raises(ValueError, match=r"\(n_units, n_nodes\)"):
        score_units(pattern, positions=positions, rng=0)


def test_place_cell_scores_on_a_hex_world():
    """A field on a hex world (rasterised at half a node spacing, fields need 2 bins) is one field."""
    world, nodes = walk("hex:14")
    assert world.lattice == "hex"
    field = node_field(world, (7.0, 5.6), 1.5)[nodes]
    noise = np.random.default_rng(0).uniform(size=len(nodes))
    scores, other = place_cell_scores(np.stack([field, noise], axis=1), nodes, world, n_shuffles=10, rng=0)
    assert scores["is_place"] and scores["n_fields"] == 1
    assert not other["is_place"]


def test_spacing_ignores_ripples_along_a_ridge():
    """A band-like autocorrelogram: a ring of six peaks 16 bins out, and a ridge through the centre
    whose values ripple with a 2-bin period (a hex raster's sampling). The ripples are not peaks."""
    y, x = np.mgrid[-30:31, -30:31].astype(float)
    ridge = np.exp(-y ** 2 / 8 - np.abs(x) / 20) * (0.9 + 0.05 * np.cos(np.pi * x))
    ring = sum(np.exp(-((x - 16 * np.cos(a)) ** 2 + (y - 16 * np.sin(a)) ** 2) / 8)
               for a in np.radians(np.arange(30, 360, 60)))
    sac = np.maximum(ridge, 0.8 * ring)
    assert grid_spacing_orientation(sac, smooth=0)[0] < 8  # the raw ripples would be taken for peaks
    assert grid_spacing_orientation(sac)[0] == pytest.approx(16, abs=0.5)
