"""The ideal observer: exact Bayes over (world, start node), checked against a plain enumeration."""
from fractions import Fraction

import numpy as np
import pytest

from analysis.evaluate import Walks, score_walks
from analysis.ideal import hypotheses, ideal_observer, walk_bytes
from analysis.metrics import visit_masks
from envs import WalkSampler, make_worlds


def brute_force_ideal(worlds, obs, action, n_objects):
    """Per-step expected correctness by looping over every (world, start) hypothesis in exact fractions."""
    B, T = obs.shape
    correct = np.zeros((B, T))
    for b in range(B):
        hyps = [{"world": w, "node": s, "stored": {}, "weight": Fraction(1, len(worlds) * w.n_nodes)}
                for w in worlds for s in range(w.n_nodes)]
        for t in range(T):
            for h in hyps:
                if t > 0 and h["weight"]:
                    nxt = h["world"].transitions[h["node"], action[b, t]]
                    h["weight"], h["node"] = (h["weight"], nxt) if nxt >= 0 else (Fraction(0), h["node"])
            total = sum(h["weight"] for h in hyps)
            prob = [Fraction(0)] * n_objects
            for h in hyps:
                stored = h["stored"].get(h["node"])
                for o in range(n_objects):
                    like = Fraction(1, n_objects) if stored is None else Fraction(int(stored == o))
                    prob[o] += h["weight"] / total * like
            tied = [o for o in range(n_objects) if prob[o] == max(prob)]
            correct[b, t] = 1 / len(tied) if obs[b, t] in tied else 0.0
            for h in hyps:
                stored = h["stored"].get(h["node"])
                if stored is None:
                    h["weight"] /= n_objects
                    h["stored"][h["node"]] = obs[b, t]
                elif stored != obs[b, t]:
                    h["weight"] = Fraction(0)
    return correct


def _walks(spec, n_walks, length, n_objects, seed):
    worlds = make_worlds(spec)
    batch = WalkSampler(worlds, n_walks, length, length, n_objects=n_objects, seed=seed, stagger=False).next_window()
    return worlds, batch


def _node_agent(batch, n_actions, n_objects):
    return np.where(visit_masks(batch.node, batch.action, n_actions)["node_visited"], 1.0, 1 / n_objects)


@pytest.mark.parametrize("spec, n_objects, seed", [("ring:3-5", 2, 3), ("line:2-4", 3, 7), ("family-tree:1-2", 3, 0),
                                                   ("periodic-square:2-3", 2, 2)])
def test_ideal_observer_matches_a_brute_force_enumeration(spec, n_objects, seed):
    """Few objects, so that chance recurrences and exact ties happen (seeds where the prior decides)."""
    worlds, batch = _walks(spec, 5, 40, n_objects, seed=seed)
    result = ideal_observer(worlds, batch.obs, batch.action, n_objects)
    expected = brute_force_ideal(worlds, batch.obs, batch.action, n_objects)
    np.testing.assert_allclose(result.correct, expected, atol=1e-12)
    assert result.hypotheses == sum(w.n_nodes for w in worlds) and result.note is None
    if spec != "line:2-4":  # an unknown size or start matters on rings, trees and tori, not on lines
        assert not np.allclose(result.correct, _node_agent(batch, worlds[0].n_actions, n_objects))


@pytest.mark.parametrize("spec", ["square:4", "square:3-5", "hex:3-4", "ring:5"])
def test_ideal_observer_equals_the_node_agent_where_paths_only_translate(spec):
    """In bounded square and hex grids (any sizes) and one ring, every hypothesis consistent with
    the actions is a translation (rotation) of the true path, so all agree on which steps revisit a
    node and on its object: the ideal observer is 1 on revisits and chance on first visits."""
    worlds, batch = _walks(spec, 6, 120, 10, seed=1)
    ideal = ideal_observer(worlds, batch.obs, batch.action, 10).correct
    node_agent = _node_agent(batch, worlds[0].n_actions, 10)
    np.testing.assert_allclose(ideal, node_agent, atol=1e-12)
    assert ideal.mean() >= node_agent.mean() - 1e-12
    link = visit_masks(batch.node, batch.action, worlds[0].n_actions)["link_inference"]
    assert link.any() and (ideal[link] == 1.0).all()


