"""Worlds from graph files and back: GraphML, GML, node-link JSON and the TEM PyTorch port's JSON.

A world file is a graph whose edges carry an ``action`` attribute (an undirected graph is read in
both directions with the same label). Optional graph attributes:

* ``actions``: the action names in id order (default: the edge labels, sorted);
* ``inverse_actions``: ``{action: the action that undoes it}``;
* ``lattice``: ``"square"`` or ``"hex"`` when the nodes are the points of that lattice;
* ``periodic``: whether the world wraps around.

GraphML and GML graph attributes are scalars, so there ``actions`` and ``inverse_actions`` are
JSON strings (``'{"N": "S", "S": "N"}'``). Node positions come from a ``pos`` attribute (two
numbers, or a JSON string ``"[1.0, 2.0]"``) or from two attributes ``x`` and ``y``; without them
a spring layout is made. A world's name is its file's stem.

``.json`` files hold either networkx node-link data (``nodes`` and ``links`` or ``edges``) or a
world of the public TEM PyTorch port (jbakermans/torch_tem, ``envs/*.json``: ``locations``, each
with ``id``, ``x``, ``y`` and ``actions`` whose ``transition`` is a one-hot vector over locations,
all zeros where the action is unavailable). Port actions are named ``a0, a1, ...`` (or by a
``name``/``direction`` field where the file has one); their inverses are detected from the
transitions; the objects the port placed (``observation``) are ignored.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import re
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np

from envs.graphs import from_networkx
from envs.world import World

FILE_EXTENSIONS = (".graphml", ".gml", ".json")
_READ_ERRORS = (ValueError, SyntaxError, KeyError, TypeError, IndexError, AttributeError, nx.NetworkXException)


def is_file_spec(spec: str) -> bool:
    """Whether a world spec names files (a part holds ``/`` or ``\\`` or ends in an extension such as
    ``.json``) rather than a kind such as ``square:8-11``."""
    return any(re.search(r"[/\\]|\.[A-Za-z]\w*$", part.strip()) for part in spec.split(","))


def load_worlds(spec: str) -> list[World]:
    """One world per path of the comma-separated ``spec``; they must share one action set.

    The worlds get the action order of the first file (the sampler and models need one order).
    """
    paths = [p.strip() for p in spec.split(",")]
    if not all(paths):
        raise ValueError(f"world spec {spec!r} has an empty file path")
    worlds = [load_world(paths[0])]
    names = worlds[0].action_names
    for path in paths[1:]:
        world = load_world(path)
        if set(world.action_names) != set(names):
            raise ValueError(f"world files must share one action set: {paths[0]} has {list(names)}, "
                             f"{path} has {list(world.action_names)}")
        worlds.append(reorder_actions(world, names))
    return worlds


def load_world(path: str | Path, *, actions: Sequence[str] | None = None) -> World:
    """The :class:`World` in ``path`` (``.graphml``, ``.gml`` or ``.json``; see the module docstring).

    Args:
        path: the file.
        actions: the action order to use (the file's own action names, reordered); default: the
            file's ``actions`` attribute, else its edge labels in natural order.
    Raises:
        FileNotFoundError: no such file.
        ValueError: an unknown extension, or a file that is not a valid world (unreadable, an edge
            without an action, two edges with one action out of a node, a disconnected graph,
            ...); the message starts with the path.
    """
    path = Path(path)
    extension = _check_extension(path)
    if not path.is_file():
        raise FileNotFoundError(f"world file {str(path)!r} not found")
    try:
        if extension == ".json":
            data = _read_json(path)
            if isinstance(data, dict) and "locations" in data:
                world = _tem_port_world(data, path.stem)
            else:
                world = _world_from_graph(_node_link_graph(data), path.stem)
        else:
            world = _world_from_graph(_read_graph(path, extension), path.stem)
    except _READ_ERRORS as error:
        raise ValueError(f"{path}: {_describe(error)}") from None
    return world if actions is None else reorder_actions(world, actions)


def save_world(world: World, path: str | Path) -> Path:
    """Write ``world`` to ``path`` (``.graphml``, ``.gml`` or node-link ``.json``) so that
    :func:`load_world` gives back the same transitions, action names, inverses, positions, lattice
    and periodicity (the name becomes the file's stem). Returns the path."""
    path = Path(path)
    extension = _check_extension(path)
    if not isinstance(world, World):
        raise ValueError(f"world must be an envs.world.World, got {type(world).__name__}")
    graph = _file_graph(world, scalar=extension != ".json")
    if extension == ".graphml":
        nx.write_graphml(graph, path)
    elif extension == ".gml":
        nx.write_gml(graph, path)
    else:
        data = nx.node_link_data(graph, **_edges_keyword(nx.node_link_data, "edges"))
        path.write_text(_dump_node_link(data), encoding="utf-8")
    return path


def reorder_actions(world: World, actions: Sequence[str]) -> World:
    """``world`` with its actions in the order ``actions`` (a permutation of its action names)."""
    actions = tuple(actions)
    if actions == world.action_names:
        return world
    if sorted(actions) != sorted(world.action_names):
        raise ValueError(f"actions {list(actions)} are not a reordering of {list(world.action_names)}")
    order = [world.action_names.index(a) for a in actions]  # new id -> old id
    new_id = {old: new for new, old in enumerate(order)}
    inverse = [new_id.get(int(world.inverse_actions[old]), -1) for old in order]
    return dataclasses.replace(world, transitions=world.transitions[:, order], action_names=actions,
                               inverse_actions=np.array(inverse), displacements=None)


# ---- reading -----------------------------------------------------------------------------------
def _check_extension(path: Path) -> str:
    extension = path.suffix.lower()
    if extension not in FILE_EXTENSIONS:
        raise ValueError(f"world file {str(path)!r} has an unknown extension {path.suffix!r}; "
                         f"accepted: {', '.join(FILE_EXTENSIONS)}")
    return extension


def _describe(error: Exception) -> str:
    return f"missing field {error}" if isinstance(error, KeyError) else str(error)


def _read_graph(path: Path, extension: str) -> nx.Graph:
    try:
        if extension == ".graphml":
            return nx.read_graphml(path)
        return nx.read_gml(path, label=None)  # nodes keep their GML ids
    except _READ_ERRORS as error:
        kind = "GraphML" if extension == ".graphml" else "GML"
        raise ValueError(f"cannot parse the {kind} file ({error})") from None


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"cannot parse the JSON file ({error})") from None


def _edges_keyword(function, key: str) -> dict:
    """The keyword naming the edge list: ``edges=`` since networkx 3.4, ``link=`` before."""
    return {"edges": key} if "edges" in inspect.signature(function).parameters else {"link": key}


def _node_link_graph(data) -> nx.Graph:
    if not isinstance(data, dict) or "nodes" not in data:
        raise ValueError("JSON is neither node-link data (with 'nodes' and 'links' or 'edges') nor a "
                         "TEM-port world (with 'locations')")
    key = "links" if "links" in data else "edges"
    if key not in data:
        raise ValueError("node-link JSON has 'nodes' but no 'links' or 'edges'")
    return nx.node_link_graph(data, **_edges_keyword(nx.node_link_graph, key))


def _world_from_graph(graph: nx.Graph, name: str) -> World:
    """A world from a graph as read from a file: attributes normalised, then :func:`from_networkx`."""
    attrs = graph.graph
    actions = _json_attribute(attrs, "actions", list)
    inverse = _json_attribute(attrs, "inverse_actions", dict) or {}
    if actions is not None:
        actions = [str(a) for a in actions]
        if len(set(actions)) < len(actions):
            raise ValueError(f"graph attribute 'actions' repeats a name: {actions}")
    clean = nx.MultiDiGraph() if graph.is_directed() else nx.MultiGraph()
    for v, data in graph.nodes(data=True):
        pos = _node_position(v, data)
        clean.add_node(v, **({} if pos is None else {"pos": pos}))
    for u, v, data in graph.edges(data=True):
        label = {"action": _label(data["action"], actions)} if "action" in data else {}
        clean.add_edge(u, v, **label)
    if actions is None:  # names in natural order: 'a2' before 'a10'
        found = {d["action"] for _, _, d in clean.edges(data=True) if "action" in d}
        actions = sorted(found, key=lambda s: [(0, int(t), "") if t.isdigit() else (1, 0, t)
                                               for t in re.split(r"(\d+)", s)])
    inverse = {_label(a, actions): _label(b, actions) for a, b in inverse.items()}
    world = from_networkx(clean, actions=actions, inverse_actions=inverse, name=name)
    lattice = attrs.get("lattice")
    return dataclasses.replace(world, lattice=lattice if lattice in ("square", "hex") else None,
                               periodic=_flag(attrs.get("periodic", False)), displacements=None)


def _json_attribute(attrs: dict, key: str, kind: type):
    value = attrs.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"graph attribute {key!r} must be a JSON {kind.__name__}, got {value!r}") from None
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"graph attribute {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _label(value, actions: list | None):
    """An action label as a name; an integer is an action id when the file declares ``actions``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and actions is not None:
        if str(value) in actions:
            return str(value)
        return int(value)  # from_networkx checks the range
    return str(value)


def _node_position(node, data: dict) -> tuple[float, float] | None:
    if "pos" in data:
        value = data["pos"]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"node {node!r}: pos must be 2 numbers, got {value!r}") from None
    elif "x" in data and "y" in data:
        value = (data["x"], data["y"])
    else:
        return None
    try:
        pos = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        pos = np.zeros(0)
    if pos.shape != (2,) or not np.isfinite(pos).all():
        raise ValueError(f"node {node!r}: pos must be 2 finite numbers, got {value!r}")
    return float(pos[0]), float(pos[1])


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


# ---- the TEM PyTorch port's world JSON ---------------------------------------------------------
def _tem_port_world(data: dict, name: str) -> World:
    """A world from the port's ``{"locations": [...], "n_actions": A, ...}`` dict."""
    locations = data["locations"]
    n = len(locations)
    ids = sorted(int(loc["id"]) for loc in locations)
    if ids != list(range(n)):
        raise ValueError(f"TEM-port location ids must be 0..{n - 1}, got {ids[:10]}...")
    n_actions = int(data.get("n_actions") or max(len(loc["actions"]) for loc in locations))
    transitions = np.full((n, n_actions), -1, dtype=np.int64)
    labels = {}
    for loc in locations:
        for act in loc["actions"]:
            a = int(act["id"])
            if not 0 <= a < n_actions:
                raise ValueError(f"location {loc['id']}: action id {a} out of range 0..{n_actions - 1}")
            target = _one_hot_target(act["transition"], n, f"location {loc['id']} action {a}")
            if target is not None:
                transitions[int(loc["id"]), a] = target
            labels.setdefault(a, act.get("name", act.get("direction")))
    names = [str(labels[a]) if labels.get(a) is not None else f"a{a}" for a in range(n_actions)]
    if len(set(names)) < n_actions:
        names = [f"a{a}" for a in range(n_actions)]
    inverse = _detect_inverses(transitions)
    graph = nx.MultiDiGraph()
    for loc in sorted(locations, key=lambda loc: int(loc["id"])):
        graph.add_node(int(loc["id"]), pos=(float(loc["x"]), float(loc["y"])))
    for v, a in zip(*np.nonzero(transitions >= 0)):
        graph.add_edge(int(v), int(transitions[v, a]), action=names[a])
    return from_networkx(graph, actions=names, name=name,
                         inverse_actions={names[a]: names[b] for a, b in enumerate(inverse) if b >= 0})


