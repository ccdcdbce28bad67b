"""The SDM radius of a trained TEM-t: its attention memory read as sparse distributed memory.

TEM-t's attention reads ``softmax_tau(beta_t q_t . k_tau)`` with ``beta_t = exp(log_beta) log(1 + n_t)``
(``n_t`` memories visible at step ``t``, when the memory scales by the log count). Written over
cosines, ``beta_t q . k = beta_eff cos(q, k)`` with the *effective* inverse temperature::

    beta_eff = exp(log_beta) * log(1 + n) * |q| * |k|

taken at typical values measured on walks in the run's own world family: ``n`` the median number of
visible memories over the steps that read any, ``|q|`` the median query norm over those steps and
``|k|`` the median norm of the keys written. Binary SDM in ``{0,1}^key_dim`` with Hamming radius
``d`` weighs patterns like a softmax whose beta :func:`analysis.sdm.fit_beta` fits; the matched radius
is the ``d`` whose fitted beta is nearest ``beta_eff`` (:func:`analysis.sdm.match_radius`). It is set
against Kanerva's signal-to-noise and capacity optima and the query-noise optimum for ``m = n``
stored patterns (:func:`analysis.sdm.optimal_radius`, :func:`analysis.sdm.query_noise_optimal_radius`).

``python -m analysis sdm-of RUN`` runs :func:`sdm_of_run`: it writes ``RUN/sdm_of.json`` and
``RUN/sdm_of.png`` (:func:`plot_sdm_of`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from analysis.sdm import (hamming_to_cosine, intersection_weights, match_radius, optimal_radius, plot_weight_curves,
                          query_noise_optimal_radius, softmax_weights)

QUERY_NOISE = 0.1
"""default query noise of the query-noise criterion: this fraction of the key dimension's bits."""


def record_queries(model, worlds, *, n_walks: int, walk_length: int, window: int, n_objects: int,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Walk ``n_walks`` worlds (one walk each, in one batch) and record what the attention memory sees.

    Returns ``{"query_norm": (S,), "key_norm": (K,), "count": (S,)}``: the norm of every query that
    had at least one memory to read (``S`` such steps), its number of visible memories, and the norm
    of every key written (``K = n_walks * walk_length``).
    """
    from analysis.ratemaps import run_windows, sampler_windows
    from envs import WalkSampler

    sampler = WalkSampler(worlds, n_walks, window, walk_length, n_objects=n_objects, seed=seed, stagger=False)
    seen = {"query_norm": [], "key_norm": [], "count": []}

    def look(memory, args):
        query, key, _, state = args[:4]  # (B, T, key_dim) each; the state before the window
        _, count = memory.mask(state, query.shape[1])  # (B, T, 1)
        reads = count[..., 0] > 0
        seen["query_norm"].append(query.norm(dim=-1)[reads])
        seen["count"].append(count[..., 0][reads])
        seen["key_norm"].append(key.norm(dim=-1).flatten())

    hook = model.memory.register_forward_pre_hook(look)
    try:
        with torch.no_grad():
            for _ in run_windows(model, sampler_windows(sampler), n_walks, return_activity=False):
                pass
    finally:
        hook.remove()
    return {name: torch.cat(parts).double().numpy() for name, parts in seen.items()}


def effective_beta(beta: float, log_scale: bool, query_norm: np.ndarray, key_norm: np.ndarray,
                   count: np.ndarray) -> dict:
    """``beta_eff = beta * log(1 + n) * |q| * |k|`` at the medians of the recorded ``count`` (n),
    ``query_norm`` and ``key_norm`` (each 1-D); without ``log_scale`` the ``log(1 + n)`` factor is 1.
    Also the quartiles of the per-step ``beta * log(1 + n_t) * |q_t| * median |k|``."""
    n = float(np.median(count))
    q, k = float(np.median(query_norm)), float(np.median(key_norm))
    scale = math.log1p(n) if log_scale else 1.0
    per_step = beta * (np.log1p(count) if log_scale else 1.0) * query_norm * k
    return {"beta_learned": beta, "log_scale": log_scale, "memory_size": n, "log_count_scale": scale,
            "query_norm": q, "key_norm": k, "beta_eff": beta * scale * q * k,
            "beta_eff_per_step_quartiles": [float(x) for x in np.percentile(per_step, [25, 50, 75])]}


def sdm_radius_of(beta_eff: float, key_dim: int, memory_size: float, noise: float = QUERY_NOISE) -> dict:
    """The binary-SDM radius matching ``beta_eff`` in ``key_dim`` bits, beside the SNR, capacity and
    query-noise optimal radii for ``memory_size`` stored patterns (neurons at every address)."""
    match = match_radius(key_dim, beta_eff)
    m = max(2.0, memory_size)
    optima = {"snr": optimal_radius(key_dim, "snr", n_patterns=m), "capacity": optimal_radius(key_dim, "capacity",
                                                                                               n_patterns=m),
              "query_noise": query_noise_optimal_radius(key_dim, m, noise)}
    return {"n": key_dim, "d": match.d, "d_continuous": match.d_continuous, "beta_fit": match.beta_fit,
            "beta_in_range": match.in_range, "n_patterns": m,
            "optima": {name: {k: v for k, v in found.items() if k != "criterion"} for name, found in optima.items()}}


def plot_sdm_of(result: dict, *, ax=None):
    """The trained model's attention weights over Hamming distance (softmax over cosine with
    ``beta_eff``) against the normalised SDM circle intersection at the matched radius, with a
    log-scale inset. ``result``: :func:`sdm_of_run`'s dict. Returns ``(fig, ax)``."""
    import matplotlib.pyplot as plt

    n, d, beta_eff = result["n"], result["d"], result["beta_eff"]
    distance, sdm = intersection_weights(n, d)
    cosine = hamming_to_cosine(distance, n)
    curves = [(f"SDM circle intersection, d = {d}", sdm, "o-"),
              (f"trained attention, beta_eff = {beta_eff:.1f}", softmax_weights(cosine, beta_eff), "s--"),
              (f"softmax, fitted beta(d = {d}) = {result['beta_fit']:.1f}", softmax_weights(cosine, result["beta_fit"]),
               ":")]
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    plot_weight_curves(ax, distance, curves, f"Hamming distance between query and key (n = {n} bits; "
                                             f"cos = 1 - 2 d_v / n)", legend_size=7)
    ax.set_title(f"{result['run']}: attention as SDM, d = {d} ({result['d_continuous']:.2f})", fontsize=9)
    return fig, ax


