"""World files: round trips through GraphML, GML and node-link JSON, the TEM port's JSON, hand-written
files, every bad file's message, file families in make_worlds, the example files and train.py."""
import importlib.util
import inspect
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from envs import (WalkSampler, family_tree, hex_grid, line_jumps, load_world, make_worlds, ring, save_world,
                  square_grid)
from envs.files import reorder_actions

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "worlds"
FORMATS = ("graphml", "gml", "json")
WORLDS = {
    "square": lambda: square_grid(4, 3),
    "periodic-square-stay": lambda: square_grid(2, periodic=True, stay_action=True),  # parallel edges
    "periodic-hex": lambda: hex_grid(5, 4, periodic=True),
    "family-tree-10": lambda: family_tree(3, relations=10),
    "line-jumps": lambda: line_jumps(6, 2),
    "ring": lambda: ring(5),
}


def assert_same_world(got, expected):
    assert np.array_equal(got.transitions, expected.transitions)
    assert np.array_equal(got.inverse_actions, expected.inverse_actions)
    assert got.action_names == expected.action_names
    assert np.allclose(got.positions, expected.positions, rtol=0, atol=1e-12)
    assert (got.lattice, got.periodic) == (expected.lattice, expected.periodic)


def write_graph(graph, path):
    """Write a networkx graph in the format named by ``path``'s extension."""
    path = Path(path)
    if path.suffix == ".graphml":
        nx.write_graphml(graph, path)
    elif path.suffix == ".gml":
        nx.write_gml(graph, path)
    else:
        keyword = "edges" if "edges" in inspect.signature(nx.node_link_data).parameters else "link"
        path.write_text(json.dumps(nx.node_link_data(graph, **{keyword: "links"})))  # the older key
    return path


# ---- round trips -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(WORLDS))
def test_save_then_load_gives_the_same_world(tmp_path, name, fmt):
    world = WORLDS[name]()
    path = save_world(world, tmp_path / f"{name}.{fmt}")
    again = load_world(path)
    assert_same_world(again, world)
    assert again.name == name  # the file's stem
    if world.displacements is not None:
        assert np.allclose(again.displacements, world.displacements)


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_family_through_make_worlds(tmp_path, fmt):
    paths = [save_world(square_grid(s), tmp_path / f"square{s}.{fmt}") for s in (3, 4)]
    worlds = make_worlds(",".join(str(p) for p in paths))
    assert [w.n_nodes for w in worlds] == [9, 16] and [w.name for w in worlds] == ["square3", "square4"]
    assert_same_world(worlds[1], square_grid(4))


def test_family_files_with_reordered_actions_share_the_first_order(tmp_path):
    first = save_world(square_grid(3), tmp_path / "a.json")
    shuffled = reorder_actions(square_grid(4), ("W", "S", "N", "E"))
    second = save_world(shuffled, tmp_path / "b.graphml")
    assert load_world(second).action_names == ("W", "S", "N", "E")
    worlds = make_worlds(f"{first},{second}")
    assert worlds[1].action_names == ("N", "E", "S", "W")
    assert_same_world(worlds[1], square_grid(4))


