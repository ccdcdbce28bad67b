"""Zero-shot evaluation: run a model on walks in fresh worlds and score it."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from tqdm import trange

from analysis.ideal import IdealObserver
from analysis.metrics import _seen_before, by_action, fraction_visited, masked_mean, visit_masks
from envs import WalkPolicy, WalkSampler, World

EVAL_SEED_OFFSET = 1_000_003
"""Held-out worlds are drawn with seed ``run seed + EVAL_SEED_OFFSET``, a stream training never uses."""


class Walks(NamedTuple):
    """Whole walks and whether the model predicted each step: ``obs, action, node, correct (B, L)``,
    ``world (B,)`` the index of each walk's world, and ``group (B, L)`` int64 (None when no world
    has aliased observations) the object group (:attr:`envs.world.World.object_groups`) of each
    step's node where that node shares its object with another node, else -1."""

    obs: np.ndarray
    action: np.ndarray
    node: np.ndarray
    correct: np.ndarray
    world: np.ndarray
    group: np.ndarray | None = None


def aliased_groups(worlds: list[World], world: np.ndarray, node: np.ndarray) -> np.ndarray | None:
    """``(B, T)`` int64: the object group of ``node (B, T)`` in ``worlds[world[b]]`` where the node
    is aliased (shares its object), else -1; None when no world aliases."""
    if not any(w.aliased.any() for w in worlds):
        return None
    table = np.full((len(worlds), max(w.n_nodes for w in worlds)), -1, dtype=np.int64)
    for k, w in enumerate(worlds):
        table[k, :w.n_nodes] = np.where(w.aliased, w.groups, -1)
    return table[np.asarray(world)[:, None], node]


def aliased_masks(group: np.ndarray, node: np.ndarray) -> dict[str, np.ndarray]:
    """Which steps test aliased observations, from ``group`` (see :class:`Walks`) and ``node (B, T)``.

    ``aliased``: the step's node shares its object with another node *and the history determines
    the answer*: some node of its group (this node or another latent copy of the same place) was
    visited at an earlier step, so its object has been seen and a model that tracks where it is in
    the task's structure can recall it. ``aliased_new_copy``: the subset where this very node was
    never visited before, only another copy of it, so the answer needs the structure (that the
    copies share one object), not the memory of this node.
    """
    shared = group >= 0
    group_seen = _seen_before(np.where(shared, group, -1)) & shared
    return {"aliased": group_seen, "aliased_new_copy": group_seen & ~_seen_before(node)}


@torch.no_grad()
def run_walks(model, worlds: list[World], n_walks: int, walk_length: int, *, n_objects: int = 45,
              window: int = 100, seed: int = 0, policy: WalkPolicy = WalkPolicy(),
              device="cpu", progress: bool = False) -> Walks:
    """Walk ``n_walks`` fresh worlds (one walk each, all in one batch) and record predictions."""
    sampler = WalkSampler(worlds, n_walks, window, walk_length, n_objects=n_objects, policy=policy,
                          seed=seed, stagger=False)
    state = model.initial_state(n_walks, device)
    parts = []
    for _ in trange(sampler.windows_per_walk, desc="evaluate", unit="window", disable=not progress, leave=False):
        batch = sampler.next_window()
        obs, action, new_world = (torch.as_tensor(x, device=device) for x in (batch.obs, batch.action, batch.new_world))
        out = model(obs, action, new_world, state)
        state = out.state
        parts.append((batch.obs, batch.action, batch.node, (out.logits.argmax(-1) == obs).cpu().numpy()))
    obs, action, node, correct = (np.concatenate(x, axis=1)[:, :walk_length] for x in zip(*parts))
    return Walks(obs, action, node, correct, batch.world, aliased_groups(worlds, batch.world, node))


