"""Worlds: degrees, inverse actions, positions, families, graph import and error messages."""
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import family_tree, from_networkx, hex_grid, line, line_jumps, make_worlds, ring, square_grid
from envs.grids import HEX_ACTIONS, SQUARE_ACTIONS


def degrees(world):
    """``(n_nodes,)`` number of available actions per node."""
    return (world.transitions >= 0).sum(axis=1)


# ---- degrees -----------------------------------------------------------------------------------
@pytest.mark.parametrize("stay", [False, True])
def test_square_degrees(stay):
    world = square_grid(5, 4, stay_action=stay)
    deg = degrees(world).reshape(4, 5)  # (height, width), node = y * width + x
    assert (deg[1:-1, 1:-1] == 4 + stay).all()  # interior
    assert deg[0, 0] == deg[-1, -1] == 2 + stay  # corners
    assert (deg[0, 1:-1] == 3 + stay).all()  # walls


@pytest.mark.parametrize("stay", [False, True])
def test_hex_degrees(stay):
    world = hex_grid(6, 6, stay_action=stay)
    deg = degrees(world).reshape(6, 6)
    assert (deg[1:-1, 1:-1] == 6 + stay).all()
    assert deg.min() >= 2 + stay


@pytest.mark.parametrize("build,n_moves", [(square_grid, 4), (hex_grid, 6)])
@pytest.mark.parametrize("stay", [False, True])
def test_periodic_grids_have_full_degree(build, n_moves, stay):
    for width, height in [(4, 4), (5, 6), (7, 8)]:
        world = build(width, height, periodic=True, stay_action=stay)
        assert (degrees(world) == n_moves + stay).all()
        moves = world.transitions[:, :n_moves]
        assert all(len(set(row)) == n_moves for row in moves.tolist()), "neighbours must be distinct"
        assert (moves != np.arange(world.n_nodes)[:, None]).all()


def test_stay_action_is_detected():
    assert square_grid(4, stay_action=True).stay_actions == (4,)
    assert hex_grid(4, stay_action=True).stay_actions == (6,)
    assert square_grid(4).stay_actions == ()


# ---- inverse actions ---------------------------------------------------------------------------
@pytest.mark.parametrize("world", [square_grid(5, 4), square_grid(4, periodic=True), hex_grid(5, 4),
                                   hex_grid(5, 6, periodic=True), hex_grid(3, stay_action=True),
                                   line(5), ring(6), family_tree(3), family_tree(3, relations=10),
                                   line_jumps(7, 3)], ids=lambda w: w.name)
def test_inverse_actions_return_to_start(world):
    checked = 0
    for a, inv in enumerate(world.inverse_actions):
        if inv < 0:
            continue
        for v in np.flatnonzero(world.transitions[:, a] >= 0):
            u = world.transitions[v, a]
            assert world.transitions[u, inv] == v, (world.action_names[a], v)
            checked += 1
    assert checked > 0


def test_named_inverses():
    square = dict(zip(SQUARE_ACTIONS, square_grid(4).inverse_actions))
    assert SQUARE_ACTIONS[square["N"]] == "S" and SQUARE_ACTIONS[square["E"]] == "W"
    hexes = hex_grid(4).inverse_actions
    assert {HEX_ACTIONS[a]: HEX_ACTIONS[i] for a, i in enumerate(hexes)} == {
        "E": "W", "NE": "SW", "NW": "SE", "W": "E", "SW": "NE", "SE": "NW"}
    tree = family_tree(3)
    child, parent = tree.action_names.index("first_child"), tree.action_names.index("parent")
    assert tree.inverse_actions[child] == parent
    for v in range(7):  # every non-leaf: child then parent is home
        assert tree.step(tree.step(v, child), parent) == v


# ---- positions ---------------------------------------------------------------------------------
def test_hex_neighbours_at_distance_one():
    world = hex_grid(6, 5)
    src, act = np.nonzero(world.transitions >= 0)
    gaps = np.linalg.norm(world.positions[src] - world.positions[world.transitions[src, act]], axis=1)
    assert np.allclose(gaps, 1.0)