def _one_hot_target(transition, n: int, where: str) -> int | None:
    """The location a port transition vector points to, None if all zeros (unavailable)."""
    vector = np.asarray(transition, dtype=np.float64)
    if vector.shape != (n,):
        raise ValueError(f"{where}: transition must have one entry per location ({n}), got shape {vector.shape}")
    hits = np.flatnonzero(vector)
    if len(hits) == 0:
        return None
    if len(hits) > 1 or not np.isclose(vector[hits[0]], 1.0):
        raise ValueError(f"{where}: transition is not one-hot; only deterministic worlds are supported")
    return int(hits[0])


def _detect_inverses(transitions: np.ndarray) -> np.ndarray:
    """``(n_actions,)``: for each action ``a`` the action ``b`` with exactly the reversed edges of
    ``a`` (every ``a``-edge ``u -> v`` has a ``b``-edge ``v -> u`` and vice versa), else -1."""
    edges = [{(int(u), int(transitions[u, a])) for u in np.flatnonzero(transitions[:, a] >= 0)}
             for a in range(transitions.shape[1])]
    inverse = np.full(len(edges), -1, dtype=np.int64)
    for a, forward in enumerate(edges):
        backward = {(v, u) for u, v in forward}
        match = [b for b in range(len(edges)) if forward and edges[b] == backward]
        if match:
            inverse[a] = match[0]
    return inverse