def hand_made_ring_walks():
    """Two walks in rings of 3 and 4 nodes (actions ccw = +1, cw = -1), 5 objects.

    Walk 0 (ring 3): start 0, ccw, ccw, ccw (back at 0: link inference), cw (to 2: link inference).
    Before step 3, both ring sizes are equally likely; ring 3 says object 0, ring 4 a new object, so
    the observer predicts 0 (P 0.6) and is right; at step 4 all hypotheses agree.
    Walk 1 (ring 4): same start, ccw x 4, and node 3 happens to hold node 0's object. Step 3 then
    fits ring 3 (posterior 5/6); at step 4 (back at 0: link inference) ring 3 predicts object 1 and
    ring 4 object 0, so the observer predicts 1 and is wrong.
    """
    node = np.array([[0, 1, 2, 0, 2], [0, 1, 2, 3, 0]])
    action = np.array([[-1, 0, 0, 0, 1], [-1, 0, 0, 0, 0]])
    obs = np.array([[0, 1, 2, 0, 2], [0, 1, 2, 0, 0]])
    expected = np.array([[0.2, 0.2, 0.2, 1, 1], [0.2, 0.2, 0.2, 1, 0]])
    return make_worlds("ring:3-4"), Walks(obs, action, node, np.zeros(obs.shape, bool), np.array([0, 1])), expected


def test_ideal_observer_on_a_hand_made_walk_and_its_per_action_scores():
    worlds, walks, expected = hand_made_ring_walks()
    ideal = ideal_observer(worlds, walks.obs, walks.action, 5)
    np.testing.assert_allclose(ideal.correct, expected, atol=1e-12)
    np.testing.assert_allclose(ideal.correct, brute_force_ideal(worlds, walks.obs, walks.action, 5), atol=1e-12)
    scores = score_walks(walks, 2, 5, action_names=worlds[0].action_names, ideal=ideal)
    assert scores["link_inference_steps"] == 3 and scores["ideal_observer_acc"] == pytest.approx(2 / 3)
    assert scores["ideal_observer_by_action"] == {"ccw": {"acc": 0.5, "steps": 2}, "cw": {"acc": 1.0, "steps": 1}}
    assert scores["link_inference_by_action"] == {"ccw": {"acc": 0.0, "steps": 2}, "cw": {"acc": 0.0, "steps": 1}}
    assert scores["ideal_observer_hypotheses"] == 7 and "ideal_observer_note" not in scores


def test_walks_in_chunks_match_and_a_family_too_big_is_skipped():
    worlds, batch = _walks("periodic-square:3-4", 5, 60, 4, seed=2)
    together = ideal_observer(worlds, batch.obs, batch.action, 4)
    one_at_a_time = ideal_observer(worlds, batch.obs, batch.action, 4, memory_budget=1)
    assert together.walks_per_chunk == 5 and one_at_a_time.walks_per_chunk == 1
    np.testing.assert_array_equal(together.correct, one_at_a_time.correct)
    skipped = ideal_observer(worlds, batch.obs, batch.action, 4, max_walk_bytes=walk_bytes(worlds, 4) - 1)
    assert skipped.correct is None and "skipped" in skipped.note and "25 (world, start) hypotheses" in skipped.note
    walks = Walks(batch.obs, batch.action, batch.node, np.zeros(batch.obs.shape, bool), batch.world)
    scores = score_walks(walks, 4, 4, ideal=skipped)
    assert scores["ideal_observer_acc"] is None and scores["ideal_observer_note"] == skipped.note


def test_hypotheses_prior_and_bad_walks():
    world, start, log_prior = hypotheses(make_worlds("ring:3-4"))
    np.testing.assert_array_equal(world, [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(start, [0, 1, 2, 0, 1, 2, 3])
    np.testing.assert_allclose(np.exp(log_prior), [1 / 6] * 3 + [1 / 8] * 4)
    worlds = make_worlds("ring:3")
    with pytest.raises(ValueError, match="impossible"):  # 3 steps around a 3-ring must meet object 0 again
        ideal_observer(worlds, np.array([[0, 1, 2, 1]]), np.array([[-1, 0, 0, 0]]), 3)
    with pytest.raises(ValueError, match="object ids"):
        ideal_observer(worlds, np.array([[0, 3]]), np.array([[-1, 0]]), 3)
    with pytest.raises(ValueError, match="one walk per row"):
        ideal_observer(worlds, np.array([[0, 1]]), np.array([[-1, -1]]), 3)
