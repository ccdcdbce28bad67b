"""Latent-state cells: splitter cells on the W-maze and lap cells on the laps track.

* Splitter cells (Wood et al. 2000): units whose rates on the central stem differ between runs
  bound for a left turn and runs bound for a right turn (:func:`splitter_scores`).
* Lap cells (Sun et al. 2020): units that prefer one lap of a multi-lap track
  (:func:`lap_scores`).

Both tasks (:mod:`envs.tasks`) give each aliased place several latent copies, nodes that share one
object (:attr:`envs.world.World.object_groups`). :func:`latent_copies` names each node's place (its
object group) and its copy (the node's rank among the nodes of its group): on the W-maze copy 0 of
a stem place is the left-bound stem (nodes ``0 .. stem-1``) and copy 1 the right-bound stem; on
the laps track the copy is the lap (``node // places_per_lap``).

The null of both scores shuffles *traversal labels*: the walk is cut into traversals (maximal runs
of consecutive steps on aliased nodes of one copy: one pass along the stem, or one lap), each
traversal keeps its steps together and only the copy labels are permuted between traversals;
the unit's statistic must exceed the 95th percentile of the shuffled statistics.
"""
from __future__ import annotations

import warnings

import numpy as np

SPLITTER_METHOD = ("splitter: statistic = sum over stem places of |rate(left-bound) - rate(right-bound)| "
                   "(rates: mean activity per (place, copy) over the second half of the walk); null = the same "
                   "with the left/right labels permuted between whole stem traversals; splitter = above the "
                   "shuffles' 95th percentile and active on the stem (peak |stem rate| >= 10% of the unit's "
                   "peak |rate| anywhere)")
LAP_METHOD = ("lap: statistic = max over laps minus mean over laps of the lap rate (mean over track places of "
              "the mean activity per (place, lap) over the second half of the walk); null = the same with lap "
              "labels permuted between whole lap traversals; lap cell = above the shuffles' 95th percentile and "
              "active (peak |rate| > 0)")
MIN_STEM_ACTIVITY = 0.1
"""A splitter must reach this fraction of its peak |rate| somewhere on the stem."""


def latent_task(world) -> str | None:
    """``"w-maze"``, ``"laps"`` or None: which latent-state task ``world`` is (from its name, as
    :func:`envs.tasks.w_maze` and :func:`envs.tasks.laps` write it, and its object groups)."""
    if getattr(world, "object_groups", None) is None:
        return None
    for task in ("w-maze", "laps"):
        if world.name.startswith(task):
            return task
    return None


def latent_copies(world) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(place, copy, aliased)``, each ``(n_nodes,)``: each node's place (its object group,
    relabelled ``0 .. n_places-1`` over the aliased groups, -1 for nodes with an object of their own),
    its copy (rank of the node id among its group's nodes) and whether its group has several nodes."""
    groups = np.asarray(world.object_groups)
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    aliased = counts[inverse] > 1
    copy = np.zeros(len(groups), dtype=np.int64)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)  # ascending node ids
        copy[members] = np.arange(len(members))
    place = np.full(len(groups), -1, dtype=np.int64)
    place[aliased] = np.unique(groups[aliased], return_inverse=True)[1]
    return place, copy, aliased


def traversals(nodes: np.ndarray, world) -> tuple[np.ndarray, np.ndarray]:
    """Cut the walk ``nodes (K,)`` into traversals: ``(segment, label)``, ``segment (K,)`` the
    traversal of each step (-1 on nodes that are not aliased) and ``label (n_segments,)`` each
    traversal's copy. A traversal is a maximal run of consecutive steps on aliased nodes of one copy."""
    _, copy, aliased = latent_copies(world)
    nodes = np.asarray(nodes)
    on, label = aliased[nodes], copy[nodes]
    start = on & np.r_[True, ~on[:-1] | (label[1:] != label[:-1])]
    segment = np.where(on, np.cumsum(start) - 1, -1)
    return segment, label[start]


