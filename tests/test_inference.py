"""Position inference (tem.inference): a displaced code snaps back to the code stored with the same
sensation, and stays where it is for a new one (causality with inference on: tests/test_models.py)."""
import torch
import torch.nn.functional as F

from tem.inference import PositionInference
from tem.position import PositionCode


def stored_state(sense, code):
    return {"sense": F.normalize(sense, dim=-1)[None], "code": code[None],
            "valid": torch.ones(1, len(code), dtype=torch.bool)}


def test_a_displaced_code_snaps_back_to_the_stored_one_for_the_same_sensation():
    torch.manual_seed(0)
    position = PositionCode(4, (8,), action_matrices="orthogonal")
    inference = PositionInference(beta_sense=50.0, beta_code=1.0)
    with torch.no_grad():  # a confident gate: sensory agreement 1 -> g = sigmoid(20 - 5)
        inference.gate_weight.copy_(torch.tensor([20.0, 0.0, 0.0]))
        inference.gate_bias.fill_(-5.0)
    senses, codes = torch.eye(6)[:3], torch.randn(3, 8)
    state = stored_state(senses, codes)
    displaced = codes[1] + 0.3 * torch.randn(8)
    displaced = displaced * codes[1].norm() / displaced.norm()
    no_action = torch.full((1, 1), -1)  # the path keeps the code: only inference moves it
    path, corrected, gate, _ = inference(position, no_action, displaced[None], senses[None, 1:2], state)
    torch.testing.assert_close(path[0, 0], displaced)
    assert gate.item() > 0.99
    torch.testing.assert_close(corrected[0, 0], codes[1], atol=1e-3, rtol=1e-3)
    _, kept, gate, _ = inference(position, no_action, displaced[None], torch.eye(6)[None, 5:6], state)
    assert gate.item() < 0.01  # a sensation never seen: the path stands
    torch.testing.assert_close(kept[0, 0], displaced, atol=0.05, rtol=0)


def test_inference_stores_corrected_codes_and_forgets_reset_slots():
    position = PositionCode(4, (8,), action_matrices="orthogonal")
    inference = PositionInference()
    state = inference.initial_state(2, 5, 8)
    action = torch.randint(0, 4, (2, 6))
    _, code, _, state = inference(position, action, torch.randn(2, 8), torch.randn(2, 6, 5), state)
    assert state["code"].shape == (2, 6, 8) and torch.equal(state["code"], code)
    reset = inference.reset(state, torch.tensor([True, False]))
    assert not reset["valid"][0].any() and reset["valid"][1].all()
    _, _, gate, _ = inference(position, action[:, :1], torch.randn(2, 8), torch.randn(2, 1, 5), reset)
    assert gate[0, 0] == 0 and gate[1, 0] > 0  # a slot with nothing stored keeps its path


def test_checkpoints_from_before_the_known_place_feature_load_with_zero_weight_on_it():
    old_state = {**PositionInference().state_dict(), "gate_weight": torch.tensor([5.0, 0.7])}
    loaded = PositionInference()
    loaded.load_state_dict(old_state)
    torch.testing.assert_close(loaded.gate_weight.detach(), torch.tensor([5.0, 0.7, 0.0]))


def test_the_gate_sees_whether_the_path_code_is_at_a_known_place():
    """With weight only on the known-place feature, the gate opens where the path-integrated code
    is a stored code and stays shut where it is far from every stored code, whatever is seen."""
    torch.manual_seed(0)
    position = PositionCode(4, (8,), action_matrices="orthogonal")
    inference = PositionInference()
    with torch.no_grad():
        inference.gate_weight.copy_(torch.tensor([0.0, 0.0, 20.0]))
        inference.gate_bias.fill_(-10.0)
    codes = torch.linalg.qr(torch.randn(8, 8))[0][:3]  # orthonormal stored codes
    state = stored_state(torch.eye(6)[:3], codes)
    no_action, unseen = torch.full((1, 1), -1), torch.eye(6)[None, 5:6]
    _, _, gate, _ = inference(position, no_action, codes[2][None], unseen, state)
    assert gate.item() > 0.99
    elsewhere = torch.randn(8)
    elsewhere = elsewhere - codes.T @ (codes @ elsewhere)  # orthogonal to every stored code
    _, _, gate, _ = inference(position, no_action, elsewhere[None] / elsewhere.norm(), unseen, state)
    assert gate.item() < 0.01