def test_periodic_hex_neighbours_at_distance_one_on_the_torus():
    width, height = 5, 6
    world = hex_grid(width, height, periodic=True)
    periods = np.array([[0, 0], [width, 0], [0, height * np.sqrt(3) / 2]])
    shifts = np.array([i * periods[1] + j * periods[2] for i in (-1, 0, 1) for j in (-1, 0, 1)])
    src, act = np.nonzero(world.transitions >= 0)
    delta = world.positions[world.transitions[src, act]] - world.positions[src]  # (E, 2)
    gaps = np.linalg.norm(delta[:, None] + shifts[None], axis=-1).min(axis=1)
    assert np.allclose(gaps, 1.0)


def test_square_positions_match_node_ids():
    world = square_grid(4, 3)
    x, y = world.positions.T
    assert np.array_equal(y * 4 + x, np.arange(12))
    north = world.transitions[5, SQUARE_ACTIONS.index("N")]
    assert tuple(world.positions[north]) == (1.0, 2.0)


def test_graph_without_pos_gets_a_layout():
    graph = nx.cycle_graph(4)
    for u, v in graph.edges:
        graph.edges[u, v]["action"] = "a" if min(u, v) % 2 == 0 and (u, v) != (0, 3) else "b"
    world = from_networkx(graph)
    assert world.positions.shape == (4, 2) and np.isfinite(world.positions).all()
    assert len(np.unique(world.positions.round(6), axis=0)) == 4


# ---- lines with jumps --------------------------------------------------------------------------
@pytest.mark.parametrize("n, jump", [(6, 1), (10, 2), (7, 3)])
def test_line_jumps_move_k_positions(n, jump):
    world = line_jumps(n, jump)
    names = [f"left{k}" for k in range(jump, 0, -1)] + [f"right{k}" for k in range(1, jump + 1)]
    assert world.action_names == tuple(names) and world.n_nodes == n
    for i in range(n):
        for k in range(1, jump + 1):
            right, left = world.transitions[i, names.index(f"right{k}")], world.transitions[i, names.index(f"left{k}")]
            assert right == (i + k if i + k < n else -1) and left == (i - k if i - k >= 0 else -1)
    for a, name in enumerate(names):  # right k is undone by left k and vice versa
        other = name.replace("left", "@").replace("right", "left").replace("@", "right")
        assert names[world.inverse_actions[a]] == other
    assert np.array_equal(world.positions, np.stack([np.arange(n), np.zeros(n)], axis=1))


def test_line_jumps_specs():
    (two,) = make_worlds("line-jumps2:10")
    (plain,) = make_worlds("line-jumps:10")
    assert np.array_equal(two.transitions, plain.transitions)
    assert two.action_names == plain.action_names == ("left2", "left1", "right1", "right2")
    assert [w.n_nodes for w in make_worlds("line-jumps3:8-9")] == [8, 9]
    assert make_worlds("line-jumps3:8")[0].n_actions == 6
    assert make_worlds("line-jumps")[0].n_nodes == 10
    with pytest.raises(ValueError, match="line-jumps"):
        make_worlds("line-jumpsx:10")


# ---- families ----------------------------------------------------------------------------------
def test_make_worlds_family_specs():
    worlds = make_worlds("square:8-11")
    assert [w.n_nodes for w in worlds] == [64, 81, 100, 121]
    assert len(make_worlds("hex:5,7")) == 2
    assert make_worlds("family-tree")[0].n_nodes == 15
    assert all(w.n_actions == 5 for w in make_worlds("periodic-square:4-5", stay_action=True))
    with pytest.raises(ValueError, match="sizes"):
        make_worlds("square:x-y")
    with pytest.raises(ValueError, match="cube"):
        make_worlds("cube:8")


