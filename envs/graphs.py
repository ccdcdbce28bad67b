"""Graph worlds from any networkx graph whose edges carry an ``action`` label, and a few builders."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np

from envs.world import World


def from_networkx(graph: nx.Graph, *, actions: Sequence | None = None,
                  inverse_actions: Mapping | None = None, name: str = "graph") -> World:
    """Build a :class:`World` from ``graph``.

    Args:
        graph: a networkx graph. Every edge ``u -> v`` needs an ``action`` attribute: the action
            that moves the agent from ``u`` to ``v``. An undirected graph is read in both
            directions with the same label (use a ``DiGraph`` for direction-dependent actions).
            Node attribute ``pos`` (2 numbers) is used for plots; otherwise a spring layout is made.
        actions: the action labels in id order. Defaults to the sorted labels found on the edges;
            when given, integer labels are action ids and must be in ``range(len(actions))``.
        inverse_actions: ``{action: inverse action}`` labels (defaults to
            ``graph.graph["inverse_actions"]`` if present).
    """
    if not isinstance(graph, nx.Graph):
        raise ValueError(f"graph must be a networkx graph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise ValueError("graph has no nodes")
    components = list(nx.weakly_connected_components(graph) if graph.is_directed()
                      else nx.connected_components(graph))
    if len(components) > 1:
        shown = "; ".join(str(sorted(c, key=str)[:8]) for c in components[:4])
        raise ValueError(f"graph is disconnected: {len(components)} components ({shown}); "
                         "a walk could never reach all of them")
    edges = list(graph.to_directed().edges(data=True)) if not graph.is_directed() else list(graph.edges(data=True))
    for u, v, data in edges:
        if "action" not in data:
            raise ValueError(f"graph edge ({u!r}, {v!r}) has no 'action' label")
    labels = [data["action"] for _, _, data in edges]
    if actions is None:
        actions = sorted(set(labels), key=str)
    actions = list(actions)
    action_id = {a: i for i, a in enumerate(actions)}
    nodes = list(graph.nodes)
    node_id = {v: i for i, v in enumerate(nodes)}
    transitions = np.full((len(nodes), len(actions)), -1, dtype=np.int64)
    for u, v, data in edges:
        a = _action_index(data["action"], action_id, len(actions))
        if transitions[node_id[u], a] >= 0 and transitions[node_id[u], a] != node_id[v]:
            raise ValueError(f"graph has two edges with action {data['action']!r} out of node {u!r}")
        transitions[node_id[u], a] = node_id[v]
    inverse_actions = graph.graph.get("inverse_actions", {}) if inverse_actions is None else inverse_actions
    inverse = np.full(len(actions), -1, dtype=np.int64)
    for a, b in inverse_actions.items():
        inverse[_action_index(a, action_id, len(actions))] = _action_index(b, action_id, len(actions))
    return World(name=name, transitions=transitions, positions=_positions(graph, nodes),
                 action_names=tuple(str(a) for a in actions), inverse_actions=inverse)


def _action_index(label, action_id: dict, n_actions: int) -> int:
    if label in action_id:
        return action_id[label]
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        if 0 <= label < n_actions:  # an integer label that is not a name is an action id
            return int(label)
        raise ValueError(f"action id {label} out of range: actions are 0..{n_actions - 1}")
    raise ValueError(f"unknown action {label!r}; known actions: {list(action_id)}")


def _positions(graph: nx.Graph, nodes: list) -> np.ndarray:
    if all("pos" in graph.nodes[v] for v in nodes):
        return np.array([graph.nodes[v]["pos"] for v in nodes], dtype=np.float64).reshape(len(nodes), 2)
    layout = nx.spring_layout(graph, seed=0) if len(nodes) > 1 else {nodes[0]: (0.0, 0.0)}
    return np.array([layout[v] for v in nodes], dtype=np.float64)


def line(n: int) -> World:
    """``n`` nodes in a row with actions ``left``/``right`` (transitive inference)."""
    _check_size("n", n, 2)
    graph = nx.DiGraph(inverse_actions={"left": "right", "right": "left"})
    graph.add_nodes_from((i, {"pos": (i, 0.0)}) for i in range(n))
    for i in range(n - 1):
        graph.add_edge(i, i + 1, action="right")
        graph.add_edge(i + 1, i, action="left")
    return from_networkx(graph, actions=["left", "right"], name=f"line {n}")


def ring(n: int) -> World:
    """``n`` nodes on a cycle with actions ``ccw``/``cw``."""
    _check_size("n", n, 3)
    angle = 2 * np.pi * np.arange(n) / n
    graph = nx.DiGraph(inverse_actions={"ccw": "cw", "cw": "ccw"})
    graph.add_nodes_from((i, {"pos": (np.cos(angle[i]), np.sin(angle[i]))}) for i in range(n))
    for i in range(n):
        graph.add_edge(i, (i + 1) % n, action="ccw")
        graph.add_edge((i + 1) % n, i, action="cw")
    return from_networkx(graph, actions=["ccw", "cw"], name=f"ring {n}")


FAMILY_TREE_ACTIONS = ("parent", "first_child", "second_child", "sibling")
FAMILY_TREE_RELATIONS = ("parent", "child1", "child2", "sibling", "grandparent", "uncle",
                         "nephew1", "nephew2", "cousin1", "cousin2")
"""The 10 relations of the TEM family-tree task (Whittington et al. 2020), in action-id order."""
_TREE_ACTIONS = {4: FAMILY_TREE_ACTIONS, 10: FAMILY_TREE_RELATIONS}
_TREE_ALIASES = {4: dict(zip(FAMILY_TREE_RELATIONS[:4], FAMILY_TREE_ACTIONS)),  # relation -> action name
                 10: {r: r for r in FAMILY_TREE_RELATIONS}}
_TREE_INVERSES = {  # the action that undoes each one; parent, grandparent, uncle, cousins have none
    4: {"first_child": "parent", "second_child": "parent", "sibling": "sibling"},
    10: {"child1": "parent", "child2": "parent", "sibling": "sibling", "nephew1": "uncle", "nephew2": "uncle"},
}


def family_tree(depth: int, relations: int = 4) -> World:
    """A binary family tree with ``depth`` generations below the root (``2**(depth+1) - 1`` nodes).

    Nodes are in heap order: the children of ``v`` are ``2v+1`` and ``2v+2``.

    ``relations=4``: actions ``parent``, ``first_child``, ``second_child`` and ``sibling``.

    ``relations=10`` (needs ``depth >= 2``): the relations of the TEM family-tree task, in this
    order: ``parent``, ``child1``, ``child2``, ``sibling``, ``grandparent`` (the parent's parent),
    ``uncle`` (the parent's sibling), ``nephew1``/``nephew2`` (the sibling's first/second child),
    ``cousin1``/``cousin2`` (the first/second child of the parent's sibling).

    A relation is unavailable where the relative does not exist (the root has no parent, leaves
    have no children). A child action is undone by ``parent``, a nephew action by ``uncle`` and
    ``sibling`` by itself; the other relations have no single inverse.
    """
    if relations not in _TREE_ACTIONS:
        raise ValueError(f"relations must be 4 or 10, got {relations!r}")
    _check_size("depth", depth, 1 if relations == 4 else 2)  # cousins first appear at depth 2
    actions = _TREE_ACTIONS[relations]
    graph = nx.DiGraph(inverse_actions=_TREE_INVERSES[relations])
    n = 2 ** (depth + 1) - 1
    for v in range(n):
        generation = int(np.log2(v + 1))
        slot = v + 1 - 2 ** generation
        graph.add_node(v, pos=((slot + 0.5) * 2.0 ** (depth - generation), -float(generation)))
    for v in range(n):
        for action, relative in zip(FAMILY_TREE_RELATIONS, _relatives(v, n)):
            if relative is not None and action in _TREE_ALIASES[relations]:
                graph.add_edge(v, relative, action=_TREE_ALIASES[relations][action])
    name = f"family tree {depth}" if relations == 4 else f"family tree {depth} ({relations} relations)"
    return from_networkx(graph, actions=list(actions), name=name)


def _relatives(v: int, n: int) -> list[int | None]:
    """The node each of :data:`FAMILY_TREE_RELATIONS` leads to from heap node ``v`` of an
    ``n``-node complete binary tree, None where that relative does not exist."""
    def parent(u):
        return None if u is None or u == 0 else (u - 1) // 2

    def sibling(u):
        return None if u is None or u == 0 else (u + 1 if u % 2 else u - 1)

    def child(u, k):
        return None if u is None or 2 * u + k >= n else 2 * u + k

    uncle = sibling(parent(v))
    return [parent(v), child(v, 1), child(v, 2), sibling(v), parent(parent(v)), uncle,
            child(sibling(v), 1), child(sibling(v), 2), child(uncle, 1), child(uncle, 2)]


def line_jumps(n: int, jump: int = 2) -> World:
    """``n`` nodes in a row with moves of ``k`` positions either way, ``1 <= k <= jump``.

    Actions (``2 * jump``): ``left{jump} .. left1, right1 .. right{jump}``; ``right{k}`` moves from
    node ``i`` to ``i + k`` and is undone by ``left{k}``. Moves off either end are unavailable.
    Node ``i`` sits at ``(i, 0)``. A transitive-inference task with jumps.
    """
    _check_size("jump", jump, 1)
    _check_size("n", n, jump + 1)  # every move is available somewhere
    names = [f"left{k}" for k in range(jump, 0, -1)] + [f"right{k}" for k in range(1, jump + 1)]
    graph = nx.DiGraph(inverse_actions={f"{a}{k}": f"{b}{k}" for k in range(1, jump + 1)
                                        for a, b in (("left", "right"), ("right", "left"))})
    graph.add_nodes_from((i, {"pos": (float(i), 0.0)}) for i in range(n))
    for k in range(1, jump + 1):
        for i in range(n - k):
            graph.add_edge(i, i + k, action=f"right{k}")
            graph.add_edge(i + k, i, action=f"left{k}")
    return from_networkx(graph, actions=names, name=f"line {n} jumps {jump}")


def _check_size(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
