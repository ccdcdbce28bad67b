"""Evaluation metrics, the analysis CLI on a tiny run, rate maps and remapping."""
import gc
import json

import numpy as np
import pytest

from analysis.__main__ import main as analysis_main
from tem.training.cli import main as train_main
from analysis.evaluate import Walks, accuracy_curves, score_walks
from analysis.ideal import ideal_observer
from analysis.maps import crosscorrelogram, rasterise
from analysis.metrics import fraction_visited, visit_masks
from analysis.plots import plot_accuracy_vs_visited
from analysis.remapping import node_correlation, remapping_scores, shifted_correlations
from analysis.ratemaps import RateMaps
from envs import WalkSampler, make_worlds

TINY = ["--batch", "4", "--window", "8", "--walk-length", "24", "--world", "square:4", "--n-objects", "6",
        "--temt.module-sizes", "8", "--temt.sensory-dim", "8", "--temt.key-dim", "8", "--eval-every", "0", "--steps", "3",
        "--threads", "1", "--no-analysis"]


def brute_force_masks(node, action, n_actions):
    B, T = node.shape
    masks = {k: np.zeros((B, T), dtype=bool) for k in ("node_visited", "edge_visited", "link_inference")}
    for b in range(B):
        nodes, edges = set(), set()
        for t in range(T):
            edge = (node[b, t - 1], action[b, t]) if t > 0 and action[b, t] >= 0 else None
            masks["node_visited"][b, t] = node[b, t] in nodes
            masks["edge_visited"][b, t] = edge in edges
            stayed = t > 0 and node[b, t] == node[b, t - 1]
            masks["link_inference"][b, t] = (masks["node_visited"][b, t] and edge is not None and edge not in edges
                                             and not stayed)
            nodes.add(node[b, t])
            edges.add(edge)
    return masks


@pytest.mark.parametrize("world", ["square:4", "square+stay:4"])
def test_visit_masks_match_a_brute_force_count(world):
    worlds = make_worlds(world)
    sampler = WalkSampler(worlds, 5, 60, 60, seed=3, stagger=False)
    batch = sampler.next_window()
    masks = visit_masks(batch.node, batch.action, worlds[0].n_actions)
    for key, expected in brute_force_masks(batch.node, batch.action, worlds[0].n_actions).items():
        np.testing.assert_array_equal(masks[key], expected, err_msg=key)
    np.testing.assert_array_equal(masks["first_visit"], ~masks["node_visited"])
    assert masks["link_inference"].any()
    stays = np.zeros_like(masks["link_inference"])
    stays[:, 1:] = batch.node[:, 1:] == batch.node[:, :-1]
    assert stays.any() == ("stay" in world) and not (masks["link_inference"] & stays).any()


def test_fraction_visited_counts_distinct_earlier_nodes():
    np.testing.assert_allclose(fraction_visited(np.array([[0, 1, 0, 2, 2, 3]]), np.array([4])),
                               [[0, 0.25, 0.5, 0.5, 0.75, 0.75]])


def test_perfect_memory_scores_like_the_node_agent():
    sampler = WalkSampler(make_worlds("square:4"), 6, 80, 80, n_objects=10, seed=0, stagger=False)
    batch = sampler.next_window()
    masks = visit_masks(batch.node, batch.action, 4)
    walks = Walks(batch.obs, batch.action, batch.node, masks["node_visited"], batch.world)
    scores = score_walks(walks, 4, 10)
    assert scores["link_inference_acc"] == 1.0 and scores["first_visit_acc"] == 0.0
    ideal = ideal_observer(make_worlds("square:4"), batch.obs, batch.action, 10)
    curves = accuracy_curves(walks, make_worlds("square:4"), 10, bins=10, ideal=ideal.correct)
    np.testing.assert_array_less(curves["edge_agent"][curves["count"] > 0] - 1e-9,
                                 curves["node_agent"][curves["count"] > 0])
    np.testing.assert_allclose(curves["ideal"], curves["node_agent"])  # on squares the ideal knows every revisit
    np.testing.assert_allclose(curves["step_ideal"], curves["step_node_agent"])
    _, ax = plot_accuracy_vs_visited(curves)
    assert [line.get_label() for line in ax.get_lines()][-1] == "ideal observer"


