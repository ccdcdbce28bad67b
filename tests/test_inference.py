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
