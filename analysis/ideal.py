"""The ideal observer of link inference: exact Bayesian inference of the world and the start node.

The observer knows the family's worlds and that each node's object is drawn i.i.d. uniform over
``n_objects``, but neither which world a walk is in nor where it started. It keeps one hypothesis
``h = (world k, start node s)`` per node of every world (``H = sum of n_nodes``), with the
sampler's prior ``P(h) = 1 / len(worlds) / n_nodes(k)``. Under ``h`` the actions fix the node at
every step (``h`` dies where an action is unavailable at its node), and the likelihood of an
observation is ``1 / n_objects`` at a node not yet visited under ``h`` and 1 or 0 at a revisited
node (the object must equal the one stored there). Before each step it predicts

    P(x_t = o) = sum_h post(h) [o = stored_h(node_h(t))] + sum_{h: node_h(t) new} post(h) / n_objects

and scores the expected accuracy of its argmax: 1 / #tied when the true object is among the
(relatively, ``TIE_RTOL``) tied maxima, else 0 (so 1 / n_objects where no hypothesis has stored an
object there). It reads only the walks' ``obs`` and ``action``, never their ``node`` or ``world``.

Cost: a table of ``H * max_nodes`` stored objects per walk (int16, or int32 above 32,767 objects)
plus ~128 bytes per hypothesis (``walk_bytes``); time ``O(T * B * H)``, about 0.1 us per
hypothesis-step on large tables, far less once dead hypotheses are pruned (every ``PRUNE_EVERY``
steps, when that halves them). Walks are processed together while their tables fit
``MEMORY_BUDGET`` (256 MiB; the peak is up to 1.5x that while pruning copies the table), in
chunks down to one walk at a time above it, and skipped (``correct`` None, with a note) when one
walk needs more than ``MAX_WALK_BYTES`` (1 GiB). Square 8-11 (366 hypotheses x 121 nodes, 0.13 MiB
a walk): 50 walks of 1,000 steps in about 0.5 s; square 8-30 (9,315 x 900, 17 MiB a walk): chunks
of 14 walks; square 8-60 (73,670 x 3,600, 515 MiB): one walk at a time, ~6 s each; square 8-80
(173,740 x 6,400, 2.1 GiB): skipped.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from envs.world import World

MEMORY_BUDGET = 256 * 2**20
"""Bytes (:func:`walk_bytes` per walk) held at once: walks are processed in chunks that fit (at least one)."""
MAX_WALK_BYTES = 2**30
"""Bytes one walk needs (:func:`walk_bytes`) above which the ideal observer is skipped."""
TIE_RTOL = 1e-12
"""Objects whose predictive probability is within this relative distance of the maximum are tied."""
PRUNE_EVERY = 16
"""Every this many steps, hypotheses dead in all walks of a chunk are dropped (their memory freed)."""
_BYTES_PER_HYPOTHESIS = 128  # node, log weight, row offset and a step's temporaries per (walk, hypothesis)


class IdealObserver(NamedTuple):
    """``correct (B, T)`` float expected correctness per step, or None when skipped (``note`` says
    why); ``hypotheses``: H; ``walks_per_chunk``: walks processed together (0 when skipped)."""

    correct: np.ndarray | None
    note: str | None
    hypotheses: int
    walks_per_chunk: int


def hypotheses(worlds: Sequence[World]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (world, start node) pair: ``world (H,)``, ``start (H,)`` int64 and ``log_prior (H,)``."""
    sizes = np.array([w.n_nodes for w in worlds])
    world = np.repeat(np.arange(len(worlds)), sizes)
    start = np.concatenate([np.arange(n) for n in sizes])
    log_prior = -np.log(len(worlds)) - np.log(sizes[world].astype(float))
    return world, start, log_prior


def walk_bytes(worlds: Sequence[World], n_objects: int) -> int:
    """Bytes the ideal observer needs per walk (its ``H x max_nodes`` table and per-hypothesis state)."""
    n_hypotheses = sum(w.n_nodes for w in worlds)
    max_nodes = max(w.n_nodes for w in worlds)
    return n_hypotheses * (max_nodes * _table_dtype(n_objects).itemsize + _BYTES_PER_HYPOTHESIS)


def _table_dtype(n_objects: int) -> np.dtype:
    return np.dtype(np.int16 if n_objects <= np.iinfo(np.int16).max else np.int32)