def score_walks(walks: Walks, n_actions: int, n_objects: int, *, action_names=None,
                ideal: IdealObserver | None = None) -> dict:
    """Accuracies of the model and of the node- and edge-visited agents on ``walks`` (each ``(B, T)``).

    ``link_inference_by_action``: ``{action name: {"acc", "steps"}}``, the model on link-inference
    steps taken with each action (``action_names`` default to the action ids as strings). With
    ``ideal`` (from :func:`analysis.ideal.ideal_observer` on the same walks) also
    ``ideal_observer_acc`` on link-inference steps (None, with ``ideal_observer_note``, when it was
    skipped), ``ideal_observer_by_action`` and ``ideal_observer_hypotheses``.
    """
    masks = visit_masks(walks.node, walks.action, n_actions)
    link = masks["link_inference"]
    names = [str(a) for a in range(n_actions)] if action_names is None else list(action_names)
    chance = 1.0 / n_objects
    node_agent = np.where(masks["node_visited"], 1.0, chance)
    edge_agent = np.where(masks["edge_visited"], 1.0, chance)
    everything = np.ones_like(walks.correct, dtype=bool)
    scores = {
        "accuracy": masked_mean(walks.correct, everything),
        "link_inference_acc": masked_mean(walks.correct, link),
        "node_visited_acc": masked_mean(walks.correct, masks["node_visited"]),
        "first_visit_acc": masked_mean(walks.correct, masks["first_visit"]),
        "node_visited_agent_acc": masked_mean(node_agent, everything),
        "edge_visited_agent_acc": masked_mean(edge_agent, everything),
        "link_inference_steps": int(link.sum()),
        "chance": chance,
        "link_inference_by_action": by_action(walks.correct, walks.action, link, names),
    }
    if walks.group is not None:
        for name, mask in aliased_masks(walks.group, walks.node).items():
            steps = int(mask.sum())
            scores[f"{name}_acc"] = masked_mean(walks.correct, mask) if steps else None
            scores[f"n_{name}_steps"] = steps
    if ideal is not None:
        scores["ideal_observer_hypotheses"] = ideal.hypotheses
        if ideal.correct is None:
            scores.update(ideal_observer_acc=None, ideal_observer_note=ideal.note)
        else:
            scores["ideal_observer_acc"] = masked_mean(ideal.correct, link)
            scores["ideal_observer_by_action"] = by_action(ideal.correct, walks.action, link, names)
    return scores


def accuracy_curves(walks: Walks, worlds: list[World], n_objects: int, bins: int = 20, *,
                    ideal: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The TEM figure's data: accuracy of the model and of the node- and edge-visited agents
    against the fraction of the world's nodes visited so far (``bins`` equal bins of [0, 1]), and
    against the step index. Returns 1D arrays keyed ``visited_fraction``, ``model``,
    ``node_agent``, ``edge_agent``, ``count`` (per bin) and ``step_model``, ``step_node_agent``,
    ``step_edge_agent`` (per step); given the ideal observer's per-step expected correctness
    ``ideal (B, T)``, also ``ideal`` and ``step_ideal``."""
    masks = visit_masks(walks.node, walks.action, worlds[0].n_actions)
    n_nodes = np.array([w.n_nodes for w in worlds])[walks.world]
    fraction = fraction_visited(walks.node, n_nodes)
    chance = 1.0 / n_objects
    series = {"model": walks.correct.astype(float), "node_agent": np.where(masks["node_visited"], 1.0, chance),
              "edge_agent": np.where(masks["edge_visited"], 1.0, chance)}
    if ideal is not None:
        series["ideal"] = np.asarray(ideal, dtype=float)
    which = np.minimum((fraction * bins).astype(int), bins - 1).ravel()
    count = np.bincount(which, minlength=bins)
    curves = {"visited_fraction": (np.arange(bins) + 0.5) / bins, "count": count}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, values in series.items():
            curves[name] = np.bincount(which, weights=values.ravel(), minlength=bins) / count
            curves[f"step_{name}"] = values.mean(axis=0)
    return curves


def evaluate(model, worlds: list[World], n_walks: int, walk_length: int, *, n_objects: int = 45,
             window: int = 100, seed: int = 0, device="cpu") -> dict[str, float]:
    """Run and score ``n_walks`` walks of ``walk_length`` steps in fresh worlds."""
    walks = run_walks(model, worlds, n_walks, walk_length, n_objects=n_objects, window=window,
                      seed=seed, device=device)
    return score_walks(walks, worlds[0].n_actions, n_objects, action_names=worlds[0].action_names)