def _segment_sums(activity: np.ndarray, nodes: np.ndarray, world):
    """Per traversal and place: summed activity ``(n_segments, n_places, n_units)``, step counts
    ``(n_segments, n_places)`` and the traversals' labels."""
    place, _, _ = latent_copies(world)
    segment, labels = traversals(nodes, world)
    on = segment >= 0
    n_places = place.max() + 1
    sums = np.zeros((len(labels), n_places, activity.shape[1]))
    counts = np.zeros((len(labels), n_places))
    np.add.at(sums, (segment[on], place[nodes[on]]), activity[on])
    np.add.at(counts, (segment[on], place[nodes[on]]), 1)
    return sums, counts, labels


def _copy_rates(sums, counts, labels: np.ndarray, n_copies: int) -> np.ndarray:
    """``(S, n_copies, n_places, n_units)`` rates per copy for ``labels (S, n_segments)``."""
    onehot = (labels[..., None] == np.arange(n_copies)).astype(float)  # (S, n_seg, C)
    total = np.einsum("ksc,spu->kcpu", onehot, sums)
    visits = np.einsum("ksc,sp->kcp", onehot, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / visits[..., None]


def _shuffled_labels(labels: np.ndarray, n_shuffles: int, rng) -> np.ndarray:
    """``(n_shuffles + 1, n_segments)``: the true labels, then ``n_shuffles`` permutations of them."""
    rng = np.random.default_rng(rng)
    return np.stack([labels] + [rng.permutation(labels) for _ in range(n_shuffles)])


def _latent_scores(activity, nodes, world, statistic, n_shuffles, percentile, rng):
    """Rates per (copy, place, unit), the statistic per unit, and its shuffle threshold."""
    activity, nodes = np.asarray(activity, dtype=float), np.asarray(nodes)
    if activity.ndim != 2 or activity.shape[0] != len(nodes):
        raise ValueError(f"activity must be (K, n_units) with K = len(nodes) = {len(nodes)}, got {activity.shape}")
    _, copy, aliased = latent_copies(world)
    n_copies = copy[aliased].max() + 1
    sums, counts, labels = _segment_sums(activity, nodes, world)
    with warnings.catch_warnings():  # places a shuffled copy never visits: NaN rates, left out
        warnings.simplefilter("ignore", RuntimeWarning)
        rates = _copy_rates(sums, counts, _shuffled_labels(labels, n_shuffles, rng), n_copies)
        stats = statistic(rates)  # (S, n_units)
        threshold = (np.nanpercentile(stats[1:], percentile, axis=0) if n_shuffles
                     else np.full(stats.shape[1], np.nan))
    return rates[0], stats[0], threshold, len(labels)


def splitter_scores(activity: np.ndarray, nodes: np.ndarray, world, *, n_shuffles: int = 100,
                    percentile: float = 95, rng=0) -> dict:
    """Splitter scores of units on a W-maze walk.

    ``activity (K, n_units)``: each unit's activity at each step of the walk ``nodes (K,)`` (e.g.
    :attr:`analysis.ratemaps.RateMaps.hpc_trace` and ``.nodes``). Returns a dict of arrays:
    ``rates (2, n_stem, n_units)`` (copy 0: left-bound stem, copy 1: right-bound), ``score
    (n_units,)`` (sum over stem places of |left - right|), ``threshold (n_units,)`` (its shuffle
    percentile), ``active``, ``is_splitter`` (bool, ``(n_units,)``) and ``n_traversals``."""
    def statistic(rates):  # (S, 2, P, U) -> (S, U)
        return np.nansum(np.abs(rates[:, 0] - rates[:, 1]), axis=1)

    rates, score, threshold, n_traversals = _latent_scores(activity, nodes, world, statistic, n_shuffles,
                                                           percentile, rng)
    stem_peak = np.nan_to_num(np.nanmax(np.abs(np.nan_to_num(rates)), axis=(0, 1)))
    node_peak = _node_peak(activity, nodes, world.n_nodes)  # mean rates against mean rates, not single steps
    active = (stem_peak > 0) & (stem_peak >= MIN_STEM_ACTIVITY * node_peak)
    return {"rates": rates, "score": score, "threshold": threshold, "active": active,
            "is_splitter": active & (score > threshold), "n_traversals": n_traversals}


def _node_peak(activity, nodes, n_nodes: int) -> np.ndarray:
    """``(n_units,)`` the largest |mean activity| over the nodes visited."""
    activity = np.asarray(activity, dtype=float)
    sums, counts = np.zeros((n_nodes, activity.shape[1])), np.zeros(n_nodes)
    np.add.at(sums, nodes, activity)
    np.add.at(counts, nodes, 1)
    visited = counts > 0
    return np.abs(sums[visited] / counts[visited, None]).max(axis=0) if visited.any() else np.zeros(sums.shape[1])


def lap_scores(activity: np.ndarray, nodes: np.ndarray, world, *, n_shuffles: int = 100, percentile: float = 95,
               rng=0) -> dict:
    """Lap scores of units on a laps walk (``activity (K, n_units)`` at the steps ``nodes (K,)``).

    Returns a dict of arrays: ``rates (n_laps, n_places, n_units)``, ``lap_rates (n_laps,
    n_units)`` (mean over places), ``preferred_lap``, ``score`` (max minus mean of the lap rates),
    ``threshold`` (its shuffle percentile), ``active`` and ``is_lap`` (``(n_units,)`` each) and
    ``n_traversals``."""
    def statistic(rates):  # (S, L, P, U) -> (S, U)
        lap_rates = np.nanmean(rates, axis=2)
        return np.nanmax(lap_rates, axis=1) - np.nanmean(lap_rates, axis=1)

    rates, score, threshold, n_traversals = _latent_scores(activity, nodes, world, statistic, n_shuffles,
                                                           percentile, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lap_rates = np.nanmean(rates, axis=1)  # (L, U)
    active = np.abs(np.nan_to_num(rates)).max(axis=(0, 1)) > 0
    preferred = np.argmax(np.nan_to_num(lap_rates, nan=-np.inf), axis=0)
    return {"rates": rates, "lap_rates": lap_rates, "preferred_lap": preferred, "score": score,
            "threshold": threshold, "active": active, "is_lap": active & (score > threshold),
            "n_traversals": n_traversals}


def latent_cell_summary(activity: np.ndarray, nodes: np.ndarray, world, *, n_shuffles: int = 100, seed: int = 0,
                        prefix: str = "hpc") -> tuple[dict, dict | None]:
    """For ``ratemaps.json``: ``({prefix}_splitter_fraction | {prefix}_lap_fraction, n_units,
    method, per-unit scores}, scores)`` on a W-maze or laps world, ``({}, None)`` on any other."""
    task = latent_task(world)
    if task is None or activity is None or len(nodes) == 0:
        return {}, None
    if task == "w-maze":
        scores, key, method = splitter_scores(activity, nodes, world, n_shuffles=n_shuffles, rng=seed), \
            "splitter", SPLITTER_METHOD
        flag = scores["is_splitter"]
    else:
        scores, key, method = lap_scores(activity, nodes, world, n_shuffles=n_shuffles, rng=seed), "lap", LAP_METHOD
        flag = scores["is_lap"]
    units = [{"score": _round(s), "threshold": _round(t), "active": bool(a), f"is_{key}": bool(f)}
             for s, t, a, f in zip(scores["score"], scores["threshold"], scores["active"], flag)]
    if key == "lap":
        for unit, lap in zip(units, scores["preferred_lap"]):
            unit["preferred_lap"] = int(lap)
    summary = {f"{prefix}_{key}_fraction": float(np.mean(flag)) if len(flag) else float("nan"),
               f"{prefix}_{key}_n_units": len(flag), f"{prefix}_{key}_n_traversals": int(scores["n_traversals"]),
               f"{key}_method": method, f"{key}_params": {"n_shuffles": n_shuffles, "percentile": 95},
               f"{prefix}_{key}_units": units}
    return summary, scores


def _round(value) -> float | None:
    return None if not np.isfinite(value) else float(f"{value:.4g}")  # 4 significant digits: rates can be tiny
