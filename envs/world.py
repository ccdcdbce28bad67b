"""A world: a directed graph whose edges are labelled by actions, with node positions.

Every other piece of the package (the Gymnasium envs, the batched walk sampler, the models and the
analysis) reads worlds through this one class, so they all agree on the transitions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_ACTION = -1
"""Action id stored at the first step of a walk (nothing led the agent there)."""
LATTICES = (None, "square", "hex")


@dataclass(frozen=True, eq=False)
class World:
    """The structure of an environment, without its objects.

    Attributes:
        name: short description, e.g. ``"square 8x8"``.
        transitions: ``(n_nodes, n_actions)`` int64; ``transitions[v, a]`` is the node reached by
            taking action ``a`` at node ``v``, or -1 where ``a`` is unavailable there.
        positions: ``(n_nodes, 2)`` float64, 2D coordinates of each node for plotting.
        action_names: one name per action id.
        inverse_actions: ``(n_actions,)`` int64; ``inverse_actions[a]`` is the action that undoes
            ``a`` (taking ``a`` then its inverse returns to the start), or -1 when ``a`` has none.
        lattice: ``"square"`` or ``"hex"`` when the nodes are the points of that lattice (grid
            worlds, whose maps can be rasterised and scored for gridness), else None.
        periodic: whether the world wraps around (a torus).
        displacements: ``(n_actions, 2)`` float64, the step each action makes on the plane, or None
            when actions are not fixed steps (graphs). When not given it is read off the positions
            (see :func:`lattice_displacements`).
        object_groups: ``(n_nodes,)`` int64, which nodes carry the same object (aliased
            observations, e.g. the two copies of a maze stem in a latent-state task): nodes with
            the same label share one object. Stored canonically as the smallest node id of each
            group, so ``object_groups[v] <= v``. None (the default) means every node its own group.
        action_probs: ``(n_nodes, n_actions)`` float64, the task's own action probabilities at
            each node (zero where an action is unavailable, each row summing to 1), or None. A
            world that gives them is a *task*: its walks follow these probabilities and ignore the
            walk policy (uniform choice, persistence, approach), see :class:`envs.walks.WalkSampler`.
    """

    name: str
    transitions: np.ndarray
    positions: np.ndarray
    action_names: tuple[str, ...]
    inverse_actions: np.ndarray
    lattice: str | None = None
    periodic: bool = False
    displacements: np.ndarray | None = None
    object_groups: np.ndarray | None = None
    action_probs: np.ndarray | None = None

    def __post_init__(self):
        transitions = np.asarray(self.transitions, dtype=np.int64)
        positions = np.asarray(self.positions, dtype=np.float64)
        inverse = np.asarray(self.inverse_actions, dtype=np.int64)
        n_nodes, n_actions = transitions.shape
        if n_nodes < 1 or n_actions < 1:
            raise ValueError(f"transitions must have at least one node and one action, got {transitions.shape}")
        if transitions.min() < -1 or transitions.max() >= n_nodes:
            raise ValueError("transitions must hold node ids in [0, n_nodes) or -1 for unavailable actions")
        if positions.shape != (n_nodes, 2):
            raise ValueError(f"positions must have shape ({n_nodes}, 2), got {positions.shape}")
        if len(self.action_names) != n_actions or inverse.shape != (n_actions,):
            raise ValueError("action_names and inverse_actions need one entry per action")
        if inverse.min() < -1 or inverse.max() >= n_actions:
            raise ValueError("inverse_actions must hold action ids in [0, n_actions) or -1")
        if self.lattice not in LATTICES:
            raise ValueError(f"lattice must be one of {LATTICES}, got {self.lattice!r}")
        stuck = np.flatnonzero((transitions < 0).all(axis=1))
        if len(stuck):
            raise ValueError(f"nodes {stuck[:10].tolist()} have no available action; a walk would stop there")
        transitions.setflags(write=False)
        positions.setflags(write=False)
        inverse.setflags(write=False)
        object.__setattr__(self, "transitions", transitions)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "inverse_actions", inverse)
        object.__setattr__(self, "action_names", tuple(self.action_names))
        steps = lattice_displacements(transitions, positions) if self.displacements is None else self.displacements
        if steps is not None:
            steps = np.asarray(steps, dtype=np.float64)
            if steps.shape != (n_actions, 2):
                raise ValueError(f"displacements must have shape ({n_actions}, 2), got {steps.shape}")
            steps.setflags(write=False)
        object.__setattr__(self, "displacements", steps)
        object.__setattr__(self, "object_groups", _canonical_groups(self.object_groups, n_nodes))
        object.__setattr__(self, "action_probs", _checked_probs(self.action_probs, transitions))

    @property
    def n_nodes(self) -> int:
        return self.transitions.shape[0]

    @property
    def n_actions(self) -> int:
        return self.transitions.shape[1]

    @property
    def stay_actions(self) -> tuple[int, ...]:
        """Actions that never move the agent (e.g. ``stay``)."""
        nodes = np.arange(self.n_nodes)[:, None]
        still = (self.transitions == nodes) | (self.transitions < 0)
        return tuple(int(a) for a in np.flatnonzero(still.all(axis=0) & (self.transitions >= 0).any(axis=0)))

    @property
    def aliased(self) -> np.ndarray:
        """``(n_nodes,)`` bool: the node shares its object with at least one other node."""
        if self.object_groups is None:
            return np.zeros(self.n_nodes, dtype=bool)
        return np.bincount(self.object_groups, minlength=self.n_nodes)[self.object_groups] > 1

    @property
    def groups(self) -> np.ndarray:
        """``(n_nodes,)`` int64 object group of each node (``arange(n_nodes)`` without aliasing)."""
        return np.arange(self.n_nodes) if self.object_groups is None else self.object_groups

    def action_mask(self, node: int) -> np.ndarray:
        """``(n_actions,)`` int8: 1 where the action is available at ``node``."""
        return (self.transitions[node] >= 0).astype(np.int8)

    def step(self, node: int, action: int) -> int:
        """The node reached by ``action`` from ``node``; an unavailable action leaves the agent in place."""
        if not 0 <= action < self.n_actions:
            raise ValueError(f"action must be in [0, {self.n_actions}), got {action}")
        target = self.transitions[node, action]
        return int(node if target < 0 else target)

    def sample_objects(self, n_objects: int, rng: np.random.Generator) -> np.ndarray:
        """Draw one object id per node, i.i.d. uniform over ``n_objects``: ``(n_nodes,)`` int64.
        Nodes of one object group (:attr:`object_groups`) all carry the object drawn for the
        group's first node, so worlds without aliasing draw exactly as before."""
        check_n_objects(n_objects)
        objects = rng.integers(0, n_objects, size=self.n_nodes)
        return objects if self.object_groups is None else objects[self.object_groups]

    def distances(self) -> np.ndarray:
        """``(n_nodes, n_nodes)`` int64 shortest-path lengths along actions (-1 if unreachable)."""
        n = self.n_nodes
        dist = np.full((n, n), -1, dtype=np.int64)
        for source in range(n):  # breadth-first search, vectorised over each frontier
            dist[source, source] = 0
            frontier, d = np.array([source]), 0
            while len(frontier):
                d += 1
                nxt = np.unique(self.transitions[frontier].ravel())
                nxt = nxt[nxt >= 0]
                nxt = nxt[dist[source, nxt] < 0]
                dist[source, nxt] = d
                frontier = nxt
        return dist

    def to_networkx(self):
        """This world as an ``nx.MultiDiGraph`` with ``action`` (name) on edges and ``pos`` on nodes."""
        import networkx as nx

        graph = nx.MultiDiGraph(inverse_actions={
            self.action_names[a]: self.action_names[i] for a, i in enumerate(self.inverse_actions) if i >= 0})
        for v, pos in enumerate(self.positions):
            graph.add_node(v, pos=tuple(pos))
        for v, a in zip(*np.nonzero(self.transitions >= 0)):
            graph.add_edge(int(v), int(self.transitions[v, a]), action=self.action_names[a])
        return graph