# ---- hand-written files ------------------------------------------------------------------------
def test_undirected_graphml_with_json_pos_and_inverses(tmp_path):
    graph = nx.Graph(inverse_actions=json.dumps({"a": "a", "b": "b"}))  # 0 -a- 1 -b- 2, read both ways
    graph.add_edge(0, 1, action="a")
    graph.add_edge(1, 2, action="b")
    for v in graph:
        graph.nodes[v]["pos"] = json.dumps([float(v), 1.0])
    world = load_world(write_graph(graph, tmp_path / "path.graphml"))
    assert world.action_names == ("a", "b") and world.transitions.tolist() == [[1, -1], [0, 2], [-1, 1]]
    assert world.inverse_actions.tolist() == [0, 1]
    assert world.positions.tolist() == [[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]


def test_gml_with_x_y_and_default_action_order(tmp_path):
    graph = nx.DiGraph(lattice="square")
    for v in range(3):
        graph.add_node(v, x=float(v), y=0.0)
    for v, label in ((0, "a10"), (1, "a2")):
        graph.add_edge(v, v + 1, action=label)
        graph.add_edge(v + 1, v, action=f"back{label}")
    world = load_world(write_graph(graph, tmp_path / "chain.gml"))
    assert world.action_names == ("a2", "a10", "backa2", "backa10")  # natural order of the labels
    assert world.positions[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert world.lattice == "square" and (world.inverse_actions == -1).all()


@pytest.mark.parametrize("key", ["links", "edges"])
def test_node_link_json_with_links_or_edges(tmp_path, key):
    data = {"directed": True, "multigraph": False, "graph": {"inverse_actions": {"go": "back", "back": "go"},
                                                             "lattice": "cubic"},
            "nodes": [{"id": "a"}, {"id": "b"}],
            key: [{"source": "a", "target": "b", "action": "go"}, {"source": "b", "target": "a", "action": "back"}]}
    path = tmp_path / "pair.json"
    path.write_text(json.dumps(data))
    world = load_world(path)
    assert world.action_names == ("back", "go") and world.transitions.tolist() == [[-1, 1], [0, -1]]
    assert world.inverse_actions.tolist() == [1, 0]
    assert world.lattice is None  # only square or hex are lattices
    assert world.positions.shape == (2, 2) and np.isfinite(world.positions).all()  # a layout


def test_integer_labels_are_ids_when_actions_are_declared(tmp_path):
    graph = nx.DiGraph(actions=json.dumps(["left", "right"]))
    graph.add_edge(0, 1, action=1)
    graph.add_edge(1, 0, action=0)
    world = load_world(write_graph(graph, tmp_path / "ids.graphml"))
    assert world.action_names == ("left", "right") and world.transitions.tolist() == [[-1, 1], [0, -1]]


# ---- the TEM PyTorch port's world JSON ----------------------------------------------------------
PORT_STEPS = ((0, 0), (0, -1), (1, 0), (0, 1), (-1, 0))  # stand still, then the port's 4 directions


def port_world(width=3, height=3, probability_zero=False):
    """A grid in the port's format: location ``x + width * y``, one-hot transitions, a stay action."""
    n = width * height
    locations = []
    for v in range(n):
        y, x = divmod(v, width)
        actions = []
        for a, (dx, dy) in enumerate(PORT_STEPS):
            transition = [0] * n
            if 0 <= x + dx < width and 0 <= y + dy < height:
                transition[(y + dy) * width + x + dx] = 1
            actions.append({"id": a, "transition": transition, "probability": 0 if probability_zero else 0.25})
        out = sorted({i for act in actions for i, t in enumerate(act["transition"]) if t})
        locations.append({"id": v, "observation": v % 7, "x": (x + 0.5) / width, "y": (y + 0.5) / height,
                          "in_locations": out, "in_degree": len(out), "out_locations": out, "out_degree": len(out),
                          "actions": actions})
    adjacency = [[int(any(act["transition"][w] for act in loc["actions"])) for w in range(n)] for loc in locations]
    return {"n_locations": n, "n_observations": 7, "n_actions": len(PORT_STEPS), "adjacency": adjacency,
            "locations": locations}


def test_tem_port_grid_with_stand_still(tmp_path):
    path = tmp_path / "port3x3.json"
    path.write_text(json.dumps(port_world()))
    world = load_world(path)
    assert world.name == "port3x3" and world.action_names == ("a0", "a1", "a2", "a3", "a4")
    expected = np.full((9, 5), -1)
    for v in range(9):
        y, x = divmod(v, 3)
        for a, (dx, dy) in enumerate(PORT_STEPS):
            if 0 <= x + dx < 3 and 0 <= y + dy < 3:
                expected[v, a] = (y + dy) * 3 + x + dx
    assert np.array_equal(world.transitions, expected)
    assert world.transitions[4].tolist() == [4, 1, 5, 7, 3]  # the centre
    assert world.inverse_actions.tolist() == [0, 3, 4, 1, 2]  # stay is its own inverse
    assert world.stay_actions == (0,)
    assert np.allclose(world.positions[5], [5 / 6, 0.5])
    sampler = WalkSampler([world], batch_size=2, window=6, walk_length=12, seed=0)
    batch = sampler.next_window()
    assert np.array_equal(batch.node[:, 1:], world.transitions[batch.node[:, :-1], batch.action[:, 1:]])


def test_tem_port_named_actions_and_errors(tmp_path):
    data = port_world(2, 2)
    for loc in data["locations"]:
        for act in loc["actions"]:
            act["direction"] = ["stay", "up", "right", "down", "left"][act["id"]]
    path = tmp_path / "named.json"
    path.write_text(json.dumps(data))
    assert load_world(path).action_names == ("stay", "up", "right", "down", "left")
    data["locations"][0]["actions"][2]["transition"] = [0, 0.5, 0.5, 0]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"named\.json: location 0 action 2: transition is not one-hot"):
        load_world(path)
    del data["locations"][1]["x"]
    data["locations"][0]["actions"][2]["transition"] = [0, 1, 0, 0]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="missing field 'x'"):
        load_world(path)