def sdm_of_run(run_dir, *, n_walks: int = 16, walk_length: int | None = None, seed: int = 0,
               noise: float = QUERY_NOISE) -> dict:
    """Effective beta, matched SDM radius and optimal radii of the attention memory of the TEM-t in
    ``run_dir`` (a run directory or its checkpoint file), measured on ``n_walks`` walks of
    ``walk_length`` steps (default: the run's own) in its training world family. Writes
    ``sdm_of.json`` and ``sdm_of.png`` next to the checkpoint and returns the summary.

    Raises ``FileNotFoundError`` for a missing run and ``ValueError`` for a model whose memory is not
    attention."""
    from envs import make_worlds
    from tem.checkpoint import load_checkpoint, restore_model, save_json
    from tem.memory.attention import AttentionMemory

    run_dir = Path(run_dir)
    checkpoint = load_checkpoint(run_dir)
    out_dir = run_dir if run_dir.is_dir() else run_dir.parent
    model = restore_model(checkpoint).eval()
    memory = getattr(model, "memory", None)
    if not isinstance(memory, AttentionMemory):
        kind = getattr(model, "memory_kind", type(memory).__name__)
        raise ValueError(f"{run_dir}: sdm-of reads an attention memory (TEM-t, --memory attention); this run's "
                         f"memory is {kind}")
    data = checkpoint["config"]["data"]
    walk_length = walk_length or data["walk_length"]
    seen = record_queries(model, make_worlds(data["world"]), n_walks=n_walks, walk_length=walk_length,
                          window=data["window"], n_objects=model.task.n_objects, seed=seed)
    result = {"run": str(run_dir), "step": checkpoint["step"], "world": data["world"], "n_walks": n_walks,
              "walk_length": walk_length, "seed": seed}
    result.update(effective_beta(float(memory.log_beta.detach().exp()), memory.log_scale, **seen))
    result.update(sdm_radius_of(result["beta_eff"], memory.key_dim, result["memory_size"], noise))
    result["summary"] = summary_line(result)
    save_json(out_dir / "sdm_of.json", result)
    fig, _ = plot_sdm_of(result)
    fig.savefig(out_dir / "sdm_of.png", dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    result["figure"] = str(out_dir / "sdm_of.png")
    return result


def summary_line(result: dict) -> str:
    """One sentence: the effective beta, the matched radius and where it sits against the optima."""
    optima = result["optima"]
    where = ", ".join(f"{name} d = {found['d']}" for name, found in optima.items())
    note = "" if result["beta_in_range"] else " (beta_eff outside the fitted range: nearest end)"
    return (f"beta_eff = {result['beta_eff']:.2f} (beta {result['beta_learned']:.3f} x log(1 + {result['memory_size']:.0f}) "
            f"x |q| {result['query_norm']:.2f} x |k| {result['key_norm']:.2f}) matches binary SDM with n = "
            f"{result['n']}, d = {result['d']} (continuous {result['d_continuous']:.2f}, fitted beta "
            f"{result['beta_fit']:.2f}){note}; optimal radii for m = {result['n_patterns']:.0f} patterns: {where} "
            f"(query noise {optima['query_noise']['noise_bits']} bits)")