def test_backtracking_returns_exactly_along_the_trail_of_undoable_moves():
    """Actions 0 = parent (nothing undoes it), 1-2 = children (parent undoes them), 3 = stay. A parent
    after a child returns to the code before the child, however deep; a parent with nothing on the
    trail, or any move after a clear, uses the matrices; a stay leaves the trail alone; a reset slot
    starts an empty trail."""
    torch.manual_seed(0)
    position = PositionCode(4, (8,), "free", stay_actions=(3,))
    inference = PositionInference(inverse_actions=(-1, 0, 0, -1), stay_actions=(3,), backtrack=True)
    state = inference.initial_state(2, 5, 8)
    action = torch.tensor([[1, 2, 3, 0, 0, 0, 1], [0, 1, 0, 2, 2, 0, 0]])
    start = torch.randn(2, 8)
    with torch.no_grad():
        path, code, _, after = inference(position, action, start, torch.randn(2, 7, 5), state)
        plain = position.step(action[:, 3], code[:, 2], position.operators())
    assert torch.equal(path[0, 3], code[0, 0]) and torch.equal(path[0, 4], start[0])  # two children undone
    assert not torch.equal(path[0, 5], start[0]) and torch.allclose(path[0, 5:6], position.step(
        action[0:1, 5], code[0:1, 4], position.operators()))  # nothing left on the trail: the parent matrix
    assert torch.equal(path[1, 2], code[1, 0]) and torch.equal(path[1, 5], code[1, 3])
    assert torch.equal(path[1, 6], code[1, 2])  # two children deep, two parents back
    assert torch.equal(after["trail_depth"], torch.tensor([1, 0]))
    assert torch.equal(after["trail_code"][0, 0], code[0, 5]) and after["trail_action"][0, 0] == 1
    assert not torch.equal(plain[0], path[0, 3])  # the matrices would not have returned
    assert PositionInference.reset(after, torch.tensor([True, False]))["trail_depth"].tolist() == [0, 0]
    older = {key: value for key, value in state.items() if not key.startswith("trail")}  # a state from before
    with torch.no_grad():
        path_older, *_ = inference(position, action, start, torch.randn(2, 7, 5), older)
    assert torch.equal(path_older[0, 4], start[0])
    without = PositionInference(inverse_actions=(-1, 0, 0, -1), stay_actions=(3,), backtrack=False)
    with torch.no_grad():
        path_without, *_ = without(position, action, start, torch.randn(2, 7, 5), state)
    assert not torch.equal(path_without[0, 4], start[0])


def test_backtracking_needs_the_worlds_inverses_and_old_configs_keep_it_off():
    import pytest

    from tem.configuration import from_dict, to_dict
    from tem.temt import TEMtConfig

    with pytest.raises(ValueError, match="inverse_actions"):
        PositionInference(backtrack=True)
    saved = to_dict(TEMtConfig())
    assert saved["backtrack"] is True and from_dict(TEMtConfig, saved).backtrack is True
    del saved["backtrack"]  # a config written before the field existed
    assert from_dict(TEMtConfig, saved).backtrack is False


def test_a_move_that_cannot_be_undone_clears_the_trail():
    torch.manual_seed(1)
    position = PositionCode(5, (8,), "free")
    inference = PositionInference(inverse_actions=(-1, 0, 0, -1, -1), backtrack=True)  # 4: a jump
    action = torch.tensor([[1, 4, 0], [1, 3, 0]])  # 3 neither: it also clears
    start = torch.randn(2, 8)
    with torch.no_grad():
        path, code, _, after = inference(position, action, start, torch.randn(2, 3, 5),
                                         inference.initial_state(2, 5, 8))
    assert not torch.equal(path[0, 2], start[0]) and not torch.equal(path[1, 2], start[1])
    assert after["trail_depth"].tolist() == [0, 0]


def test_a_full_trail_starts_afresh_and_never_returns_a_wrong_code():
    torch.manual_seed(2)
    position = PositionCode(2, (8,), "free")
    inference = PositionInference(inverse_actions=(-1, 0), backtrack=True)  # 1: down, 0: up
    K = PositionInference.TRAIL
    action = torch.tensor([[1] * (K + 2) + [0] * 3])  # two moves past a full trail, then three up
    start = torch.randn(1, 8)
    with torch.no_grad():
        path, code, _, after = inference(position, action, start, torch.randn(1, K + 5, 5),
                                         inference.initial_state(1, 5, 8))
    n = K + 2
    assert torch.equal(path[0, n], code[0, n - 2]) and torch.equal(path[0, n + 1], code[0, n - 3])
    assert not torch.equal(path[0, n + 2], code[0, n - 4])  # that move was dropped: the matrix
    assert after["trail_depth"].tolist() == [0]