def ideal_observer(worlds: Sequence[World], obs: np.ndarray, action: np.ndarray, n_objects: int, *,
                   memory_budget: int = MEMORY_BUDGET, max_walk_bytes: int = MAX_WALK_BYTES) -> IdealObserver:
    """Run the ideal observer on whole walks ``obs, action: (B, T)`` int (one walk per row, each in
    one world of ``worlds``; ``action[:, 0]`` is ignored: the walk starts there).

    Returns an :class:`IdealObserver` whose ``correct (B, T)`` float is the expected accuracy of the
    observer's prediction of ``obs[:, t]`` from the steps before it, like the node- and edge-visited
    agents' (1 or 0 when the prediction is unique, 1 / #tied on exact ties)."""
    obs, action = np.asarray(obs), np.asarray(action)
    if obs.ndim != 2 or obs.shape != action.shape:
        raise ValueError(f"obs and action must be (B, T) arrays of one shape, got {obs.shape} and {action.shape}")
    if obs.size and (obs.min() < 0 or obs.max() >= n_objects):
        raise ValueError(f"obs must hold object ids in [0, {n_objects})")
    if (action[:, 1:] < 0).any() or (action >= worlds[0].n_actions).any():
        raise ValueError("actions after the first step must be valid action ids (one walk per row)")
    n_hypotheses, per_walk = sum(w.n_nodes for w in worlds), walk_bytes(worlds, n_objects)
    if per_walk > max_walk_bytes:
        note = (f"skipped: {n_hypotheses} (world, start) hypotheses x {max(w.n_nodes for w in worlds)} nodes "
                f"need {per_walk / 2**20:.0f} MiB per walk, above the {max_walk_bytes / 2**20:.0f} MiB bound")
        return IdealObserver(None, note, n_hypotheses, 0)
    chunk = max(1, min(len(obs), memory_budget // per_walk))
    parts = []
    for first in range(0, len(obs), chunk):
        try:
            parts.append(_observe(worlds, obs[first:first + chunk], action[first:first + chunk], n_objects))
        except ValueError as error:  # name the walks by their row in obs, not in the chunk
            raise ValueError(f"{error} (walks counted from row {first})") if first else error from None
    correct = np.concatenate(parts) if parts else np.zeros(obs.shape)
    return IdealObserver(correct, None, n_hypotheses, chunk)


def _observe(worlds: Sequence[World], obs: np.ndarray, action: np.ndarray, n_objects: int) -> np.ndarray:
    """``(B, T)`` expected correctness on walks ``obs, action (B, T)``, all walks at once."""
    B, T = obs.shape
    world, start, log_prior = hypotheses(worlds)
    H, M, A = len(world), max(w.n_nodes for w in worlds), worlds[0].n_actions
    transitions = np.full((len(worlds), M, A), -1, dtype=np.int64)
    for k, w in enumerate(worlds):
        transitions[k, :w.n_nodes] = w.transitions
    transitions = transitions.reshape(-1, A)  # (K * M, A): row k * M + v is node v of world k
    row = np.broadcast_to(world * M, (B, H)).copy()  # each hypothesis's world, as a row offset
    node = np.broadcast_to(start, (B, H)).copy()
    log_w = np.broadcast_to(log_prior, (B, H)).copy()
    table = np.full((B, H, M), -1, dtype=_table_dtype(n_objects))  # object stored at (walk, h, node)
    log_new = np.log(n_objects)
    correct = np.zeros((B, T))
    for t in range(T):
        if t % PRUNE_EVERY == 0:
            log_w, row, node, table = _prune(log_w, row, node, table)
            cell = np.arange(table.shape[0] * table.shape[1]).reshape(table.shape[:2]) * M
        if t > 0:
            nxt = transitions[row + node, action[:, t, None]]  # (B, H)
            log_w[nxt < 0] = -np.inf  # the action is unavailable there: impossible hypothesis
            node = np.maximum(nxt, 0)
        index = cell + node
        seen = table.reshape(-1)[index]  # (B, H): object stored at the hypothesised node, -1 if new
        correct[:, t] = _expected_accuracy(seen, _posterior(log_w), obs[:, t], n_objects)
        new = seen < 0
        log_w = np.where(new, log_w - log_new, np.where(seen == obs[:, t, None], log_w, -np.inf))
        table.reshape(-1)[index] = np.where(new, obs[:, t, None], seen)
    _check_possible(log_w)
    return correct


def _prune(log_w: np.ndarray, row: np.ndarray, node: np.ndarray, table: np.ndarray) -> tuple:
    """Drop hypotheses dead in every walk: each walk's live ones move first (``(B, H)`` arrays and
    ``table (B, H, M)``), cut to the largest live count; unchanged unless that halves them."""
    alive = np.isfinite(log_w)
    keep = max(int(alive.sum(axis=1).max()), 1)
    if keep > 0.5 * log_w.shape[1]:
        return log_w, row, node, table
    order = np.argsort(~alive, axis=1, kind="stable")[:, :keep]  # (B, keep)
    pick = [np.take_along_axis(x, order, axis=1) for x in (log_w, row, node)]
    return (*pick, np.take_along_axis(table, order[..., None], axis=1))


def _posterior(log_w: np.ndarray) -> np.ndarray:
    """``(B, H)`` normalised posterior from unnormalised log weights ``(B, H)``."""
    top = _check_possible(log_w)[:, None]
    weight = np.exp(log_w - top)
    return weight / weight.sum(axis=1, keepdims=True)


def _check_possible(log_w: np.ndarray) -> np.ndarray:
    """``(B,)`` largest log weight of each walk; raises when some walk has no possible hypothesis left."""
    top = log_w.max(axis=1)
    if not np.isfinite(top).all():
        bad = np.flatnonzero(~np.isfinite(top))
        raise ValueError(f"walks {bad[:10].tolist()} are impossible under every (world, start node): "
                         "their actions or objects contradict every world of the family")
    return top


def _expected_accuracy(seen: np.ndarray, post: np.ndarray, target: np.ndarray, n_objects: int) -> np.ndarray:
    """``(B,)`` expected accuracy of predicting the argmax of ``P(x = o)`` for the true ``target (B,)``,
    from each hypothesis's stored object ``seen (B, H)`` (-1: new node) and posterior ``post (B, H)``."""
    B = len(seen)
    known = seen >= 0
    slot = np.arange(B)[:, None] * n_objects + seen  # (B, H) index into the flat (B, n_objects) table
    stored = np.bincount(slot[known], weights=post[known], minlength=B * n_objects).reshape(B, n_objects)
    prob = stored + np.where(known, 0.0, post).sum(axis=1, keepdims=True) / n_objects  # new node: uniform
    tied = prob >= prob.max(axis=1, keepdims=True) * (1 - TIE_RTOL)
    return tied[np.arange(B), target] / tied.sum(axis=1)
