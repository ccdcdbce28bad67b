"""Family trees with the 10 relations of the TEM family-tree task, checked against brute force."""
import networkx as nx
import numpy as np
import pytest

from envs import FAMILY_TREE_RELATIONS, WalkPolicy, WalkSampler, family_tree, make_worlds

RELATIONS = ("parent", "child1", "child2", "sibling", "grandparent", "uncle",
             "nephew1", "nephew2", "cousin1", "cousin2")


def brute_force_relatives(depth):
    """``{(v, relation): w}`` for every relative that exists, found by testing every node pair
    against the relation's definition on a networkx balanced tree (no heap arithmetic)."""
    tree = nx.balanced_tree(2, depth)
    parent = {child: p for child, p in nx.bfs_predecessors(tree, 0)}
    children = {v: sorted(c for c in tree[v] if parent.get(c) == v) for v in tree}
    rank = {c: children[p].index(c) + 1 for c, p in parent.items()}  # 1 = first child

    def up(v, steps):
        for _ in range(steps):
            v = parent.get(v)
        return v

    def holds(relation, v, w):
        if relation == "parent":
            return w == up(v, 1)
        if relation.startswith("child"):
            return up(w, 1) == v and rank[w] == int(relation[-1])
        if relation == "sibling":
            return w != v and up(v, 1) is not None and up(w, 1) == up(v, 1)
        if relation == "grandparent":
            return up(v, 2) is not None and w == up(v, 2)
        if relation == "uncle":  # a child of the grandparent that is not the parent
            return up(v, 2) is not None and up(w, 1) == up(v, 2) and w != up(v, 1)
        if relation.startswith("nephew"):  # a child of a sibling
            return (up(v, 1) is not None and up(w, 2) == up(v, 1) and up(w, 1) != v
                    and rank[w] == int(relation[-1]))
        if relation.startswith("cousin"):  # a child of a parent's sibling: same grandparent, other parent
            return (up(v, 2) is not None and up(w, 2) == up(v, 2) and up(w, 1) != up(v, 1)
                    and rank[w] == int(relation[-1]))
        raise AssertionError(relation)

    found = {}
    for v in tree:
        for relation in RELATIONS:
            matches = [w for w in tree if holds(relation, v, w)]
            assert len(matches) <= 1, (v, relation, matches)
            if matches:
                found[v, relation] = matches[0]
    return found, tree.number_of_nodes()


@pytest.mark.parametrize("depth", [3, 4])
def test_every_transition_matches_the_relation_definitions(depth):
    world = family_tree(depth, relations=10)
    expected, n = brute_force_relatives(depth)
    assert world.n_nodes == n and world.action_names == RELATIONS == FAMILY_TREE_RELATIONS
    for v in range(n):
        for a, relation in enumerate(RELATIONS):
            assert world.transitions[v, a] == expected.get((v, relation), -1), (v, relation)


def test_spot_checks_on_named_nodes():
    world = family_tree(3, relations=10)
    relation = {name: a for a, name in enumerate(world.action_names)}
    # node 3: parent 1, grandparent 0, sibling 4, uncle 2, children 7 8, nephews 9 10, cousins 5 6
    row = dict(zip(world.action_names, world.transitions[3].tolist()))
    assert row == {"parent": 1, "child1": 7, "child2": 8, "sibling": 4, "grandparent": 0, "uncle": 2,
                   "nephew1": 9, "nephew2": 10, "cousin1": 5, "cousin2": 6}
    root = world.transitions[0]
    assert (root >= 0).tolist() == [False, True, True] + [False] * 7  # the root only has children
    leaves = world.transitions[7:]
    assert (leaves[:, [relation["child1"], relation["child2"], relation["nephew1"], relation["nephew2"]]] == -1).all()
    assert (leaves[:, relation["cousin1"]] >= 0).all()


def test_relation_counts():
    world = family_tree(4, relations=10)
    available = dict(zip(world.action_names, (world.transitions >= 0).sum(axis=0).tolist()))
    assert available == {"parent": 30, "child1": 15, "child2": 15, "sibling": 30, "grandparent": 28,
                         "uncle": 28, "nephew1": 14, "nephew2": 14, "cousin1": 28, "cousin2": 28}


def test_inverses():
    world = family_tree(3, relations=10)
    names = world.action_names
    declared = {names[a]: names[i] for a, i in enumerate(world.inverse_actions) if i >= 0}
    assert declared == {"child1": "parent", "child2": "parent", "sibling": "sibling",
                        "nephew1": "uncle", "nephew2": "uncle"}
    for a, inverse in enumerate(world.inverse_actions):  # each declared inverse leads back
        if inverse >= 0:
            for v in np.flatnonzero(world.transitions[:, a] >= 0):
                assert world.transitions[world.transitions[v, a], inverse] == v
    sibling = names.index("sibling")
    assert world.inverse_actions[sibling] == sibling


def test_four_action_tree_is_unchanged_and_agrees():
    small, big = family_tree(3), family_tree(3, relations=10)
    assert small.action_names == ("parent", "first_child", "second_child", "sibling")
    assert small.name == "family tree 3"
    assert np.array_equal(small.transitions, big.transitions[:, :4])
    assert np.array_equal(small.positions, big.positions)
    assert make_worlds("family-tree")[0].n_actions == 4


def test_spec_kind_family_tree_10():
    worlds = make_worlds("family-tree-10:3-5")
    assert [w.n_nodes for w in worlds] == [15, 31, 63]
    assert all(w.action_names == RELATIONS for w in worlds)
    assert make_worlds("family-tree-10")[0].n_nodes == 15  # default depth 3
    assert worlds[0].lattice is None and worlds[0].displacements is None


def test_sampler_walks_the_10_relation_family():
    worlds = make_worlds("family-tree-10:3-4")
    sampler = WalkSampler(worlds, batch_size=4, window=10, walk_length=30, seed=0,
                          policy=WalkPolicy(persistence=0.3, approach=0.3))
    for _ in range(4):
        batch = sampler.next_window()
        for b in range(4):
            world = worlds[batch.world[b]]
            assert np.array_equal(batch.node[b, 1:], world.transitions[batch.node[b, :-1], batch.action[b, 1:]])


@pytest.mark.parametrize("call,name", [
    (lambda: family_tree(1, relations=10), "depth"), (lambda: family_tree(3, relations=5), "relations"),
    (lambda: make_worlds("family-tree-10:1"), "depth"),
])
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()
