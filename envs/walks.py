"""Random walks: the walk policy and the batched, vectorised walk sampler used for training."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from envs.world import NO_ACTION, World, check_n_objects


@dataclass(frozen=True)
class WalkPolicy:
    """How the agent picks actions; by default uniformly among the available ones.

    Attributes:
        persistence: probability of repeating the previous action when it is available
            (a heading bias, as in TEM's training walks).
        approach: probability of stepping toward the walk's current target node (the
            object-approach or "shiny" bias); a new target is drawn when the agent reaches it.
    """

    persistence: float = 0.0
    approach: float = 0.0

    def __post_init__(self):
        for name in ("persistence", "approach"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


class Batch(NamedTuple):
    """One window of ``T`` steps for ``B`` walks.

    ``obs``, ``action``, ``node``: ``(B, T)`` int64. ``action[b, t]`` is the action that led to
    ``node[b, t]`` (``-1`` at the first step of a walk) and ``obs[b, t]`` the object seen there.
    ``new_world``: ``(B,)`` bool, True where the slot started a fresh world (and walk) at this
    window's first step, so models must reset that slot's state. ``world``: ``(B,)`` int64 index
    of each slot's world in ``sampler.worlds``.
    """

    obs: np.ndarray
    action: np.ndarray
    node: np.ndarray
    new_world: np.ndarray
    world: np.ndarray


SALIENT_TARGET = 0.5
"""With salient objects, the share of approach targets that are salient nodes (the rest: any node)."""


class WalkSampler:
    """``B`` independent walks in worlds drawn from ``worlds``, produced one window at a time.

    Each slot walks ``walk_length`` steps (rounded up to whole windows) in one world with its own
    objects, then gets a fresh world, fresh objects and a fresh start node; the first walks are
    staggered so that slots do not all restart together. All steps are vectorised over the batch:
    the only Python loop is over the ``window`` steps.

    Args:
        worlds: the world family (same action set); each new walk picks one uniformly.
        batch_size: ``B``. window: ``T``, steps per call of :meth:`next_window`.
        walk_length: steps per walk. n_objects: objects per world (ids ``0..n_objects-1``).
        policy: a :class:`WalkPolicy`. seed: seeds the sampler's ``np.random.Generator``.
        stagger: start the first walks at different points so that resets are spread out.
        salient: salient objects per world (object-vector cells; Høydal et al. 2019): distinct nodes
            drawn afresh with every world, all carrying the reserved object id ``n_objects - 1``
            (the other nodes draw from ``0..n_objects - 2``); with ``policy.approach`` half the
            approach targets are salient nodes (:data:`SALIENT_TARGET`). 0: none, and the walks
            are drawn exactly as before.

    Task worlds: where a world declares ``object_groups`` (aliased observations) the nodes of a
    group share the object drawn for the group's first node; where it declares ``action_probs``
    its walks draw each action from those probabilities (using the same uniform numbers as the
    uniform policy, so no extra draws) and the policy's biases are not applied. Worlds that declare
    neither are walked exactly as before, with the same random stream.
    """

    def __init__(self, worlds: Sequence[World], batch_size: int, window: int, walk_length: int,
                 n_objects: int = 45, policy: WalkPolicy = WalkPolicy(), seed: int = 0,
                 stagger: bool = True, salient: int = 0):
        worlds = list(worlds)
        if not worlds:
            raise ValueError("worlds must hold at least one World")
        if len({w.action_names for w in worlds}) > 1:
            raise ValueError("all worlds of a sampler must share one action set")
        for name, value in (("batch_size", batch_size), ("window", window), ("walk_length", walk_length)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        check_n_objects(n_objects)
        smallest = min(w.n_nodes for w in worlds)
        if not isinstance(salient, (int, np.integer)) or not 0 <= salient < smallest or (salient and n_objects < 2):
            raise ValueError(f"salient must be an integer in [0, {smallest}) (fewer than the smallest world's nodes) "
                             f"with n_objects >= 2, got {salient!r}")
        self.worlds, self.batch_size, self.window, self.n_objects = worlds, batch_size, window, n_objects
        self.salient = int(salient)
        self.windows_per_walk = -(-walk_length // window)
        self.policy = policy
        self.rng = np.random.default_rng(seed)
        self.max_nodes = max(w.n_nodes for w in worlds)
        self.n_actions = worlds[0].n_actions
        self.n_nodes = np.array([w.n_nodes for w in worlds])
        transitions = np.full((len(worlds), self.max_nodes, self.n_actions), -1, dtype=np.int64)
        for k, w in enumerate(worlds):
            transitions[k, :w.n_nodes] = w.transitions
        self._transitions = transitions.reshape(-1, self.n_actions)  # (K * max_nodes, A)
        self._distances = None
        self._groups = None  # (K, max_nodes) object group of each node, when some world aliases
        if any(w.object_groups is not None for w in worlds):
            self._groups = np.tile(np.arange(self.max_nodes), (len(worlds), 1))
            for k, w in enumerate(worlds):
                self._groups[k, :w.n_nodes] = w.groups
        self._cum_probs = None  # (K * max_nodes, A) cumulative task action probabilities
        if any(w.action_probs is not None for w in worlds):
            cum = np.full((len(worlds), self.max_nodes, self.n_actions), np.nan)
            for k, w in enumerate(worlds):
                if w.action_probs is not None:
                    cum[k, :w.n_nodes] = np.cumsum(w.action_probs, axis=1)
            self._cum_probs = cum.reshape(-1, self.n_actions)  # NaN rows: no task, use the policy
        if policy.approach > 0 or self.salient:
            distances = np.full((len(worlds), self.max_nodes + 1, self.max_nodes), 10**9, dtype=np.int64)
            for k, w in enumerate(worlds):
                d = w.distances()
                distances[k, :w.n_nodes, :w.n_nodes] = np.where(d < 0, 10**9, d)
            self._distances = distances  # row max_nodes stands for "no such node"
        B = batch_size
        self.world = np.zeros(B, dtype=np.int64)
        self.objects = np.zeros((B, self.max_nodes), dtype=np.int64)
        self.node = np.zeros(B, dtype=np.int64)
        self.prev_action = np.full(B, NO_ACTION, dtype=np.int64)
        self.target = np.zeros(B, dtype=np.int64)
        self.salient_nodes = np.zeros((B, self.salient), dtype=np.int64)
        self.windows_left = np.zeros(B, dtype=np.int64)
        self.fresh = np.zeros(B, dtype=bool)  # placed in a new world, start node not yet emitted
        if stagger:  # first walks end after a random number of windows
            self._new_walks(np.ones(B, dtype=bool))
            self.windows_left = self.rng.integers(1, self.windows_per_walk + 1, size=B)

    def _new_walks(self, slots: np.ndarray) -> None:
        """Give ``slots`` (``(B,)`` bool) a fresh world, objects, start node and target."""
        n = int(slots.sum())
        if n == 0:
            return
        world = self.rng.integers(0, len(self.worlds), size=n)
        size = self.n_nodes[world]
        self.world[slots] = world
        ordinary = self.n_objects - 1 if self.salient else self.n_objects  # the last id is the salient one
        objects = self.rng.integers(0, ordinary, size=(n, self.max_nodes))
        if self._groups is not None:  # aliased nodes take their group's object
            objects = np.take_along_axis(objects, self._groups[world], axis=1)
        if self.salient:  # distinct nodes with the reserved object, seen nowhere else
            keys = np.where(np.arange(self.max_nodes) < size[:, None], self.rng.random((n, self.max_nodes)), 2.0)
            chosen = np.argsort(keys, axis=1)[:, :self.salient]
            np.put_along_axis(objects, chosen, self.n_objects - 1, axis=1)
            self.salient_nodes[slots] = chosen
        self.objects[slots] = objects
        self.node[slots] = (self.rng.random(n) * size).astype(np.int64)
        self.target[slots] = self._targets(slots, n)
        self.prev_action[slots] = NO_ACTION
        self.windows_left[slots] = self.windows_per_walk
        self.fresh[slots] = True

    def next_window(self) -> Batch:
        """Advance every slot by ``window`` steps and return them as a :class:`Batch`."""
        B, T, A = self.batch_size, self.window, self.n_actions
        self._new_walks(self.windows_left <= 0)
        new_world, self.fresh = self.fresh, np.zeros(B, dtype=bool)
        self.windows_left -= 1
        obs, action, node = (np.empty((B, T), dtype=np.int64) for _ in range(3))
        uniform = self.rng.random((T, B, A))
        coins = self.rng.random((T, B, 2))
        rows = np.arange(B)
        base = self.world * self.max_nodes
        object_base = rows * self.max_nodes
        flat_objects = self.objects.reshape(-1)
        current, prev = self.node.copy(), self.prev_action.copy()
        for t in range(T):
            available = self._transitions[base + current]  # (B, A)
            ok = available >= 0
            choice = np.where(ok, uniform[t], -1.0).argmax(axis=1)
            if self.policy.persistence > 0:
                repeat = (coins[t, :, 0] < self.policy.persistence) & (prev >= 0)
                repeat &= ok[rows, np.maximum(prev, 0)]
                choice = np.where(repeat, prev, choice)
            if self._distances is not None:
                choice = self._approach(choice, available, coins[t, :, 1], uniform[t])
            if self._cum_probs is not None:
                choice = self._task_choice(choice, base + current, uniform[t, :, 0])
            nxt = available[rows, choice]
            if t == 0:  # a fresh walk starts where it was placed, with no action
                nxt = np.where(new_world, current, nxt)
                choice = np.where(new_world, NO_ACTION, choice)
            current, prev = nxt, choice
            node[:, t], action[:, t] = current, choice
            obs[:, t] = flat_objects[object_base + current]
            if self._distances is not None:
                reached = current == self.target
                self.target[reached] = self._targets(reached, int(reached.sum()))
        self.node, self.prev_action = current, prev
        return Batch(obs=obs, action=action, node=node, new_world=new_world, world=self.world.copy())

    def _targets(self, slots: np.ndarray, n: int) -> np.ndarray:
        """New approach targets for ``slots`` (``(B,)`` bool, ``n`` of them): any node uniformly; with
        salient objects, one of the slot's salient nodes half the time."""
        target = (self.rng.random(n) * self.n_nodes[self.world[slots]]).astype(np.int64)
        if self.salient:
            pick = self.salient_nodes[slots, (self.rng.random(n) * self.salient).astype(np.int64)]
            target = np.where(self.rng.random(n) < SALIENT_TARGET, pick, target)
        return target

    def _approach(self, choice, available, coin, uniform):
        """With probability ``policy.approach``, replace ``choice`` by a step toward the target."""
        next_nodes = np.where(available >= 0, available, self.max_nodes)  # (B, A)
        dist = self._distances[self.world[:, None], next_nodes, self.target[:, None]]
        best = dist == dist.min(axis=1, keepdims=True)
        toward = np.where(best, uniform, -1.0).argmax(axis=1)
        return np.where(coin < self.policy.approach, toward, choice)

    def _task_choice(self, choice, rows, u):
        """Where the node has task probabilities, the action drawn from them by inverse CDF on ``u (B,)``."""
        cum = self._cum_probs[rows]  # (B, A)
        task = ~np.isnan(cum[:, 0])
        drawn = np.minimum((u[:, None] >= np.nan_to_num(cum, nan=2.0)).sum(axis=1), self.n_actions - 1)
        # guard against round-off landing on a zero-probability action: take the last positive one
        probs = np.diff(np.nan_to_num(cum, nan=0.0), axis=1, prepend=0.0)
        bad = probs[np.arange(len(u)), drawn] <= 0
        drawn = np.where(bad, self.n_actions - 1 - np.argmax(probs[:, ::-1] > 0, axis=1), drawn)
        return np.where(task, drawn, choice)

    def state_dict(self) -> dict:
        """Everything needed to continue the exact same stream of windows."""
        state = {"rng": self.rng.bit_generator.state, "world": self.world.copy(), "objects": self.objects.copy(),
                 "node": self.node.copy(), "prev_action": self.prev_action.copy(), "target": self.target.copy(),
                 "windows_left": self.windows_left.copy(), "fresh": self.fresh.copy()}
        if self.salient:
            state["salient_nodes"] = self.salient_nodes.copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        if "rng" not in state:
            raise ValueError("sampler state is not one sampler's (a pool of sampler workers wrote it?): resume "
                             "with the same --sampler-workers")
        self.rng.bit_generator.state = state["rng"]
        keys = ("world", "objects", "node", "prev_action", "target", "windows_left", "fresh")
        if self.salient and "salient_nodes" not in state:
            raise ValueError("sampler state has no salient objects: resume with the --salient it was written with")
        for key in keys + (("salient_nodes",) if self.salient else ()):
            value = np.asarray(state[key])
            if value.shape != getattr(self, key).shape:
                raise ValueError(f"sampler state {key!r} has shape {value.shape}, expected {getattr(self, key).shape}")
            setattr(self, key, value.copy())