def _canonical_groups(groups, n_nodes: int) -> np.ndarray | None:
    """Group labels ``(n_nodes,)`` -> the smallest node id carrying each label (read-only), or
    None when there are none or every node is its own group."""
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n_nodes,):
        raise ValueError(f"object_groups must have shape ({n_nodes},), got {groups.shape}")
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    canonical = first[inverse.reshape(-1)].astype(np.int64)
    if len(first) == n_nodes:
        return None
    canonical.setflags(write=False)
    return canonical


def _checked_probs(probs, transitions: np.ndarray) -> np.ndarray | None:
    if probs is None:
        return None
    probs = np.array(probs, dtype=np.float64)
    if probs.shape != transitions.shape:
        raise ValueError(f"action_probs must have shape {transitions.shape}, got {probs.shape}")
    if (probs < 0).any() or (probs[transitions < 0] > 0).any():
        raise ValueError("action_probs must be >= 0 and zero where an action is unavailable")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-9):
        raise ValueError("each row of action_probs must sum to 1")
    probs.setflags(write=False)
    return probs


def check_n_objects(n_objects: int) -> None:
    if not isinstance(n_objects, (int, np.integer)) or n_objects < 1:
        raise ValueError(f"n_objects must be an integer >= 1, got {n_objects!r}")


def lattice_displacements(transitions: np.ndarray, positions: np.ndarray) -> np.ndarray | None:
    """``(n_actions, 2)``: the step each action makes on the plane, when every action moves most of
    its edges by one fixed step (the wrap-around edges of periodic worlds are the minority and are
    ignored) and the steps form a lattice (each an integer combination of two of them), else None
    (graphs, and lattices of higher dimension drawn on the plane)."""
    steps = np.zeros((transitions.shape[1], 2))
    for a in range(transitions.shape[1]):
        nodes = np.flatnonzero(transitions[:, a] >= 0)
        if len(nodes) == 0:
            return None
        moves = np.round(positions[transitions[nodes, a]] - positions[nodes], 6)
        values, counts = np.unique(moves, axis=0, return_counts=True)
        if counts.max() < 0.5 * len(nodes):  # no step shared by most edges: not a lattice
            return None
        steps[a] = values[counts.argmax()]
    return steps if _integer_lattice(steps) else None


def _integer_lattice(steps: np.ndarray) -> bool:
    """Whether every step is an integer combination of the shortest one and the shortest one not
    parallel to it (a lattice: square, hex, diagonal moves, jumps along a line), so that the plane's positions are the world's own; not so for a 3D lattice
    drawn on the plane, whose third step is a fraction of the other two."""
    length = np.linalg.norm(steps, axis=1)
    moving = steps[length > 1e-9][np.argsort(length[length > 1e-9], kind="stable")]  # shortest first
    if len(moving) == 0:
        return False
    basis = moving[:1]
    for step in moving[1:]:
        if abs(np.linalg.det(np.stack([basis[0], step]))) > 1e-9:
            basis = np.stack([basis[0], step])
            break
    coefficients = np.linalg.lstsq(basis.T, moving.T, rcond=None)[0]
    return bool(np.allclose(basis.T @ coefficients, moving.T, atol=1e-6)
                and np.allclose(coefficients, np.round(coefficients), atol=1e-6))