def test_link_inference_by_action_on_a_hand_made_family_tree_walk():
    """Tree of depth 2 (heap order: children of v are 2v+1, 2v+2); actions parent, first_child,
    second_child, sibling. Link-inference steps: 3 (first_child 0->1), 4 (first_child 1->3),
    6 (parent 4->1) and 9 (parent 2->0); step 7 (parent 1->0) and 10 (first_child 0->1) retake edges."""
    node = np.array([[3, 1, 0, 1, 3, 4, 1, 0, 2, 0, 1]])
    action = np.array([[-1, 0, 0, 1, 1, 3, 0, 0, 2, 0, 1]])
    correct = np.array([[0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0]], dtype=bool)
    names = make_worlds("family-tree:2")[0].action_names
    scores = score_walks(Walks(node, action, node, correct, np.zeros(1, int)), 4, 15, action_names=names)
    assert scores["link_inference_steps"] == 4 and scores["link_inference_acc"] == 0.75
    assert scores["link_inference_by_action"] == {
        "parent": {"acc": 1.0, "steps": 2}, "first_child": {"acc": 0.5, "steps": 2},
        "second_child": {"acc": None, "steps": 0}, "sibling": {"acc": None, "steps": 0}}
    unnamed = score_walks(Walks(node, action, node, correct, np.zeros(1, int)), 4, 15)["link_inference_by_action"]
    assert list(unnamed) == ["0", "1", "2", "3"] and unnamed["1"] == {"acc": 0.5, "steps": 2}
    assert "ideal_observer_acc" not in scores  # only with an ideal observer's result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis") / "run"
    assert train_main(TINY + ["--out", str(out)]) == 0
    return out


def test_evaluate_cli_writes_summary_and_curve(tiny_run, capsys):
    assert analysis_main(["evaluate", str(tiny_run), "--worlds", "3", "--walk-length", "50"]) == 0
    summary = json.loads((tiny_run / "eval.json").read_text())
    for key in ("link_inference_acc", "node_visited_acc", "first_visit_acc", "edge_visited_agent_acc",
                "node_visited_agent_acc", "world", "link_inference_by_action", "ideal_observer_by_action"):
        assert key in summary
    assert summary["ideal_observer_acc"] == 1.0  # squares: dead reckoning finds every revisit
    assert set(summary["link_inference_by_action"]) == {"N", "E", "S", "W"}
    printed = json.loads(capsys.readouterr().out)
    assert printed["ideal_observer_acc"] == 1.0 and "link_inference_by_action" in printed
    header = (tiny_run / "accuracy_vs_visited.csv").read_text().splitlines()[0]
    assert header == "visited_fraction,count,model,node_agent,edge_agent,ideal"
    assert (tiny_run / "accuracy_vs_visited.png").exists()
    assert analysis_main(["evaluate", str(tiny_run), "--worlds", "2", "--walk-length", "40",
                          "--world", "periodic-square:5"]) == 0
    assert json.loads((tiny_run / "eval-periodic-square-5.json").read_text())["world"] == "periodic-square:5"


def test_ratemaps_cli_writes_maps_scores_and_remapping(tiny_run):
    assert analysis_main(["ratemaps", str(tiny_run), "--world", "square:6", "--walk-length", "300",
                          "--units", "4", "--shuffles", "3"]) == 0
    result = json.loads((tiny_run / "ratemaps-square-6.json").read_text())  # not the run's own 20x20 maps
    assert result["n_mec_units"] == 8 and result["n_hpc_units"] == 4 and result["world"] == "square 6x6"
    assert 0 <= result["mec_fraction_grid"] <= 1 and 0 <= result["hpc_fraction_place"] <= 1
    assert "s60" in result["mec_units"][0] and "method" in result["remapping"]
    for name in ("ratemaps_mec", "ratemaps_hpc", "autocorrelograms_mec", "cells_mec", "cells_hpc", "remapping"):
        assert (tiny_run / f"{name}-square-6.png").exists(), name
    assert not (tiny_run / "ratemaps.json").exists() and not (tiny_run / "remapping.png").exists()


def test_ratemaps_on_a_graph_world_draws_maps_without_grid_scores(tmp_path):
    out = tmp_path / "line"
    assert train_main(TINY + ["--world", "line:6", "--out", str(out)]) == 0
    assert analysis_main(["ratemaps", str(out), "--walk-length", "200", "--units", "3", "--shuffles", "2"]) == 0
    result = json.loads((out / "ratemaps.json").read_text())
    assert "note" in result and "mec_fraction_grid" not in result


@pytest.mark.parametrize("world, key, figure", [("w-maze:3", "splitter_fraction", "splitter_cells"),
                                                ("laps:3", "lap_fraction", "lap_cells")])
