"""Sparse distributed memory: the SDM ≈ attention analysis, the SDM hippocampus, its CLI and runs."""
import itertools
import json

import numpy as np
import pytest
import torch

from analysis.__main__ import main as analysis_main
from tem.training.cli import main as train_main
from analysis.sdm import (cap_fraction, cap_intersection_fraction, capacity_optimal_fraction, circle_intersection,
                          cosine_to_hamming, fit_beta, hamming_to_cosine, optimal_radius,
                          plot_intersection_vs_softmax)
from tem.memory import SDMConfig, SDMMemory, make_memory
from tests.tiny import train_tiny

TINY = ["--batch", "4", "--window", "8", "--walk-length", "24", "--world", "square:4", "--n-objects", "6",
        "--temt.module-sizes", "8", "--temt.sensory-dim", "8", "--temt.key-dim", "8", "--eval-every", "0", "--steps", "3",
        "--threads", "1", "--no-analysis", "--memory", "sdm", "--sdm.neurons", "2048", "--sdm.top-k", "2"]  # mostly silent units


def brute_force_intersection(n, d, distance):
    points = np.array(list(itertools.product([0, 1], repeat=n)))
    other = np.zeros(n, dtype=int)
    other[:distance] = 1
    return int(((points.sum(1) <= d) & ((points != other).sum(1) <= d)).sum())


@pytest.mark.parametrize("n", [5, 8])
def test_circle_intersection_matches_brute_force(n):
    for d, distance in itertools.product(range(n + 1), range(n + 1)):
        assert circle_intersection(n, d, distance) == brute_force_intersection(n, d, distance), (d, distance)


def test_circle_intersection_is_a_staircase_that_vanishes_beyond_2d():
    values = [circle_intersection(64, 11, v) for v in range(30)]
    assert all(values[2 * k - 1] == values[2 * k] for k in range(1, 12))
    assert values[22] > 0 and values[23] == 0 and values[0] == sum(__import__("math").comb(64, j) for j in range(12))


@pytest.mark.parametrize("d, beta, beta_lstsq", [(5, 35.5, 28.4), (11, 15.9, 14.4), (15, 10.1, 9.4)])
def test_beta_fit_reproduces_the_paper(d, beta, beta_lstsq):
    fit = fit_beta(64, d)
    assert fit.beta == pytest.approx(beta, rel=0.01)
    assert fit.beta_lstsq == pytest.approx(beta_lstsq, rel=0.01)
    n_points = len(fit.distance)
    assert fit.beta == pytest.approx(fit.beta_lstsq * n_points / (n_points - 1))


def test_hamming_cosine_mapping_round_trips():
    assert hamming_to_cosine(0, 64) == 1 and hamming_to_cosine(32, 64) == 0 and hamming_to_cosine(64, 64) == -1
    np.testing.assert_allclose(cosine_to_hamming(hamming_to_cosine(np.arange(65), 64), 64), np.arange(65))
    x = np.where(np.random.default_rng(0).random(64) < 0.5, -1, 1)
    y = x.copy()
    y[:10] *= -1
    assert x @ y / 64 == pytest.approx(hamming_to_cosine(10, 64))


def test_cap_intersection_matches_monte_carlo_and_single_caps():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(200_000, 6))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    x, p = np.eye(6)[0], np.cos(0.6) * np.eye(6)[0] + np.sin(0.6) * np.eye(6)[1]
    assert cap_intersection_fraction(6, 0.4, np.cos(0.6)) == pytest.approx(((u @ x >= 0.4) & (u @ p >= 0.4)).mean(),
                                                                           abs=3e-3)
    assert cap_fraction(6, 0.4) == pytest.approx((u @ x >= 0.4).mean(), abs=3e-3)
    assert cap_intersection_fraction(6, 0.4, 1.0) == pytest.approx(cap_fraction(6, 0.4))
    assert cap_fraction(6, 0.0) == pytest.approx(0.5)


def test_optimal_radii_match_the_paper():
    assert optimal_radius(64, "snr", n_patterns=1024)["d"] == 11
    assert optimal_radius(64, "capacity")["d"] == 5
    r, z_n = 2.0 ** 64, 64
    p = capacity_optimal_fraction(z_n, r)
    from scipy.stats import norm
    z = norm.ppf(0.5 ** (1 / z_n))
    capacity = lambda q: ((q * r) ** 2 / z ** 2 - q * r) / (q * q * r + (q * q * r) ** 2)  # noqa: E731
    assert capacity(p) >= max(capacity(p * 1.1), capacity(p / 1.1))


