"""Splitter and lap scores (analysis.latent_cells) on synthetic units with known latent tuning."""
import numpy as np

from analysis.latent_cells import (lap_scores, latent_copies, latent_cell_summary, latent_task, splitter_scores,
                                   traversals)
from envs import laps, square_grid, w_maze


def _cycle_walk(cycle: list[int], repeats: int) -> np.ndarray:
    return np.array(cycle * repeats)


def _w_maze_walk(world, stem: int, rng, n_journeys: int = 60) -> np.ndarray:
    """A walk on ``world`` following its transitions, choosing among available moves at random."""
    node, nodes = 0, []
    for _ in range(n_journeys * (2 * stem + 6)):
        nodes.append(node)
        moves = world.transitions[node][world.transitions[node] >= 0]
        node = int(rng.choice(moves))
    return np.array(nodes)


def test_latent_task_and_copies():
    stem = 4
    world = w_maze(stem)
    assert latent_task(world) == "w-maze" and latent_task(laps(3)) == "laps"
    assert latent_task(square_grid(4)) is None
    place, copy, aliased = latent_copies(world)
    assert aliased[:2 * stem].all() and not aliased[2 * stem:].any()
    assert (copy[:stem] == 0).all() and (copy[stem:2 * stem] == 1).all()
    assert (place[:stem] == place[stem:2 * stem]).all()
    track = laps(3, n_laps=4)
    place, copy, _ = latent_copies(track)
    per_lap = track.n_nodes // 4
    assert (copy == np.arange(track.n_nodes) // per_lap).all() and (place == np.arange(track.n_nodes) % per_lap).all()
    segment, labels = traversals(np.array([0, 1, 2, 3, 8, 9, 4, 5, 6, 7, 3]), world)
    assert segment.tolist() == [0, 0, 0, 0, -1, -1, 1, 1, 1, 1, 2] and labels.tolist() == [0, 1, 0]


def test_splitters_separated_from_non_splitters():
    rng = np.random.default_rng(0)
    stem = 4
    world = w_maze(stem)
    nodes = _w_maze_walk(world, stem, rng)
    place, copy, aliased = latent_copies(world)
    base = rng.uniform(0.5, 1.0, world.n_nodes)  # a place map shared by both stem copies
    shared = np.where(aliased, base[np.where(aliased, place, 0)], base)
    split = shared + np.where(aliased & (copy == 1), 0.8, 0.0)  # fires more on the right-bound stem
    units = np.stack([split, split, shared, shared, shared], axis=1)  # (n_nodes, 5)
    activity = units[nodes] + 0.3 * rng.standard_normal((len(nodes), 5))
    scores = splitter_scores(activity, nodes, world, n_shuffles=200, rng=1)
    assert scores["rates"].shape == (2, stem, 5)
    assert scores["is_splitter"].tolist() == [True, True, False, False, False]
    silent = splitter_scores(np.zeros((len(nodes), 1)), nodes, world, n_shuffles=20)
    assert not silent["active"][0] and not silent["is_splitter"][0]


def test_lap_cells_separated_from_place_cells():
    rng = np.random.default_rng(2)
    world = laps(3, n_laps=4)
    per_lap = world.n_nodes // 4
    nodes = _cycle_walk(list(range(world.n_nodes)), 25)
    lap, place = np.arange(world.n_nodes) // per_lap, np.arange(world.n_nodes) % per_lap
    lap_cell = (lap == 2).astype(float)  # every place, lap 2 only
    conjunctive = ((lap == 1) & (place == 3)).astype(float)  # one place, lap 1 only
    place_cell = (place == 3).astype(float)  # one place, every lap
    units = np.stack([lap_cell, conjunctive, place_cell, np.ones(world.n_nodes)], axis=1)
    activity = units[nodes] + 0.2 * rng.standard_normal((len(nodes), 4))
    scores = lap_scores(activity, nodes, world, n_shuffles=200, rng=3)
    assert scores["is_lap"].tolist() == [True, True, False, False]
    assert scores["preferred_lap"][:2].tolist() == [2, 1]
    assert scores["lap_rates"].shape == (4, 4)


def test_summary_only_on_latent_worlds():
    world = laps(3)
    nodes = _cycle_walk(list(range(world.n_nodes)), 5)
    summary, scores = latent_cell_summary(np.ones((len(nodes), 3)), nodes, world, n_shuffles=10)
    assert summary["hpc_lap_n_units"] == 3 and 0.0 <= summary["hpc_lap_fraction"] <= 1.0
    assert len(summary["hpc_lap_units"]) == 3 and scores is not None
    assert latent_cell_summary(np.ones((4, 2)), np.arange(4), square_grid(2)) == ({}, None)


def test_plots_return_figures():
    import matplotlib.pyplot as plt

    from analysis.plots import plot_lap_cells, plot_splitter_cells

    rng = np.random.default_rng(0)
    fig, _ = plot_splitter_cells(rng.random((2, 4, 3)), titles=["a", "b", "c"], suptitle="s")
    assert isinstance(fig, plt.Figure)
    plt.close(fig)
    fig, _ = plot_lap_cells(rng.random((4, 3)), rng.random((4, 8, 3)), titles=["a", "b", "c"])
    assert isinstance(fig, plt.Figure)
    plt.close(fig)