def test_ratemaps_on_latent_tasks_score_splitter_or_lap_cells(tmp_path, world, key, figure):
    """More units asked for than the world has places (the memory's units wait for the first places)."""
    out = tmp_path / "run"
    assert train_main(TINY + ["--world", world, "--out", str(out)]) == 0
    assert analysis_main(["ratemaps", str(out), "--walk-length", "400", "--units", "64", "--shuffles", "3"]) == 0
    result = json.loads((out / "ratemaps.json").read_text())
    assert 0.0 <= result[key] <= 1.0 and result[key] == result[f"hpc_{key}"]
    assert (out / f"{figure}.png").exists()


def test_analysis_cli_refuses_bad_input(tiny_run, tmp_path, capsys):
    assert analysis_main(["evaluate", str(tmp_path / "empty")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert analysis_main(["evaluate", str(tiny_run), "--world", "hex"]) == 2
    assert "actions" in capsys.readouterr().err
    assert analysis_main(["ratemaps", str(tiny_run), "--shuffles", "0"]) == 2


def test_commands_give_the_garbage_collector_back_unfrozen(tiny_run, tmp_path):
    """The commands keep what is loaded out of the collector's full passes only during their work: a
    caller (a notebook, these tests) gets the collector back as it was, also after an error."""
    before = gc.get_freeze_count()
    assert analysis_main(["evaluate", str(tiny_run), "--worlds", "2", "--walk-length", "30"]) == 0
    assert gc.get_freeze_count() == before
    assert analysis_main(["evaluate", str(tiny_run), "--world", "hex"]) == 2  # fails inside the command's work
    assert gc.get_freeze_count() == before
    assert train_main(TINY + ["--out", str(tmp_path / "again"), "--steps", "2", "--no-analysis"]) == 0
    assert gc.get_freeze_count() == before


def test_remapping_scores_identical_and_shifted_maps():
    world = make_worlds("square:8")[0]
    x, y = world.positions.T
    mec = np.stack([np.cos(x), np.sin(y + x / 2)])
    shifted = np.stack([np.cos(x - 1), np.sin(y - 2 + (x - 1) / 2)])
    hpc = np.eye(world.n_nodes)[:3]
    maps = RateMaps(mec, hpc, np.ones(world.n_nodes), np.arange(3))
    other = RateMaps(shifted, np.roll(hpc, 5, axis=1), np.ones(world.n_nodes), np.arange(3))  # fields moved
    scores = remapping_scores(maps, other, world)
    assert scores["mec_correlation_shifted"] > 0.95 > scores["mec_correlation"]
    assert scores["hpc_correlation"] < 0.1
    assert node_correlation(mec[0], mec[0]) == pytest.approx(1.0)
    hexagonal = make_worlds("hex:5")[0]  # all units rasterised at once: the per-unit definition's values
    a, b = (np.cos(hexagonal.positions @ k) for k in ([1.0, 0.3], [0.9, 0.5]))
    a[3] = np.nan
    expected = np.nanmax(crosscorrelogram(rasterise(a, hexagonal.positions), rasterise(b, hexagonal.positions)))
    assert shifted_correlations(np.stack([a, b]), np.stack([b, a]), hexagonal)[0] == expected


def test_time_shift_place_cell_scores_separate_a_place_unit_from_noise():
    from analysis.place import place_cell_scores

    world = make_worlds("square:6")[0]
    batch = WalkSampler([world], 1, 3000, 3000, seed=0, stagger=False).next_window()
    nodes = batch.node[0]
    rng = np.random.default_rng(0)
    place_unit = (nodes == 14) + 0.05 * rng.random(len(nodes))  # fires at one node
    two_fields = np.isin(nodes, [0, 35]).astype(float)  # two far-apart nodes
    noise = rng.random(len(nodes))
    scores = place_cell_scores(np.stack([place_unit, two_fields, noise], axis=1), nodes, world,
                               n_shuffles=20, rng=1)
    assert scores[0]["is_place"] and scores[0]["n_fields"] == 1
    assert scores[1]["n_fields"] == 2 and not scores[1]["is_place"]
    assert scores[2]["field_fraction"] > 0.25 and not scores[2]["is_place"]  # active everywhere
    assert scores[0]["spatial_information"] > 10 * scores[2]["spatial_information"]
    with pytest.raises(ValueError, match="activity"):
        place_cell_scores(np.zeros((5, 2)), nodes, world, rng=0)


def test_default_ratemap_world_is_a_bigger_lattice_or_the_family_itself(tmp_path):
    from analysis.pipeline import default_ratemap_world
    from envs import save_world, square_grid

    assert default_ratemap_world("square:8-11") == "square:20"
    assert default_ratemap_world("family-tree:3") == "family-tree:3"
    path = str(tmp_path / "grid.json")
    save_world(square_grid(4), path)  # a file declaring a square lattice is mapped as it is
    assert default_ratemap_world(path) == path