def test_analysis_refuses_bad_input():
    for call in (lambda: circle_intersection(64, 65, 0), lambda: circle_intersection(0, 0, 0),
                 lambda: fit_beta(64, 1), lambda: hamming_to_cosine(1, 0), lambda: optimal_radius(64, "speed")):
        with pytest.raises(ValueError):
            call()


def test_plot_returns_figure_and_uses_given_axes():
    import matplotlib.pyplot as plt

    fig, ax = plot_intersection_vs_softmax(32, 6)
    assert isinstance(fig, plt.Figure) and len(ax.child_axes) == 1
    fig2, ax2 = plt.subplots()
    assert plot_intersection_vs_softmax(32, 6, ax=ax2, continuous=False) == (fig2, ax2)
    plt.close("all")


def test_sdm_cli_prints_beta_and_writes_the_figure(tmp_path, capsys):
    assert analysis_main(["sdm", "--n", "64", "--d", "11", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    beta = [float(line.split("=")[1]) for line in lines if line.startswith("beta=")]
    assert beta and beta[0] == pytest.approx(15.9, rel=0.01)
    assert (tmp_path / "sdm_n64_d11.png").exists()
    assert analysis_main(["sdm", "--n", "8", "--d", "9"]) == 2


# --- the SDM memory -------------------------------------------------------------------------------

def window(B=3, T=12, key_dim=8, value_dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, T, dim, generator=g) for dim in (key_dim, key_dim, value_dim))


MEMORIES = [dict(activation="topk", top_k=8), dict(activation="threshold", radius=2.0),
            dict(activation="binary", radius=2)]


@pytest.mark.parametrize("options", MEMORIES)
def test_read_at_t_ignores_writes_at_t_and_later(options):
    memory = SDMMemory(8, 5, n_neurons=256, **options)
    query, key, value = window()
    state = {"contents": torch.randn(3, 256, 5), "counts": torch.rand(3, 256) + 1}
    out = memory(query, key, value, state, return_activity=True)
    key2, value2 = key.clone(), value.clone()
    key2[:, 6:], value2[:, 6:] = torch.randn(3, 6, 8), torch.randn(3, 6, 5)
    other = memory(query, key2, value2, state)
    torch.testing.assert_close(out.read[:, :7], other.read[:, :7])
    assert not torch.allclose(out.read[:, 7:], other.read[:, 7:])
    assert out.activity.shape == (3, 12, 256) and memory.n_units == 256


@pytest.mark.parametrize("options", MEMORIES)
def test_window_equals_step_by_step_and_gradients_reach_queries(options):
    memory = SDMMemory(8, 5, n_neurons=256, **options)
    query, key, value = window()
    query.requires_grad_(True)
    out = memory(query, key, value, memory.initial_state(3))
    state, reads = memory.initial_state(3), []
    for t in range(12):
        step = memory(query[:, t:t + 1], key[:, t:t + 1], value[:, t:t + 1], state)
        state, reads = step.state, reads + [step.read]
    torch.testing.assert_close(torch.cat(reads, 1), out.read, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state["contents"], out.state["contents"], atol=1e-5, rtol=1e-5)
    out.read.square().sum().backward()
    assert query.grad.abs().sum() > 0 and memory.log_beta.grad is not None


def test_sparse_top_k_path_equals_the_dense_formula():
    memory = SDMMemory(8, 5, n_neurons=128, top_k=6)
    query, key, value = window()
    state = {"contents": torch.randn(3, 128, 5), "counts": torch.rand(3, 128)}
    for k in (key, query.clone()):  # distinct keys, and keys equal to queries (selected once)
        sparse = memory(query, k, value, state, return_activity=True)
        dense = memory.dense_forward(memory.activate(query), memory.activate(k), value, state, True)
        pairs = [(sparse.read, dense.read), (sparse.activity, dense.activity)]
        pairs += [(sparse.state[name], dense.state[name]) for name in ("contents", "counts")]
        for a, b in pairs:
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("activation", ["topk", "threshold"])
def test_learned_addresses_get_gradients_of_active_neurons_only(activation):
    memory = SDMMemory(8, 5, n_neurons=256, activation=activation, top_k=6, radius=2.0, learn_addresses=True,
                       generator=torch.Generator().manual_seed(0))
    fixed = SDMMemory(8, 5, n_neurons=256, activation=activation, top_k=6, radius=2.0,
                      generator=torch.Generator().manual_seed(0))
    query, key, value = window()
    out = memory(query, key, value, memory.initial_state(3), return_activity=True)
    torch.testing.assert_close(out.read, fixed(query, key, value, fixed.initial_state(3)).read)
    out.read.square().sum().backward()
    active = (memory.activate(query) + memory.activate(key)).detach().sum((0, 1)) > 0  # (m,)
    moved = memory.addresses.grad.abs().sum(-1) > 0
    assert moved.any() and not (moved & ~active).any()
    assert "addresses" in dict(memory.named_parameters()) and "addresses" not in dict(fixed.named_parameters())
    with pytest.raises(ValueError, match="binary"):
        SDMMemory(8, 5, activation="binary", radius=2, learn_addresses=True)


def test_exact_key_is_retrieved_and_reset_forgets():
    memory = SDMMemory(16, 4, n_neurons=512, top_k=16, beta=20.0)
    key = torch.randn(2, 5, 16)
    value = torch.eye(4)[torch.tensor([[0, 1, 2, 3, 0], [3, 2, 1, 0, 3]])]
    state = memory(key, key, value, memory.initial_state(2)).state
    read = memory(key[:, :4], key[:, :4], torch.zeros(2, 4, 4), state).read
    assert (read.argmax(-1) == value[:, :4].argmax(-1)).float().mean() >= 0.75
    reset = memory.reset(state, torch.tensor([True, False]))
    assert reset["contents"][0].abs().sum() == 0 and reset["counts"][0].sum() == 0
    torch.testing.assert_close(reset["contents"][1], state["contents"][1])
    empty = memory(key[:, :1], key[:, :1], value[:, :1], reset).read
    assert empty[0].abs().sum() == 0  # nothing stored: reads zeros


def test_state_size_is_constant_across_windows():
    memory = make_memory(SDMConfig(neurons=100, top_k=5), 8, 5)
    state = memory.initial_state(2)
    for seed in range(4):
        query, key, value = window(B=2, T=10, seed=seed)
        state = memory(query, key, value, state).state
        assert state["contents"].shape == (2, 100, 5) and state["counts"].shape == (2, 100)
    assert state["counts"].sum(-1).gt(0).all()


def test_bad_memory_input_is_refused():
    with pytest.raises(ValueError, match="neuron"):
        SDMMemory(8, 4, n_neurons=0)
    with pytest.raises(ValueError, match="top_k"):
        SDMMemory(8, 4, n_neurons=16, top_k=17)
    with pytest.raises(ValueError, match="radius"):
        SDMMemory(8, 4, activation="binary", radius=9)
    with pytest.raises(ValueError, match="on average"):  # radius 0: no neuron for (almost) any query
        SDMMemory(32, 4, n_neurons=1024, activation="binary", radius=0)
    with pytest.raises(ValueError, match="on average"):
        SDMMemory(32, 4, n_neurons=1024, activation="threshold", radius=1)
    with pytest.raises(ValueError, match="activation"):
        SDMMemory(8, 4, activation="softmax")
    with pytest.raises(ValueError, match="beta"):
        SDMConfig(beta=0)


def test_tiny_temt_with_sdm_beats_chance_on_revisits():
    from analysis.evaluate import evaluate
    from envs import make_worlds
    from tem.model import Task
    from tem.temt import TEMt, TEMtConfig

    torch.manual_seed(0)
    worlds = make_worlds("square:5")
    model = TEMt(TEMtConfig(module_sizes=(16,), sensory_dim=16, key_dim=16, memory=SDMConfig(neurons=256)),
                 Task.from_world(worlds[0], n_objects=10))
    train_tiny(model, worlds, steps=60, lr=3e-3)
    scores = evaluate(model, worlds, 8, 100, n_objects=10, window=20, seed=1)
    assert scores["node_visited_acc"] > 0.2  # chance is 0.1


def test_train_and_ratemaps_on_a_tiny_sdm_run(tmp_path):
    out = tmp_path / "run"
    assert train_main(TINY + ["--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model"]["memory"]["kind"] == "sdm"
    assert analysis_main(["ratemaps", str(out), "--world", "square:5", "--walk-length", "200", "--units", "4",
                          "--shuffles", "3"]) == 0
    result = json.loads((out / "ratemaps-square-5.json").read_text())
    assert result["memory"] == "sdm" and result["n_hpc_units"] == 4
    assert (out / "ratemaps_hpc-square-5.png").exists()
    assert train_main(TINY + ["--out", str(tmp_path / "bad"), "--sdm.neurons", "0"]) == 2


def test_sdm_addresses_are_drawn_from_the_run_seed(tmp_path):
    from tem.training import Run, make_config

    def addresses(seed):
        config = make_config("quick", {"memory": "sdm", "sdm.neurons": 64, "temt.key_dim": 8, "batch": 2,
                                       "seed": seed, "out": str(tmp_path)})
        return Run(config).model.memory.addresses

    assert torch.equal(addresses(1), addresses(1)) and not torch.equal(addresses(1), addresses(2))
