"""The batched scores (many maps per FFT, sparse rotation, all time shifts in one product) against the
per-map reference implementations they replace: same values to 1e-9, same shuffle draws, same
thresholds and the same grid and place units; and the two rate-map walks walked side by side."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from analysis.gridness import (GRID_ANGLES, _cubic_prefilter, _rotation_plan, _rotations, _spline_coefficients,
                               score_units, score_units_reference)
from analysis.maps import autocorrelogram, autocorrelograms, raster_layout, rasterise, rasterise_many
from analysis.place import _information, _shifted_information, node_maps, place_cell_scores
from analysis.ratemaps import record_rate_maps, record_walks
from envs import WalkSampler, make_worlds
from tem.checkpoint import build_model
from tem.memory import SDMConfig
from tem.model import Task
from tem.tem import TEMConfig
from tem.temt import TEMtConfig

TOL = 1e-9


def hex_values(world, spacing=4.0, phase=0.0):
    """A hexagonal pattern of node values ``(n_nodes,)`` with fields ``spacing`` node steps apart."""
    k = 4 * np.pi / (np.sqrt(3) * spacing)
    x, y = world.positions.T
    return sum(np.cos(k * (np.cos(a) * x + np.sin(a) * y) + phase) for a in np.radians([30, 90, 150]))


def assert_same_scores(batched: list[dict], reference: list[dict]):
    assert len(batched) == len(reference)
    for new, old in zip(batched, reference):
        assert list(new) == list(old)  # same keys, same order
        for key, value in old.items():
            if isinstance(value, float):
                np.testing.assert_allclose(new[key], value, atol=TOL, rtol=0, equal_nan=True, err_msg=key)
            elif key in ("annulus60", "annulus90") and value is not None:
                np.testing.assert_allclose(new[key], value, atol=TOL, rtol=0, err_msg=key)
            else:
                assert new[key] == value, key


# ----------------------------------------------------------------------------- building blocks
def test_autocorrelograms_match_one_map_at_a_time():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(6, 13, 17))
    maps[:, 2:5, 3:6] = np.nan  # a shared hole
    maps[1, 0, :4] = np.nan  # and maps with holes of their own
    maps[2] = 2.5  # constant: all NaN
    maps[3, 7, 7] = np.inf  # inf = unvisited
    maps[4] = np.where(maps[4] > 0, maps[4], 0.0)  # a rectified unit: flat regions
    batched = autocorrelograms(maps)
    for m, sac in zip(maps, batched):
        np.testing.assert_allclose(sac, autocorrelogram(m), atol=TOL, equal_nan=True)
    np.testing.assert_allclose(autocorrelograms(maps[:2], min_overlap=[5, 40])[1],
                               autocorrelogram(maps[1], min_overlap=40), atol=TOL, equal_nan=True)


@pytest.mark.parametrize("spec", ["hex:9", "square:7", "line:5"])
def test_rasterise_many_matches_rasterise(spec):
    world = make_worlds(spec)[0]
    values = np.random.default_rng(1).normal(size=(4, world.n_nodes))
    values[:, 3] = np.nan
    values[2, :5] = np.nan
    rasters = rasterise_many(values, raster_layout(world.positions))
    for v, r in zip(values, rasters):
        np.testing.assert_array_equal(r, rasterise(v, world.positions))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_cubic_prefilter_equals_scipys(axis):
    x = np.random.default_rng(axis).normal(size=(30, 17, 14))
    expected = ndimage.spline_filter1d(x, 3, axis=axis, mode="nearest")
    _cubic_prefilter(x, axis)
    np.testing.assert_allclose(x, expected, atol=1e-13, rtol=0)


@pytest.mark.parametrize("shape, order", [((39, 39), 3), ((85, 99), 3), ((21, 27), 1)])
def test_sparse_rotations_match_scipy(shape, order):
    side = (min(shape) + 1) // 2
    outers = tuple(f * side for f in np.linspace(0.4, 1.0, 10))
    plan = _rotation_plan(shape, 0.2 * side, outers, order)
    assert plan is not None
    sac = ndimage.gaussian_filter(np.random.default_rng(2).normal(size=shape), 2)
    sac[:4, :9] = np.nan
    finite = np.isfinite(sac)
    nearest = ndimage.distance_transform_edt(~finite, return_distances=False, return_indices=True)
    coefficients = _spline_coefficients(sac[tuple(nearest)][None], plan.pad, order)[:, 0]
    expected = _rotations(sac, GRID_ANGLES, order)[0].reshape(len(GRID_ANGLES), -1)[:, plan.pixels]
    found = np.stack([op @ coefficients for op in plan.operators])
    np.testing.assert_allclose(found, expected, atol=1e-12)


def test_shifted_information_matches_rolled_node_maps():
    world = make_worlds("square:6")[0]
    nodes = WalkSampler([world], 1, 900, 900, seed=0, stagger=False).next_window().node[0]
    activity = np.random.default_rng(3).random((len(nodes), 3)) + (nodes == 8)[:, None]
    _, occupancy = node_maps(activity, nodes, world.n_nodes)
    shifts = np.array([45, 300, 855, 45])
    expected = np.stack([_information(node_maps(np.roll(activity, s, axis=0), nodes, world.n_nodes)[0], occupancy)
                         for s in shifts])
    np.testing.assert_allclose(_shifted_information(activity, nodes, world.n_nodes, occupancy, shifts, chunk=3),
                               expected, atol=1e-12)


TEMT_TINY = dict(module_sizes=(8,), sensory_dim=8, key_dim=8)


@pytest.mark.parametrize("config", [
    TEMtConfig(**TEMT_TINY), TEMtConfig(**TEMT_TINY, memory=SDMConfig(neurons=64, top_k=4)),
    TEMConfig(g_sizes=(6, 6), g_sub_sizes=(3, 3), frequencies=(0.99, 0.3), n_x_c=5, inference_iterations=(3, 3),
              generative_iterations=(3, 2), eta_ramp=1, lambda_ramp=1)], ids=["attention", "sdm", "tem"])
def test_walks_side_by_side_give_each_walk_its_own_maps(config):
    """The mapping walk and the remapping walk side by side: each gets the maps it gets alone (for a
    fixed population of neurons, the second walk maps the neurons the first chose)."""
    world = make_worlds("square:5")[0]
    torch.manual_seed(0)
    model = build_model(config, Task.from_world(world, n_objects=10)).eval()
    kwargs = dict(n_objects=10, n_hpc_units=6, window=20)
    together = record_walks(model, world, 160, seeds=(3, 4), **kwargs)
    neurons = model.hippocampal_units == "neuron"
    if neurons:
        np.testing.assert_array_equal(together[0].hpc_units, together[1].hpc_units)
    for seed, maps in zip((3, 4), together):
        units = together[0].hpc_units if neurons and seed == 4 else None
        alone = record_rate_maps(model, world, 160, seed=seed, units=units, **kwargs)
        for field in maps._fields:
            np.testing.assert_array_equal(getattr(maps, field), getattr(alone, field), err_msg=field)


@pytest.mark.parametrize("spec, inference", [("square:5", "off"), ("family-tree", "on")])
def test_tracking_without_predictions_gives_the_cells_and_units_of_a_full_window(spec, inference):
    """TEM-t's ``track`` (no read, no logits, only the asked units) gives the cells and those units'
    activity of a full window, with or without position inference, and the same state."""
    world = make_worlds(spec)[0]
    torch.manual_seed(0)
    model = build_model(TEMtConfig(**TEMT_TINY, inference=inference), Task.from_world(world, n_objects=10)).eval()
    sampler = WalkSampler([world], 2, 6, 60, n_objects=10, seed=1)
    full_state = track_state = model.initial_state(2)
    with torch.no_grad():
        for w in range(5):
            batch = sampler.next_window()
            obs, action, new_world = (torch.as_tensor(x) for x in (batch.obs, batch.action, batch.new_world))
            full = model(obs, action, new_world, full_state, return_activity=True)
            units = full.memory_units[:, [0, -2]]
            tracked = model.track(obs, action, new_world, track_state, units)
            assert tracked.logits is None
            torch.testing.assert_close(tracked.mec, full.mec, atol=0, rtol=0)
            torch.testing.assert_close(tracked.memory_activity, full.memory_activity[..., [0, -2]] * (units[:, None] >= 0),
                                       atol=1e-7, rtol=1e-5)
            full_state, track_state = full.state, tracked.state
    for name in ("keys", "values", "written"):
        assert torch.equal(full_state["memory"][name], track_state["memory"][name])


def test_tem_tracking_reads_its_generative_memory_only_where_the_state_needs_it():
    """TEM's ``track`` (the generative memory read with ``g_inf`` only, nothing predicted) gives the
    cells, every hippocampal unit and the state of a full window."""
    world = make_worlds("square:4")[0]
    torch.manual_seed(0)
    config = TEMConfig(g_sizes=(6, 6), g_sub_sizes=(3, 3), frequencies=(0.99, 0.3), n_x_c=5, inference_iterations=(3, 3),
                       generative_iterations=(3, 2), eta_ramp=1, lambda_ramp=1)
    model = build_model(config, Task.from_world(world, n_objects=10)).eval()
    sampler = WalkSampler([world], 2, 6, 30, n_objects=10, seed=1)
    full_state = track_state = model.initial_state(2)
    with torch.no_grad():
        for _ in range(7):  # a new walk starts in the sixth window
            batch = sampler.next_window()
            obs, action, new_world = (torch.as_tensor(x) for x in (batch.obs, batch.action, batch.new_world))
            full = model(obs, action, new_world, full_state, return_activity=True)
            tracked = model.track(obs, action, new_world, track_state, None)
            assert tracked.logits is None and full.logits is not None
            for got, want in ((tracked.mec, full.mec), (tracked.memory_activity, full.memory_activity),
                              (tracked.memory_units, full.memory_units)):
                torch.testing.assert_close(got, want, atol=0, rtol=0)
            full_state, track_state = full.state, tracked.state
    for name, part in full_state["memory"].items():
        for key, value in part.items():
            torch.testing.assert_close(track_state["memory"][name][key], value, atol=0, rtol=0)


def test_rate_maps_from_tracking_equal_those_from_full_windows(monkeypatch):
    """The rate maps ask only for the mapped units' activity, and none before the mapped half: the
    same maps as from every unit's activity at every window."""
    from tem.model import Model

    world = make_worlds("square:5")[0]
    torch.manual_seed(0)
    model = build_model(TEMtConfig(**TEMT_TINY), Task.from_world(world, n_objects=10)).eval()
    fast = record_rate_maps(model, world, 160, n_objects=10, n_hpc_units=6, window=20, seed=2)
    monkeypatch.setattr(type(model), "track", Model.track)  # every unit, with the read
    full = record_rate_maps(model, world, 160, n_objects=10, n_hpc_units=6, window=20, seed=2)
    np.testing.assert_array_equal(fast.hpc_units, full.hpc_units)
    np.testing.assert_array_equal(fast.mec, full.mec)
    np.testing.assert_allclose(fast.hippocampus, full.hippocampus, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(fast.hpc_trace, full.hpc_trace, rtol=1e-5, atol=1e-8)
    assert np.isfinite(fast.hippocampus).any() and np.nanmax(fast.hippocampus) > 0


def test_memory_units_are_the_first_places_of_the_walk_not_of_its_first_window():
    """A growing memory's mapped units are the steps that first visited the walk's first places,
    even when the first window holds fewer places; asking for more units than the world has places
    maps one per place."""
    from envs import WalkPolicy, WalkSampler

    world = make_worlds("square:4")[0]
    torch.manual_seed(0)
    model = build_model(TEMtConfig(**TEMT_TINY), Task.from_world(world, n_objects=10)).eval()
    sampler = WalkSampler([world], 1, 5, 160, n_objects=10, seed=0, stagger=False, policy=WalkPolicy())
    nodes = np.concatenate([sampler.next_window().node[0] for _ in range(32)])  # the walk record_rate_maps takes
    assert len(np.unique(nodes[:5])) < 6  # the first window cannot hold six places
    _, first = np.unique(nodes, return_index=True)
    first = np.sort(first)[np.sort(first) < 80 + 5]  # places first seen by the end of the first mapped window
    for n in (6, 40):
        maps = record_rate_maps(model, world, 160, n_objects=10, n_hpc_units=n, window=5)
        np.testing.assert_array_equal(maps.hpc_units, first[:n])
        assert np.isfinite(maps.hippocampus).any(axis=1).all()


# ----------------------------------------------------------------------------- whole scores
def test_grid_scores_of_node_maps_match_the_reference():
    """Hex node maps (grid, band, noise, a unit with unvisited nodes, a silent unit): same scores,
    same thresholds from the same permutations, same grid units."""
    world = make_worlds("hex:11")[0]
    rng = np.random.default_rng(4)
    x = world.positions[:, 0]
    maps = np.stack([hex_values(world), hex_values(world, 6.0, 1.0), np.cos(x), rng.normal(size=world.n_nodes),
                     hex_values(world, 5.0), np.zeros(world.n_nodes)])
    maps[4, rng.random(world.n_nodes) < 0.15] = np.nan
    batched = score_units(maps, positions=world.positions, n_shuffles=12, rng=5)
    reference = score_units_reference(maps, positions=world.positions, n_shuffles=12, rng=5)
    assert_same_scores(batched, reference)
    assert batched[0]["is_grid"] and not batched[3]["is_grid"]
    for workers in (1, 3):  # units scored on threads: the same scores, in unit order
        assert_same_scores(score_units(maps, positions=world.positions, n_shuffles=12, rng=5, workers=workers),
                           reference)


def test_grid_scores_of_rasters_match_the_reference_with_other_parameters():
    rng = np.random.default_rng(6)
    yy, xx = np.indices((16, 18)).astype(float)
    maps = np.stack([np.cos(xx / 1.5) + np.cos(yy / 1.5), rng.uniform(size=(16, 18)), np.cos((xx + yy) / 2)])
    maps[0, 3:6, 3:7] = np.nan
    for kwargs in ({}, {"order": 1}, {"outer_fractions": (0.5, 0.8, 2.5)}, {"inner_fraction": 0.3, "min_overlap": 9},
                   {"order": 2}):  # outer radii past the map, and order 2: the per-map fallback
        assert_same_scores(score_units(maps, n_shuffles=6, rng=7, **kwargs),
                           score_units_reference(maps, n_shuffles=6, rng=7, **kwargs))


def test_same_generator_gives_the_same_thresholds_as_the_reference():
    world = make_worlds("square:9")[0]
    maps = np.stack([hex_values(world, 4.0, p) for p in (0.0, 0.7, 2.0)])
    generators = np.random.default_rng(8), np.random.default_rng(8)
    batched = score_units(maps, positions=world.positions, n_shuffles=10, rng=generators[0])
    reference = score_units_reference(maps, positions=world.positions, n_shuffles=10, rng=generators[1])
    assert_same_scores(batched, reference)
    assert generators[0].random() == generators[1].random()  # the same draws were taken


def test_place_cell_scores_are_unchanged_by_batching():
    world = make_worlds("hex:8")[0]
    nodes = WalkSampler([world], 1, 2000, 2000, seed=1, stagger=False).next_window().node[0]
    rng = np.random.default_rng(9)
    activity = np.stack([(nodes == 20) + 0.05 * rng.random(len(nodes)), rng.random(len(nodes)),
                         np.isin(nodes, [0, 60]).astype(float)], axis=1)
    scores = place_cell_scores(activity, nodes, world, n_shuffles=15, rng=2)
    K, min_shift = len(nodes), len(nodes) // 20
    maps, occupancy = node_maps(activity, nodes, world.n_nodes)
    shifts = np.random.default_rng(2).integers(min_shift, K - min_shift, 15)
    shuffled = np.stack([_information(node_maps(np.roll(activity, s, axis=0), nodes, world.n_nodes)[0], occupancy)
                         for s in shifts])
    np.testing.assert_allclose([s["spatial_information_threshold"] for s in scores],
                               np.nanpercentile(shuffled, 95, axis=0), atol=1e-12)
    assert [s["is_place"] for s in scores] == [True, False, False]