# ---- writing -----------------------------------------------------------------------------------
def _dump_node_link(data: dict) -> str:
    """Node-link JSON with one node or edge per line (diff-friendly and compact)."""
    parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items() if k not in ("nodes", "edges")]
    for key in ("nodes", "edges"):
        items = ",\n  ".join(json.dumps(item) for item in data[key])
        parts.append(f"{json.dumps(key)}: [\n  {items}\n ]")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def _file_graph(world: World, *, scalar: bool) -> nx.MultiDiGraph:
    """``world`` as a graph ready for a writer; ``scalar``: graph attributes as JSON strings and
    positions as ``x``/``y`` (GraphML, GML), else lists and a ``pos`` pair (node-link JSON)."""
    names = list(world.action_names)
    inverse = {names[a]: names[b] for a, b in enumerate(world.inverse_actions) if b >= 0}
    graph = nx.MultiDiGraph(name=world.name, periodic=bool(world.periodic),
                            actions=json.dumps(names) if scalar else names,
                            inverse_actions=json.dumps(inverse) if scalar else inverse)
    if world.lattice is not None:
        graph.graph["lattice"] = world.lattice
    for v, (x, y) in enumerate(world.positions.tolist()):
        graph.add_node(v, **({"x": x, "y": y} if scalar else {"pos": [x, y]}))
    for v, a in zip(*np.nonzero(world.transitions >= 0)):
        graph.add_edge(int(v), int(world.transitions[v, a]), action=names[a])
    return graph