# ---- bad files ---------------------------------------------------------------------------------
def graph_file(tmp_path, name, edges, graph_attrs=None):
    graph = nx.DiGraph(**(graph_attrs or {}))
    for u, v, label in edges:
        graph.add_edge(u, v, **({} if label is None else {"action": label}))
    return str(write_graph(graph, tmp_path / name))


BAD_FILES = {  # name -> (writer, message)
    "corrupt.graphml": (lambda p: p.write_text('<graphml><graph><node id="0"'), r"cannot parse the GraphML file"),
    "corrupt.gml": (lambda p: p.write_text("graph [ node [ id 0 "), r"cannot parse the GML file"),
    "corrupt.json": (lambda p: p.write_text('{"nodes": ['), r"cannot parse the JSON file"),
    "neither.json": (lambda p: p.write_text('{"vertices": []}'), r"neither node-link data .* nor a TEM-port world"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_unreadable_files_raise_with_the_path(tmp_path, name):
    write, message = BAD_FILES[name]
    path = tmp_path / name
    write(path)
    with pytest.raises(ValueError, match=rf"{name}: .*({message})"):
        load_world(path)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("edges,attrs,message", [
    ([(0, 1, "a"), (1, 0, None)], None, r"edge \('?1'?, '?0'?\) has no 'action' label"),
    ([(0, 1, "go"), (0, 2, "go"), (1, 0, "back"), (2, 0, "back")], None, r"two edges with action 'go' out of node '?0'?"),
    ([(0, 1, "a"), (1, 0, "a"), (2, 3, "a"), (3, 2, "a")], None, r"disconnected: 2 components"),
    ([(0, 1, "a"), (1, 0, "a")], {"inverse_actions": '{"a": "zz"}'}, r"unknown action 'zz'"),
    ([(0, 1, "a"), (1, 0, "a")], {"inverse_actions": "{oops"}, r"'inverse_actions' must be a JSON dict"),
], ids=["no-action", "two-edges", "disconnected", "unknown-inverse", "bad-json-attribute"])
def test_invalid_worlds_raise_with_the_path(tmp_path, fmt, edges, attrs, message):
    path = graph_file(tmp_path, f"bad.{fmt}", edges, attrs)
    with pytest.raises(ValueError, match=rf"bad\.{fmt}: .*{message}"):
        load_world(path)


def test_bad_pos_names_the_node(tmp_path):
    graph = nx.DiGraph()
    graph.add_node(0, pos="[1, 2, 3]")
    graph.add_edge(0, 1, action="a")
    graph.add_edge(1, 0, action="a")
    with pytest.raises(ValueError, match=r"node '0': pos must be 2 finite numbers"):
        load_world(write_graph(graph, tmp_path / "pos.graphml"))


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.graphml"):
        load_world(tmp_path / "nowhere.graphml")
    with pytest.raises(FileNotFoundError, match="nowhere.gml"):
        make_worlds(str(tmp_path / "nowhere.gml"))
    for call in (lambda: load_world(tmp_path / "w.txt"), lambda: make_worlds("world.yaml"),
                 lambda: save_world(ring(4), tmp_path / "w.csv")):
        with pytest.raises(ValueError, match=r"unknown extension .*accepted: \.graphml, \.gml, \.json"):
            call()


def test_family_files_must_share_actions(tmp_path):
    grid = save_world(square_grid(3), tmp_path / "grid.gml")
    tree = save_world(family_tree(2), tmp_path / "tree.gml")
    with pytest.raises(ValueError, match=r"share one action set: .*grid\.gml has .*tree\.gml has"):
        make_worlds(f"{grid},{tree}")
    with pytest.raises(ValueError, match="empty file path"):
        make_worlds(f"{grid},")
    with pytest.raises(ValueError, match="stay_action"):
        make_worlds(str(grid), stay_action=True)
    with pytest.raises(ValueError, match="world"):
        save_world("not a world", tmp_path / "x.json")


def test_kind_specs_are_not_mistaken_for_files():
    with pytest.raises(ValueError, match="sizes"):
        make_worlds("square:8.5")


# ---- the example files -------------------------------------------------------------------------
def load_example_script():
    spec = importlib.util.spec_from_file_location("example_worlds", EXAMPLES / "make_worlds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_files_are_what_the_script_makes():
    built = load_example_script().build_worlds()
    assert set(built) <= {p.name for p in EXAMPLES.iterdir()}
    for name, world in built.items():
        assert_same_world(load_world(EXAMPLES / name), world)


def test_example_families_load_and_walk():
    lattices = make_worlds(f"{EXAMPLES / 'lattice3d.json'},{EXAMPLES / 'lattice3d-5.json'}")
    assert [w.n_nodes for w in lattices] == [64, 125]
    assert lattices[0].action_names == ("+x", "-x", "+y", "-y", "+z", "-z")
    assert lattices[0].inverse_actions.tolist() == [1, 0, 3, 2, 5, 4]
    assert len(np.unique(lattices[1].positions.round(6), axis=0)) == 125  # the projection keeps nodes apart
    degree = (lattices[0].transitions >= 0).sum(axis=1)
    assert degree.min() == 3 and degree.max() == 6
    grids = make_worlds(f"{EXAMPLES / 'diagonal-grid.graphml'},{EXAMPLES / 'diagonal-grid-10.graphml'}")
    assert grids[0].action_names == ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
    assert (grids[1].transitions >= 0).sum(axis=1).max() == 8
    trees = make_worlds(f"{EXAMPLES / 'ternary-tree.gml'},{EXAMPLES / 'ternary-tree-4.gml'}")
    assert [w.n_nodes for w in trees] == [40, 121] and trees[0].inverse_actions.tolist() == [-1, 0, 0, 0]
    for family in (lattices, grids, trees):
        sampler = WalkSampler(family, batch_size=4, window=8, walk_length=16, seed=0)
        for _ in range(3):
            batch = sampler.next_window()
            for b in range(4):
                world = family[batch.world[b]]
                assert np.array_equal(batch.node[b, 1:], world.transitions[batch.node[b, :-1], batch.action[b, 1:]])


# ---- train.py ----------------------------------------------------------------------------------
def test_train_on_a_world_file_and_a_missing_one(tmp_path, capsys):
    from tem.training.cli import main

    tiny = ["--batch", "2", "--window", "4", "--walk-length", "8", "--n-objects", "5", "--temt.module-sizes", "8",
            "--temt.sensory-dim", "8", "--temt.key-dim", "8", "--eval-every", "0", "--no-analysis", "--threads", "1"]
    world = f"{EXAMPLES / 'ternary-tree.gml'},{EXAMPLES / 'ternary-tree-4.gml'}"
    assert main([*tiny, "--world", world, "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    assert main([*tiny, "--world", "nowhere.graphml", "--steps", "1", "--out", str(tmp_path / "bad")]) == 2
    assert "error: world file 'nowhere.graphml' not found" in capsys.readouterr().err