def test_stay_suffix_adds_a_stand_still_action():
    (world,) = make_worlds("square+stay:5")
    stay = world.stay_actions[0]
    assert world.n_actions == 5 and world.lattice == "square" and not world.periodic
    assert (world.transitions[:, stay] == np.arange(world.n_nodes)).all()
    assert make_worlds("hex+stay:4")[0].n_actions == 7
    with pytest.raises(ValueError, match="grid worlds"):
        make_worlds("ring+stay:12")


@pytest.mark.parametrize("spec, lattice, periodic", [
    ("square:5", "square", False), ("periodic-square:5", "square", True), ("hex:4", "hex", False),
    ("periodic-hex:4", "hex", True), ("line:5", None, False), ("ring:5", None, False), ("family-tree:2", None, False),
    ("family-tree-10:2", None, False), ("line-jumps:5", None, False)])
def test_worlds_declare_their_lattice_and_periodicity(spec, lattice, periodic):
    (world,) = make_worlds(spec)
    assert world.lattice == lattice and world.periodic == periodic
    if lattice:  # every action is one fixed step on the plane
        assert world.displacements.shape == (world.n_actions, 2)
        assert np.allclose(np.linalg.norm(world.displacements, axis=1), 1.0)
    if spec.startswith(("ring", "family")):
        assert world.displacements is None


def test_steps_are_declared_only_when_they_form_a_lattice():
    from envs.world import lattice_displacements
    assert np.allclose(make_worlds("line-jumps3:8")[0].displacements[:, 0], [-3, -2, -1, 1, 2, 3])
    # a 5x5x5 lattice drawn on the plane: its z step (0.4, 0.3) is no integer mix of x and y
    graph = nx.grid_graph(dim=[3, 3, 3])
    positions = np.array([[x + 0.4 * z, y + 0.3 * z] for x, y, z in graph.nodes])
    index = {node: i for i, node in enumerate(graph.nodes)}
    transitions = np.full((len(index), 3), -1)
    for (x, y, z), i in index.items():
        transitions[i] = [index.get((x + 1, y, z), -1), index.get((x, y + 1, z), -1), index.get((x, y, z + 1), -1)]
    assert lattice_displacements(transitions, positions) is None
    assert lattice_displacements(transitions[:, :2], positions) is not None  # x and y alone: a lattice


@pytest.mark.parametrize("spec, commute", [
    ("square:4", True), ("periodic-square:4", True), ("hex:4", True), ("ring:5", True), ("line-jumps2:6", True),
    ("family-tree:2", False), ("family-tree-10:2", False)])
def test_tasks_declare_whether_moves_commute(spec, commute):
    from tem.model import Task, moves_commute
    assert Task.from_world(make_worlds(spec)[0], 5).commuting == commute
    # a twisted wrap (a Moebius strip's) breaks commutation at its edges
    twisted = np.array([[1, 2], [0, 3], [3, 0], [2, 1]])  # action 0 then 1 from node 0: 3; 1 then 0: 3
    assert moves_commute(twisted)
    twisted[2, 0] = 1  # node 2's move 0 now leads to node 1: 0 -> 2 -> 1 differs from 0 -> 1 -> 3
    assert not moves_commute(twisted)


def test_unknown_lattice_is_refused():
    with pytest.raises(ValueError, match="lattice"):
        from_networkx(line(3).to_networkx()).__class__(
            name="x", transitions=[[1], [0]], positions=[[0, 0], [1, 0]], action_names=("a",),
            inverse_actions=[0], lattice="cubic")


# ---- errors name the argument ------------------------------------------------------------------
@pytest.mark.parametrize("call,name", [
    (lambda: square_grid(1), "width"), (lambda: square_grid(4, 1), "height"),
    (lambda: hex_grid(0), "width"), (lambda: hex_grid(4, 5, periodic=True), "height"),
    (lambda: square_grid(4).sample_objects(0, np.random.default_rng()), "n_objects"),
    (lambda: line(1), "n"), (lambda: family_tree(0), "depth"),
    (lambda: line_jumps(5, 0), "jump"), (lambda: line_jumps(2, 2), "n"), (lambda: make_worlds("line-jumps0:5"), "jump"),
])
def test_bad_sizes_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


