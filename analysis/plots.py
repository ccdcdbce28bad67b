"""Plots: each function takes ``ax=None``, draws, and returns ``(fig, ax)``; saving is the caller's."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _axes(ax, figsize=(5, 3.5)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_learning_curve(rows: list[dict], *, ax=None, chance: float | None = None):
    """Link-inference and first-visit accuracy against gradient steps from ``metrics.csv`` rows."""
    fig, ax = _axes(ax)
    rows = [r for r in rows if r.get("link_inference_acc") not in (None, "", "nan")]
    steps = [int(r["step"]) for r in rows]
    for key, label in (("link_inference_acc", "link inference"), ("first_visit_acc", "first visit"),
                       ("node_visited_acc", "revisited nodes")):
        ax.plot(steps, [float(r[key]) for r in rows], marker="o", ms=3, label=label)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", label="chance")
    ax.set(xlabel="gradient step", ylabel="accuracy (held-out worlds)", ylim=(-0.02, 1.02))
    ax.legend(frameon=False, fontsize=8)
    return fig, ax
