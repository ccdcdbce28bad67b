"""Object-vector cells: object-centred maps, the shuffle-tested score, the salient walk and a run."""
import json

import numpy as np
import pytest

from analysis.objectvector import (displacement_bins, masked_pearson, object_centred_maps, object_vector_run,
                                   object_vector_scores, salient_environment)
from envs import make_worlds, square_grid
from tem.training.cli import main as train_main

SIDE = 11
POSITIONS = square_grid(SIDE).positions
OBJECTS_A = np.array([2 * SIDE + 3, 8 * SIDE + 7])  # (x, y) = (3, 2), (7, 8)
OBJECTS_B = np.array([6 * SIDE + 1, 3 * SIDE + 8])  # (1, 6), (8, 3)


def _bump(d, centre, width=1.0):
    return np.exp(-((d - centre) ** 2).sum(axis=-1) / (2 * width ** 2))


def _ovc(objects, offset):
    """A unit firing at ``offset`` from the nearest salient object."""
    return _bump(displacement_bins(POSITIONS, objects), np.asarray(offset, dtype=float))


def _synthetic(rng, n_each=20, noise=0.05):
    """(maps_a, maps_b, is_ovc): object-vector units, place units and random units."""
    a, b, truth = [], [], []
    for _ in range(n_each):
        offset = rng.integers(-2, 3, size=2)
        a.append(_ovc(OBJECTS_A, offset)), b.append(_ovc(OBJECTS_B, offset)), truth.append(True)
    for _ in range(n_each):  # place cells: the same absolute field in both environments
        field = _bump(POSITIONS, rng.uniform(0, SIDE - 1, size=2), width=1.5)
        a.append(field), b.append(field), truth.append(False)
    for _ in range(n_each):
        a.append(rng.random(len(POSITIONS))), b.append(rng.random(len(POSITIONS))), truth.append(False)
    a, b = np.array(a), np.array(b)
    a += noise * rng.standard_normal(a.shape)
    b += noise * rng.standard_normal(b.shape)
    return a, b, np.array(truth)


def test_displacement_bins_are_lattice_vectors_from_the_nearest_object():
    bins = displacement_bins(POSITIONS, OBJECTS_A)
    assert bins.shape == (SIDE * SIDE, 2)
    np.testing.assert_array_equal(bins[OBJECTS_A], 0.0)
    np.testing.assert_array_equal(bins[0], [-3, -2])  # node (0, 0): nearest object (3, 2)
    np.testing.assert_array_equal(bins[SIDE * SIDE - 1], [3, 2])  # node (10, 10): nearest (7, 8)
    np.testing.assert_array_equal(bins, np.round(bins))  # integers on a square grid
    far = displacement_bins(POSITIONS, OBJECTS_A, max_distance=2.0)
    assert np.isnan(far[0]).all() and not np.isnan(far[OBJECTS_A]).any()
    hexes = make_worlds("hex:5")[0].positions
    hex_bins = displacement_bins(hexes, np.array([12]))
    assert len(np.unique(hex_bins, axis=0)) == len(hexes)  # one bin per hex displacement


def test_object_centred_maps_average_visited_nodes_per_bin():
    maps = np.array([[1.0, 3.0, np.nan, 5.0]])
    bins = np.array([[0, 0], [0, 0], [1, 0], [1, 0]], dtype=float)
    keys = np.array([[0, 0], [1, 0], [2, 0]], dtype=float)
    np.testing.assert_allclose(object_centred_maps(maps, bins, keys), [[2.0, 5.0, np.nan]])
    r = masked_pearson(np.array([[1, 2, 3, np.nan], [1, 1, 1, 1.0]]), np.array([[2, 4, 6, 0], [1, 2, 3, 4.0]]))
    assert r[0] == pytest.approx(1.0) and np.isnan(r[1])  # flat map: no correlation


def test_object_vector_units_are_separated_from_place_and_random_units():
    maps_a, maps_b, truth = _synthetic(np.random.default_rng(1))
    scores = object_vector_scores(maps_a, maps_b, POSITIONS, OBJECTS_A, OBJECTS_B, n_shuffles=100, seed=0)
    assert scores["r"].shape == scores["threshold"].shape == scores["is_ovc"].shape == (len(truth),)
    assert scores["shuffled"].shape == (100, len(truth))
    assert scores["r"][truth].min() > 0.8
    assert scores["is_ovc"][truth].all()
    assert scores["is_ovc"][~truth].mean() <= 0.1
    assert scores["object_vector_fraction"] == pytest.approx(scores["is_ovc"].mean())
    again = object_vector_scores(maps_a, maps_b, POSITIONS, OBJECTS_A, OBJECTS_B, n_shuffles=100, seed=0)
    np.testing.assert_array_equal(again["threshold"], scores["threshold"])  # seeded


def test_object_vector_scores_handle_unvisited_nodes_and_max_distance():
    maps_a, maps_b, truth = _synthetic(np.random.default_rng(2), n_each=5)
    maps_a[:, ::7] = np.nan  # some nodes never visited in A
    scores = object_vector_scores(maps_a, maps_b, POSITIONS, OBJECTS_A, OBJECTS_B, n_shuffles=50,
                                  max_distance=4.0)
    assert scores["is_ovc"][truth].all() and np.isfinite(scores["r"]).all()
    with pytest.raises(ValueError):
        object_vector_scores(maps_a, maps_b[:, :-1], POSITIONS, OBJECTS_A, OBJECTS_B)


def test_salient_environment_and_approach_walk():
    world = square_grid(6)
    salient, objects, nodes, actions = salient_environment(world, 2, 10, 2000, seed=0, approach=0.7)
    assert len(np.unique(salient)) == 2 and (objects[salient] == 9).all()
    assert (np.delete(objects, salient) < 9).all()
    assert actions[0] == -1 and (world.transitions[nodes[:-1], actions[1:]] == nodes[1:]).all()
    _, _, uniform, _ = salient_environment(world, 2, 10, 2000, seed=0, approach=0.0)
    assert np.isin(nodes, salient).mean() > 2 * np.isin(uniform, salient).mean()  # objects are approached
    assert len(np.unique(nodes)) == world.n_nodes


def test_object_vector_run_writes_json_and_figure(tmp_path):
    out = tmp_path / "run"
    assert train_main(["--batch", "4", "--window", "8", "--walk-length", "24", "--world", "square:4",
                       "--n-objects", "6", "--temt.module-sizes", "8", "--temt.sensory-dim", "8",
                       "--temt.key-dim", "8", "--eval-every", "0", "--steps", "3", "--threads", "1",
                       "--no-analysis", "--out", str(out)]) == 0
    summary = object_vector_run(out, "square:5", n_salient=2, walk_length=300, n_shuffles=20)
    saved = json.loads((out / "objectvector.json").read_text())
    assert (out / "objectvector.png").exists()
    assert saved["object_vector_fraction"] == summary["object_vector_fraction"]
    assert saved["salient_object_id"] == 5 and len(saved["units"]) == saved["n_mec_units"] == 8
    assert not set(saved["salient_a"]) & set(saved["salient_b"])
    from analysis.__main__ import main as analysis_main

    (out / "objectvector.json").unlink()
    assert analysis_main(["objectvector", str(out), "--world", "square:5", "--walk-length", "300", "--shuffles", "5",
                          "--seed", "1"]) == 0
    assert json.loads((out / "objectvector.json").read_text())["seed"] == 1
