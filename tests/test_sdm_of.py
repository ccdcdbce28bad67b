"""The SDM radius of a trained TEM-t (analysis.sdm_of, `python -m analysis sdm-of`) and its formulas."""
import itertools
import json
import math

import numpy as np
import pytest
import torch

from analysis.__main__ import main as analysis_main
from analysis.sdm import (circle_intersection, fit_beta, intersection_second_moment, match_radius,
                          query_noise_optimal_radius, query_noise_retrieval, query_noise_snr)
from analysis.sdm_of import effective_beta, record_queries, sdm_radius_of
from tem.checkpoint import load_model
from tem.training.cli import main as train_main

TINY = ["--steps", "2", "--batch", "4", "--window", "8", "--walk-length", "24", "--world", "square:4",
        "--n-objects", "6", "--temt.module-sizes", "8", "--temt.sensory-dim", "8", "--temt.key-dim", "8",
        "--no-analysis", "--eval-every", "0", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sdm_of") / "run"
    assert train_main(TINY + ["--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("n, d", [(64, 5), (64, 11), (64, 15), (32, 4), (8, 3)])
def test_matched_radius_of_a_fitted_beta_is_that_radius(n, d):
    beta = fit_beta(n, d).beta
    match = match_radius(n, beta)
    assert match.d == d and match.in_range
    assert match.beta_fit == pytest.approx(beta)
    assert match.d_continuous == pytest.approx(d, abs=1e-6)


@pytest.mark.parametrize("n, beta", [(64, 12.0), (64, 25.0), (32, 7.0), (16, 3.0)])
def test_matched_radius_brackets_beta_and_its_fit_is_nearest_on_a_log_scale(n, beta):
    match = match_radius(n, beta)
    fitted = {d: fit_beta(n, d).beta for d in range(2, n + 1)}
    assert match.in_range
    below, above = math.floor(match.d_continuous), math.ceil(match.d_continuous)
    assert fitted[below] >= beta >= fitted[above]  # beta falls as d grows
    assert match.d in (below, above)
    assert abs(math.log(match.beta_fit / beta)) == pytest.approx(min(abs(math.log(b / beta)) for b in fitted.values()
                                                                     if b > 0))
    assert abs(math.log(match.beta_fit / beta)) < 0.5  # n = 64: neighbouring radii are within ~1.5x


def test_matched_radius_outside_the_fitted_range_is_flagged():
    assert match_radius(32, 1e4) == (2, 2.0, pytest.approx(fit_beta(32, 2).beta), False)
    with pytest.raises(ValueError):
        match_radius(32, 0.0)


def brute_force_second_moment(n, d):
    points = np.array(list(itertools.product([0, 1], repeat=n)))
    inside = points.sum(1) <= d  # the ball around the origin
    total = 0
    for other in points:  # every address of the other pattern, uniformly
        total += int((inside & ((points != other).sum(1) <= d)).sum()) ** 2
    return total / 2 ** n


@pytest.mark.parametrize("d", [0, 1, 2, 3])
def test_second_moment_matches_brute_force(d):
    assert intersection_second_moment(6, d) == pytest.approx(brute_force_second_moment(6, d))


def test_query_noise_snr_formula_and_optimum():
    n, m, noise = 32, 250, 3
    d = 4
    expected = circle_intersection(n, d, noise) / math.sqrt((m - 1) * intersection_second_moment(n, d))
    assert query_noise_snr(n, d, noise, m) == pytest.approx(expected)
    assert query_noise_snr(n, 1, noise, m) == 0  # the circles (radius 1) of points 3 apart do not meet
    best = query_noise_optimal_radius(n, m, noise)
    snrs = [query_noise_snr(n, r, noise, m) for r in range(n + 1)]
    assert best["d"] == int(np.argmax(snrs)) and best["noise_bits"] == noise
    assert best["retrieval"] == pytest.approx(query_noise_retrieval(n, best["d"], noise, m))
    assert query_noise_optimal_radius(n, m, 0.1)["noise_bits"] == 3  # a fraction of n
    noisier = [query_noise_optimal_radius(64, 1024, bits)["d"] for bits in (3, 10, 20)]
    assert noisier == sorted(noisier) and noisier[0] < noisier[-1]  # more noise wants a larger radius


def test_effective_beta_is_the_product_at_the_medians():
    found = effective_beta(2.0, True, np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5, 4.0]), np.array([4.0, 9.0, 99.0]))
    assert found["beta_eff"] == pytest.approx(2.0 * math.log(10.0) * 2.0 * 0.5)
    assert found["memory_size"] == 9 and found["query_norm"] == 2 and found["key_norm"] == 0.5
    assert effective_beta(2.0, False, np.ones(3), np.ones(3), np.ones(3))["beta_eff"] == 2.0


def test_radius_of_a_beta_sits_among_the_optima():
    found = sdm_radius_of(fit_beta(32, 5).beta, 32, 250.0)
    assert found["d"] == 5 and set(found["optima"]) == {"snr", "capacity", "query_noise"}
    assert all(0 <= o["d"] <= 32 for o in found["optima"].values())


def test_recorded_norms_match_the_attention_scores(tiny_run):
    """The effective beta times the cosine is the score the attention memory applies."""
    from envs import make_worlds

    model = load_model(tiny_run)
    seen = record_queries(model, make_worlds("square:4"), n_walks=2, walk_length=16, window=8, n_objects=6)
    assert len(seen["key_norm"]) == 2 * 16 and len(seen["query_norm"]) == 2 * 15  # step 0 reads nothing
    assert sorted(set(seen["count"])) == list(range(1, 16))
    memory = model.memory  # its weights are a softmax over beta * log(1 + n_t) * |q| |k| cos(q, k)
    generator = torch.Generator().manual_seed(0)
    query, key = torch.randn(2, 1, 5, 8, generator=generator)
    out = memory(query, key, torch.randn(1, 5, 8, generator=generator), memory.initial_state(1), True)
    cos = torch.nn.functional.cosine_similarity(query[0, 4:], key[0, :4])  # step 4 reads steps 0..3
    beta_t = memory.log_beta.exp() * math.log1p(4) * query[0, 4].norm() * key[0, :4].norm(dim=-1)
    expected = torch.softmax(beta_t * cos, dim=-1)
    torch.testing.assert_close(out.activity[0, 4, :4], expected.detach())

def test_sdm_of_cli_writes_json_and_figure(tiny_run, capsys):
    assert analysis_main(["sdm-of", str(tiny_run), "--walks", "2"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tiny_run / "sdm_of.json").read_text())
    assert (tiny_run / "sdm_of.png").stat().st_size > 0
    assert "matches binary SDM with n = 8" in printed and result["n"] == 8
    expected = result["beta_learned"] * math.log1p(result["memory_size"]) * result["query_norm"] * result["key_norm"]
    assert result["beta_eff"] == pytest.approx(expected)
    assert result["d"] == match_radius(8, result["beta_eff"]).d
    assert set(result["optima"]) == {"snr", "capacity", "query_noise"}


def test_sdm_of_refuses_a_missing_run_and_a_run_without_attention(tmp_path, capsys):
    assert analysis_main(["sdm-of", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    out = tmp_path / "sdm"
    assert train_main(TINY + ["--memory", "sdm", "--sdm.neurons", "64", "--sdm.top-k", "2", "--out", str(out)]) == 0
    assert analysis_main(["sdm-of", str(out)]) == 2
    assert "attention" in capsys.readouterr().err
