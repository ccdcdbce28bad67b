"""Non-random remapping: place units keep their relationship to grid units across worlds."""
import numpy as np
import pytest

from analysis.plots import plot_grid_place_relationship
from analysis.ratemaps import RateMaps
from analysis.relationship import grid_place_relationship, peak_nodes, relationship_for_run, relationship_pairs
from envs import make_worlds

SIDE = 10


def periodic_maps(n_units: int, rng) -> np.ndarray:
    """``(n_units, SIDE, SIDE)`` smooth maps periodic on the grid: two plane waves of integer wave
    numbers each, so that a shift on the torus is a realignment that keeps every phase relation."""
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    maps = np.zeros((n_units, SIDE, SIDE))
    for unit in range(n_units):
        for _ in range(2):
            kx, ky = rng.integers(-2, 3, 2)
            maps[unit] += np.cos(2 * np.pi * (kx * x + ky * y) / SIDE + rng.uniform(0, 2 * np.pi))
    return maps


def two_worlds(seed: int = 0, n_mec: int = 30, n_place: int = 20, noise: float = 0.3):
    """MEC maps in world A and B (B = A shifted by a random offset, plus noise), ``(n_mec, SIDE**2)``
    each, place peaks in A, peaks in B at the same grid phase, and peaks in B at random."""
    rng = np.random.default_rng(seed)
    a = periodic_maps(n_mec, rng)
    offset = rng.integers(1, SIDE, 2)
    b = np.roll(a, tuple(offset), axis=(1, 2)) + noise * rng.standard_normal(a.shape)
    mec_a, mec_b = a.reshape(n_mec, -1), b.reshape(n_mec, -1)
    peaks_a = rng.choice(SIDE * SIDE, n_place, replace=False)
    # same grid phase: the node of B whose MEC population vector best matches the one at the peak in A
    similarity = mec_a[:, peaks_a].T @ mec_b  # (n_place, n_nodes)
    peaks_b = similarity.argmax(axis=1)
    return mec_a, mec_b, peaks_a, peaks_b, rng.choice(SIDE * SIDE, n_place, replace=False)


def test_peaks_at_the_same_grid_phase_keep_the_relationship():
    mec_a, mec_b, peaks_a, peaks_b, _ = two_worlds()
    result = grid_place_relationship(mec_a, mec_b, peaks_a, peaks_b, n_null=1000, seed=0)
    assert result["n_pairs"] == 30 * 20 and result["n_place_units"] == 20
    assert result["p"] < 0.01 and result["r"] > result["null_r_95"] and result["r"] > 0.5
    assert abs(result["null_r_mean"]) < 0.1
    assert grid_place_relationship(mec_a, mec_b, peaks_a, peaks_b, n_null=200, seed=0) == \
        grid_place_relationship(mec_a, mec_b, peaks_a, peaks_b, n_null=200, seed=0)  # seeded


def test_random_peaks_in_the_second_world_are_not_significant():
    mec_a, mec_b, peaks_a, _, random_b = two_worlds()
    result = grid_place_relationship(mec_a, mec_b, peaks_a, random_b, n_null=1000, seed=0)
    assert result["p"] > 0.05 and result["r"] < result["null_r_95"]


def test_unstandardised_rates_and_degenerate_inputs():
    mec_a, mec_b, peaks_a, peaks_b, _ = two_worlds(seed=1)
    offsets = np.arange(len(mec_a))[:, None] * 5.0  # MEC units with different mean rates
    raw = grid_place_relationship(mec_a + offsets, mec_b + offsets, peaks_a, peaks_b, n_null=300,
                                  standardise=False)
    assert raw["null_r_mean"] > 0.9 and raw["p"] < 0.01  # unit means inflate r and its null alike
    x, y = relationship_pairs(mec_a, mec_b, peaks_a, peaks_b)
    assert x.shape == y.shape == (30, 20)
    one = grid_place_relationship(mec_a, mec_b, peaks_a[:1], peaks_b[:1])
    assert one["r"] is None and one["p"] is None and one["n_place_units"] == 1
    with pytest.raises(ValueError):
        grid_place_relationship(mec_a, mec_b, peaks_a, peaks_b[:3])
    np.testing.assert_array_equal(peak_nodes(np.array([[np.nan, 1, 3, 2], [np.nan] * 4])), [2, -1])
    fig, _ = plot_grid_place_relationship(x, y, grid_place_relationship(mec_a, mec_b, peaks_a, peaks_b, n_null=50))
    assert fig.axes


class _Model:
    def __init__(self, units: str):
        self.hippocampal_units = units


def _walk(world, mec, peaks, unit_ids, rng, steps: int = 3000) -> RateMaps:
    """A walk of ``world`` whose hippocampal units are Gaussian bumps at ``peaks`` (ids ``unit_ids``)."""
    nodes = rng.integers(0, world.n_nodes, steps)
    distance = np.linalg.norm(world.positions[nodes][:, None] - world.positions[peaks][None], axis=-1)
    trace = np.exp(-distance ** 2 / 2) + 0.01 * rng.random((steps, len(peaks)))  # (K, n_units)
    occupancy = np.bincount(nodes, minlength=world.n_nodes).astype(float)
    hippocampus = np.stack([np.bincount(nodes, trace[:, j], world.n_nodes) for j in range(len(peaks))]) / occupancy
    return RateMaps(mec, hippocampus, occupancy, np.asarray(unit_ids), nodes, trace)


def test_run_level_matches_units_by_id_and_skips_attention_memories():
    world = make_worlds(f"square:{SIDE}")[0]  # node k at (k % SIDE, k // SIDE), as the synthetic maps
    mec_a, mec_b, peaks_a, peaks_b, _ = two_worlds(seed=2, n_place=12)
    rng = np.random.default_rng(0)
    first = _walk(world, mec_a, peaks_a, np.arange(12), rng)
    order = np.r_[np.arange(2, 12), 12, 13]  # the second walk maps units 2..13: ten in common
    second = _walk(world, mec_b, np.r_[peaks_b[2:], rng.integers(0, 100, 2)], order, rng)
    result, pairs = relationship_for_run(_Model("neuron"), first, second, world, np.ones(12, bool), n_shuffles=20,
                                         n_null=300)
    assert result["n_common_units"] == 10 and result["n_place_units"] == 10 and result["p"] < 0.01
    assert pairs[0].shape == (30, 10)
    skipped, none = relationship_for_run(_Model("step"), first, second, world, np.ones(12, bool))
    assert set(skipped) == {"skipped"} and none is None


def test_an_attention_memory_model_is_skipped():
    from tem.model import Task
    from tem.temt import TEMt, TEMtConfig

    world = make_worlds("square:4")[0]
    model = TEMt(TEMtConfig(module_sizes=(8,), sensory_dim=8, key_dim=8), Task.from_world(world, 6))
    assert model.hippocampal_units == "step"
    maps = RateMaps(np.zeros((8, 16)), np.zeros((4, 16)), np.ones(16), np.arange(4))
    result, pairs = relationship_for_run(model, maps, maps, world, np.ones(4, bool))
    assert "skipped" in result and "step" in result["skipped"] and pairs is None
