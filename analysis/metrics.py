"""Which steps of a walk test what: revisits, first visits, and link inference."""
from __future__ import annotations

import numpy as np


def _seen_before(keys: np.ndarray) -> np.ndarray:
    """``(B, T)`` bool: ``keys[b, t]`` occurred at an earlier step of row ``b`` (keys >= 0)."""
    B, T = keys.shape
    order = np.argsort(keys, axis=1, kind="stable")  # equal keys stay in time order
    sorted_keys = np.take_along_axis(keys, order, axis=1)
    repeat = np.zeros((B, T), dtype=bool)
    repeat[:, 1:] = sorted_keys[:, 1:] == sorted_keys[:, :-1]
    seen = np.zeros((B, T), dtype=bool)
    np.put_along_axis(seen, order, repeat, axis=1)
    return seen


def visit_masks(node: np.ndarray, action: np.ndarray, n_actions: int) -> dict[str, np.ndarray]:
    """Masks over steps of whole walks ``node, action: (B, T)`` (action -1 at the first step).

    Returns ``(B, T)`` bool arrays:
        ``node_visited``: the node was visited at an earlier step.
        ``edge_visited``: the (previous node, action) pair was taken at an earlier step.
        ``link_inference``: node visited but edge never taken (zero-shot inference). A stay
            (the node did not change) is not a route to the node, so it never counts here.
        ``first_visit``: the node was never visited before.
    """
    node_visited = _seen_before(node)
    edge = np.full(node.shape, -1, dtype=np.int64)
    edge[:, 1:] = node[:, :-1] * n_actions + action[:, 1:]
    edge_visited = _seen_before(edge) & (edge >= 0)
    moved = np.zeros(node.shape, dtype=bool)
    moved[:, 1:] = (action[:, 1:] >= 0) & (node[:, 1:] != node[:, :-1])
    return {"node_visited": node_visited, "edge_visited": edge_visited,
            "link_inference": node_visited & ~edge_visited & moved, "first_visit": ~node_visited}


def masked_mean(values: np.ndarray, mask: np.ndarray) -> float:
    """Mean of ``values`` where ``mask``; NaN when the mask is empty."""
    count = mask.sum()
    return float((values * mask).sum() / count) if count else float("nan")


def fraction_visited(node: np.ndarray, n_nodes: np.ndarray) -> np.ndarray:
    """``(B, T)`` fraction of the world's ``n_nodes (B,)`` nodes visited before each step."""
    first_visit = ~_seen_before(node)
    before = np.cumsum(first_visit, axis=1) - first_visit  # distinct nodes seen at earlier steps
    return before / np.asarray(n_nodes)[:, None]


def by_action(values: np.ndarray, action: np.ndarray, mask: np.ndarray,
              action_names) -> dict[str, dict]:
    """Mean of ``values (B, T)`` where ``mask (B, T)``, split by the ``action (B, T)`` that led to each
    step: ``{action_names[a]: {"acc": mean or None (no such step), "steps": count}}``."""
    result = {}
    for a, name in enumerate(action_names):
        where = mask & (action == a)
        steps = int(where.sum())
        result[str(name)] = {"acc": float((values * where).sum() / steps) if steps else None, "steps": steps}
    return result