def test_graph_errors_name_the_problem():
    unlabeled = nx.DiGraph([(0, 1), (1, 0)])
    with pytest.raises(ValueError, match="action"):
        from_networkx(unlabeled)
    clash = nx.DiGraph()
    clash.add_edge(0, 1, action="go")
    clash.add_edge(0, 2, action="go")
    clash.add_edge(1, 0, action="go")
    clash.add_edge(2, 0, action="go")
    with pytest.raises(ValueError, match=r"two edges with action 'go' out of node 0"):
        from_networkx(clash)
    far = nx.DiGraph()
    far.add_edge(0, 1, action=5)
    far.add_edge(1, 0, action=0)
    with pytest.raises(ValueError, match="action id 5"):
        from_networkx(far, actions=["a", "b"])
    split = nx.Graph()
    split.add_edge("a", "b", action="x")
    split.add_edge("c", "d", action="x")
    with pytest.raises(ValueError, match=r"disconnected.*\['a', 'b'\].*\['c', 'd'\]"):
        from_networkx(split)


def test_integer_labels_are_action_ids_when_actions_given():
    graph = nx.DiGraph()
    graph.add_edge(0, 1, action=1)
    graph.add_edge(1, 0, action=0)
    world = from_networkx(graph, actions=["left", "right"])
    assert world.transitions.tolist() == [[-1, 1], [0, -1]]


def test_world_step_rejects_out_of_range_action():
    with pytest.raises(ValueError, match="action"):
        square_grid(3).step(0, 4)


# ---- property: graph worlds reproduce their graph ------------------------------------------------
@st.composite
def labelled_digraphs(draw):
    """A weakly connected DiGraph (string nodes) whose out-edges carry distinct integer labels."""
    n = draw(st.integers(1, 10))
    names = draw(st.permutations([f"n{i}" for i in range(n)]))
    edges = set()
    for v in range(1, n):  # random spanning tree with random directions: weakly connected
        u = draw(st.integers(0, v - 1))
        edges.add((u, v) if draw(st.booleans()) else (v, u))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    edges |= set(draw(st.lists(pairs, max_size=2 * n)))
    for v in range(n):  # every node needs a way out
        if not any(u == v for u, _ in edges):
            edges.add((v, draw(st.integers(0, n - 1))))
    out_degree = max(sum(u == v for u, _ in edges) for v in range(n))
    n_actions = out_degree + draw(st.integers(0, 2))
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    for v in range(n):
        targets = sorted(w for u, w in edges if u == v)
        labels = draw(st.permutations(range(n_actions)))[:len(targets)]
        for w, label in zip(targets, labels):
            graph.add_edge(names[v], names[w], action=label)
    return graph, n_actions


@settings(max_examples=60, deadline=None)
@given(labelled_digraphs(), st.randoms(use_true_random=False))
def test_graph_world_reproduces_edges_and_round_trips(case, random):
    graph, n_actions = case
    inverse = {a: random.randrange(n_actions) for a in range(n_actions) if random.random() < 0.5}
    world = from_networkx(graph, actions=list(range(n_actions)), inverse_actions=inverse)
    index = {v: i for i, v in enumerate(graph.nodes)}
    expected = {(index[u], d["action"], index[v]) for u, v, d in graph.edges(data=True)}
    src, act = np.nonzero(world.transitions >= 0)
    got = {(int(u), int(a), int(world.transitions[u, a])) for u, a in zip(src, act)}
    assert got == expected
    again = from_networkx(world.to_networkx(), actions=world.action_names)
    assert np.array_equal(again.transitions, world.transitions)
    assert np.array_equal(again.inverse_actions, world.inverse_actions)
    assert np.allclose(again.positions, world.positions)
