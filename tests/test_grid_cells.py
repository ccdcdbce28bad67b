"""The grid-cell constraints: a commuting (actionable) position code, MEC cells with an activity
budget and non-negative firing, and the analysis of their modules."""
import numpy as np
import pytest
import torch

from analysis.pipeline import _module_summary
from analysis.plots import plot_cell_summary
from envs import make_worlds
from tem.cells import CellReadout
from tem.model import Task
from tem.position import PositionCode
from tem.temt import TEMt, TEMtConfig
from tests.tiny import train_tiny

HEX_STEPS = make_worlds("hex:5")[0].displacements


def _stepwise(code: PositionCode, action: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The code step by step through the explicit matrices (the reference for the fused rotation)."""
    matrices, out = code.matrices(), []
    for step in (action + 1).unbind(1):
        previous = torch.einsum("bij,bj->bi", matrices[step], previous)
        out.append(previous)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("displacements", [None, HEX_STEPS])
def test_commuting_code_equals_its_matrices_and_actions_commute(displacements):
    torch.manual_seed(0)
    n_actions = 6 if displacements is not None else 4
    inverse = (3, 4, 5, 0, 1, 2) if displacements is not None else (2, 3, 0, 1)
    code = PositionCode(n_actions, (6, 4), "commuting", inverse_actions=inverse, displacements=displacements)
    action = torch.randint(-1, n_actions, (3, 9))
    previous = torch.randn(3, 10)
    torch.testing.assert_close(code(action, previous), _stepwise(code, action, previous), atol=1e-5, rtol=1e-5)
    m = code.matrices()
    torch.testing.assert_close(m[1] @ m[2], m[2] @ m[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(m[1] @ m[1 + inverse[0]], torch.eye(10), atol=1e-6, rtol=0)


def test_lattice_code_closes_hex_triangles_and_rejects_odd_modules():
    """E, then NW, then SW (three steps at 120 degrees) returns home on a hex lattice: the
    code built from the world's displacements must return exactly, for any learned frequency."""
    code = PositionCode(6, (8,), "commuting", inverse_actions=(3, 4, 5, 0, 1, 2), displacements=HEX_STEPS)
    with torch.no_grad():
        code.frequency.normal_()
    start = torch.randn(1, 8)
    loop = code(torch.tensor([[0, 2, 4]]), start)
    torch.testing.assert_close(loop[:, -1], start, atol=1e-5, rtol=0)
    assert (loop[:, 0] - start).abs().max() > 1e-2  # a single step does move the code
    with pytest.raises(ValueError, match="even module sizes"):
        PositionCode(4, (5,), "commuting")


def test_module_scale_and_ratio_set_initial_wavelengths():
    code = PositionCode(6, (4, 4, 2), "commuting", displacements=HEX_STEPS, module_scale=5.0, module_ratio=2.0)
    wavelength = 2 * torch.pi / code.frequencies().norm(dim=1)
    torch.testing.assert_close(wavelength, torch.tensor([5.0, 5.0, 10.0, 10.0, 20.0]))
    with pytest.raises(ValueError, match="module_scale"):
        PositionCode(6, (4,), "commuting", module_ratio=0.0)


def test_fixed_wavelengths_learn_directions_only():
    code = PositionCode(6, (4, 2), "commuting", displacements=HEX_STEPS, module_scale=5.0, fixed_wavelengths=True)
    loss = code(torch.tensor([[0, 1, 2]]), torch.randn(1, 6)).pow(2).sum()
    loss.backward()
    assert [name for name, _ in code.named_parameters()] == ["direction", "initial"]
    assert code.direction.grad.abs().sum() > 0
    with torch.no_grad():
        code.direction.add_(1.0)
    wavelength = 2 * torch.pi / code.frequencies().norm(dim=1)
    torch.testing.assert_close(wavelength, torch.tensor([5.0, 5.0, 7.5]))
    for kwargs in (dict(action_matrices="orthogonal", displacements=HEX_STEPS), dict(action_matrices="commuting")):
        with pytest.raises(ValueError, match="fixed_wavelengths"):
            PositionCode(6, (4,), fixed_wavelengths=True, **kwargs)


def test_world_displacements():
    assert np.allclose(make_worlds("square:4")[0].displacements, [[0, 1], [1, 0], [0, -1], [-1, 0]])
    assert np.allclose(make_worlds("periodic-square:4")[0].displacements[1], [1, 0])  # wrap edges ignored
    assert np.allclose(np.linalg.norm(HEX_STEPS, axis=1), 1)
    assert make_worlds("ring:6")[0].displacements is None


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_cell_readout_budget_modules_and_non_negativity(activation):
    torch.manual_seed(0)
    readout = CellReadout((4, 6), cells_per_module=5, activation=activation)
    with torch.no_grad():
        readout.bias.fill_(0.1)  # some firing below zero before the rectifier
    code = torch.randn(7, 10, requires_grad=True)
    cells = readout(code)
    assert cells.shape == (7, 10)
    energy = cells.view(7, 2, 5).pow(2).mean(-1)  # every module at every position: mean square 1
    active = cells.view(7, 2, 5).abs().amax(-1) > 0  # (a rectified module may fall silent)
    assert active.float().mean() > 0.5
    torch.testing.assert_close(energy[active], torch.ones_like(energy[active]), atol=5e-3, rtol=0)  # up to eps
    # Cells of module 0 read only the code's first 4 units.
    cells[:, :5].sum().backward()
    assert code.grad[:, 4:].abs().max() == 0 and code.grad[:, :4].abs().max() > 0
    if activation == "relu":
        assert (cells >= 0).all()
    else:
        assert (cells < 0).any() and CellReadout.negativity(cells).item() == pytest.approx(
            (cells.clamp(max=0) ** 2).mean().item())


def test_grid_cell_model_trains_with_penalty_and_reports_cells():
    torch.manual_seed(0)
    worlds = make_worlds("hex:4-5")
    config = TEMtConfig(module_sizes=(6, 6), action_matrices="commuting", cells_per_module=8, nonneg_weight=1.0,
                        sensory_dim=16, key_dim=16)
    model = TEMt(config, Task.from_world(worlds[0], n_objects=10))
    assert model.task.displacements == tuple(map(tuple, HEX_STEPS))  # the lattice reaches the code
    assert model.mec_modules() == (8, 8)
    obs, action = torch.randint(0, 10, (2, 6)), torch.randint(-1, 6, (2, 6))
    out = model(obs, action, torch.ones(2, dtype=torch.bool), model.initial_state(2))
    assert out.mec.shape == (2, 6, 16)  # the MEC units are the cells
    losses = model.losses(out, obs, 0)
    assert losses["total"].item() == pytest.approx(losses["cross_entropy"].item() + losses["negativity"].item())
    before = model.cells.weight.detach().clone()
    train_tiny(model, worlds, steps=3, lr=1e-2, batch=4, window=6, walk_length=12)
    assert not torch.equal(before, model.cells.weight)


def test_module_summary_counts_distinct_spacings():
    def unit(s60, spacing, is_grid=True):
        return {"s60": s60, "spacing": spacing, "is_grid": is_grid}
    modules = np.repeat([0, 1, 2], 4)
    units = ([unit(0.8, 5.0)] * 3 + [unit(0.2, 5.0)]  # module 0: three grid cells, spacing 5
             + [unit(0.8, 5.5)] * 4  # module 1: spacing 5.5, within 20% of module 0: not distinct
             + [unit(0.8, 9.0, is_grid=False)] * 2 + [unit(0.5, 9.0)] * 2)  # module 2: only two grid cells
    summary = _module_summary(units, modules)
    assert [m["grid_cells"] for m in summary["mec_modules"]] == [3, 4, 2]
    assert summary["mec_distinct_spacing_modules"] == 1
    assert summary["mec_fraction_grid_cells"] == pytest.approx(9 / 12)
    units[8:] = [unit(0.8, 9.0)] * 4
    assert _module_summary(units, modules)["mec_distinct_spacing_modules"] == 2


def test_cell_summary_plot_has_maps_autocorrelograms_and_histogram():
    world = make_worlds("hex:5")[0]
    maps = np.random.default_rng(0).random((3, world.n_nodes))
    fig, axes = plot_cell_summary(maps, [np.eye(9)] * 3, world, [4.0, 5.0, 7.5], [0, 0, 1], titles=["a", "b", "c"])
    assert len(axes) == 3  # a grid world: the maps' row and the autocorrelograms' row are one image each
    assert len(axes[0].images) == 1 and len(axes[1].images) == 1
    assert [t.get_text() for t in axes[0].texts] == ["a", "b", "c"]
    assert len(axes[-1].patches) > 0  # histogram bars drawn
    ring = make_worlds("ring:6")[0]  # elsewhere: one axes per panel
    fig, axes = plot_cell_summary(np.random.default_rng(1).random((3, 6)), [np.eye(5)] * 3, ring, [1.0, 2.0, 3.0],
                                  titles=["a", "b", "c"])
    assert len(axes) == 7 and axes[0].get_title() == "a" and len(axes[-1].patches) > 0
