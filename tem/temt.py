"""TEM-t (Whittington, Warren & Behrens, ICLR 2022): path integration + an attention hippocampus."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from tem.cells import CellReadout
from tem.inference import PositionInference
from tem.loop_closure import LoopClosure, rotate
from tem.memory import AttentionConfig, MemoryConfig, MemoryState, SDMConfig, make_memory
from tem.model import Model, ModelOutput, Task
from tem.position import PositionCode
from tem.sensory import SensoryCode


INFERENCE_MODES = ("auto", "on", "off")
LOOP_CLOSURE_MODES = ("auto", "eval", "on", "off")


@dataclass(frozen=True)
class TEMtConfig:
    """TEM-t: path integration with learned action matrices, an attention or SDM hippocampus."""

    kind: ClassVar[str] = "temt"
    module_sizes: tuple[int, ...] = (32,)
    """position-code module sizes (block-diagonal action matrices), comma-separated."""
    action_matrices: str = "auto"
    """auto | free | orthogonal | orthogonal_tied | commuting (actions rotate fixed planes: an actionable code); auto: commuting on lattices (the world's moves have inverses, commute and are fixed steps on the plane: grids, tori, lines, diagonal moves), orthogonal_tied where they have inverses otherwise (rings, 3D lattices, other groups), else free with a layer norm (many-to-one moves, e.g. a tree's parent)."""
    module_scale: float = 4.0
    """commuting: initial wavelength, in steps, of the first module's planes."""
    module_ratio: float = 1.5
    """commuting: ratio of successive modules' initial wavelengths."""
    fixed_wavelengths: bool = False
    """commuting on lattice worlds: keep the initial wavelengths, learn only each plane's direction."""
    norm: str = "none"
    """position-code normalisation: none | layernorm | l2."""
    cells_per_module: int = 0
    """MEC cells read out linearly per position-code module (0: the code itself); keys come from the cells."""
    cell_activation: str = "linear"
    """MEC cell readout: linear (actionable) | relu."""
    cell_budget: bool = True
    """fixed total activity of each module's cells at every position."""
    nonneg_weight: float = 0.0
    """weight of the penalty on negative MEC-cell firing (mean squared negative part)."""
    sensory_dim: int = 32
    """sensory (LEC) embedding and memory value size."""
    key_dim: int = 32
    """memory key and query size."""
    tie_query_key: bool = True
    """one projection for queries and keys (q_t = k_t for the same position code)."""
    inference: str = "auto"
    """position inference: after each observation, correct the code with the codes stored where the same sensation was seen. on | off | auto: on where moves merge nodes (a tree's parent), whose walks reveal where they started only through the objects that recur; off on groups (grids, tori, rings, lines), where it costs throughput and, on bounded grids, accuracy."""
    loop_closure: str = "auto"
    """loop closure (commuting codes): find, within a walk, the translations that map the world onto itself (a torus's sides) from objects that recur at a fixed displacement, and snap the code back onto the places it stored. on (training too) | eval (evaluation and analysis only: it has no parameters, and while training it costs ~10x the step for no gain) | off | auto: eval wherever the code is commuting phases (lattice worlds; a bounded grid never accepts a translation), else off."""
    inference_beta: float = 8.0
    """position inference: initial inverse temperature of the sensory match (learned)."""
    backtrack: bool = True
    """position inference: a move that undoes the last undoable move of the walk (the world's declared inverse, e.g. a tree's parent after a child) returns exactly to the code held before that move, instead of applying its matrix (a parent's matrix cannot return to every child's parent)."""
    memory: MemoryConfig = AttentionConfig()
    """the hippocampal memory (--memory attention | sdm)."""

    BEFORE_FIELD: ClassVar[dict] = {"backtrack": False}
    """what a config saved before a field existed means by it (its behaviour then)."""

    def __post_init__(self):
        if isinstance(self.inference, bool):  # configs written before "auto": true / false
            object.__setattr__(self, "inference", "on" if self.inference else "off")
        if self.loop_closure not in LOOP_CLOSURE_MODES:
            raise ValueError(f"loop_closure must be one of {', '.join(LOOP_CLOSURE_MODES)}, "
                             f"got {self.loop_closure!r}")
        if self.inference not in INFERENCE_MODES:
            raise ValueError(f"inference must be one of {', '.join(INFERENCE_MODES)}, got {self.inference!r}")
        if not self.module_sizes or min(self.module_sizes) < 1:
            raise ValueError(f"module_sizes must be positive, got {self.module_sizes}")
        for name in ("sensory_dim", "key_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.cells_per_module < 0 or self.nonneg_weight < 0:
            raise ValueError(f"cells_per_module and nonneg_weight must be >= 0, got {self.cells_per_module}, "
                             f"{self.nonneg_weight}")
        if not isinstance(self.memory, (AttentionConfig, SDMConfig)):
            raise ValueError(f"TEM-t reads an attention or SDM memory, got {self.memory!r}")


def transitions_for(config: TEMtConfig, task: Task) -> tuple[str, str]:
    """``(action_matrices, norm)`` of the position code: ``config``'s, with ``"auto"`` chosen from what
    the task declares: whether every moving action has an inverse (a group, which orthogonal matrices
    tied to their inverses represent without drift; else free matrices, which can merge nodes) and
    whether it is a lattice whose moves commute (translations by fixed steps on the plane, which
    rotations of fixed planes by ``step . frequency`` represent exactly: no drift around loops, and
    codes that stay distinct far beyond the training worlds' size)."""
    if config.action_matrices != "auto":
        return config.action_matrices, config.norm
    if is_group(task):
        lattice = task.commuting and task.displacements and all(s % 2 == 0 for s in config.module_sizes)
        return ("commuting" if lattice else "orthogonal_tied"), config.norm
    return "free", "layernorm" if config.norm == "none" else config.norm


def is_group(task: Task) -> bool:
    """Whether every moving action of ``task`` has an inverse (no move merges two nodes)."""
    inverse = task.inverse_actions or (-1,) * task.n_actions
    return all(a in task.stay_actions or (inverse[a] >= 0 and inverse[inverse[a]] == a) for a in range(task.n_actions))


def inference_for(config: TEMtConfig, task: Task) -> bool:
    """Whether the model infers its position from memory: ``config.inference``, with ``"auto"`` on
    exactly where the task's moves are not a group (see :func:`is_group`)."""
    return config.inference == "on" or (config.inference == "auto" and not is_group(task))


def loop_closure_for(config: TEMtConfig, task: Task) -> str:
    """When the model closes loops (:mod:`tem.loop_closure`): ``"on"`` (always), ``"eval"`` (when not
    training) or ``"off"``: ``config.loop_closure``, with ``"auto"`` ``"eval"`` wherever the code is a
    set of phases (commuting matrices, no normalisation, no position inference) and ``"off"``
    elsewhere. ``"on"`` or ``"eval"`` where the code is not phases is an error."""
    matrices, norm = transitions_for(config, task)
    phases = matrices == "commuting" and norm == "none" and not inference_for(config, task)
    if config.loop_closure in ("on", "eval") and not phases:
        raise ValueError(f"loop_closure needs a commuting code without normalisation or position inference, "
                         f"got matrices {matrices!r}, norm {norm!r}, inference {config.inference!r}")
    if config.loop_closure == "auto":
        return "eval" if phases else "off"
    return config.loop_closure


class TEMt(Model):
    """Predicts the object at each step from the position code and the memories of the walk.

    At step ``t``: ``e_t = f(W_{a_t} e_{t-1})``, query ``q_t = W_q e_t`` reads the memories of steps
    ``< t``, logits come from the read, then ``(k_t = W_k e_t, v_t = W_v x_t)`` is written.
    """

    kind = "temt"

    def __init__(self, config: TEMtConfig, task: Task):
        super().__init__(config, task)
        matrices, norm = transitions_for(config, task)
        self.position = PositionCode(task.n_actions, config.module_sizes, matrices,
                                     task.inverse_actions, task.stay_actions, norm,
                                     task.displacements or None, config.module_scale, config.module_ratio,
                                     config.fixed_wavelengths)
        self.sensory = SensoryCode(task.n_objects, config.sensory_dim)
        d = self.position.dim
        self.cells = None
        if config.cells_per_module:
            self.cells = CellReadout(config.module_sizes, config.cells_per_module, config.cell_activation,
                                     config.cell_budget)
            d = self.cells.n_cells
        self.key = nn.Linear(d, config.key_dim, bias=False)
        self.query = self.key if config.tie_query_key else nn.Linear(d, config.key_dim, bias=False)
        self.value = nn.Linear(config.sensory_dim, config.sensory_dim, bias=False)
        self.memory = make_memory(config.memory, config.key_dim, config.sensory_dim)
        self.readout = nn.Linear(config.sensory_dim, task.n_objects)
        self.inference = (PositionInference(beta_sense=config.inference_beta, inverse_actions=task.inverse_actions,
                                            stay_actions=task.stay_actions,
                                            backtrack=config.backtrack and bool(task.inverse_actions))
                          if inference_for(config, task) else None)
        self.closing = loop_closure_for(config, task)
        self.loop_closure = LoopClosure(task.n_objects) if self.closing != "off" else None

    @property
    def hippocampal_units(self) -> str:
        """What the memory's units are: ``"step"`` (attention) or ``"neuron"`` (SDM)."""
        return self.memory.units

    @property
    def memory_kind(self) -> str:
        return self.config.memory.kind

    def mec_modules(self) -> tuple[int, ...]:
        if self.cells is not None:
            return (self.config.cells_per_module,) * len(self.config.module_sizes)
        return tuple(self.config.module_sizes)

    def initial_state(self, batch_size: int, device="cpu") -> dict:
        state = {"position": self.position.initial_code(batch_size).detach().to(device),
                 "memory": self.memory.initial_state(batch_size, device)}
        if self.inference is not None:
            state["inference"] = self.inference.initial_state(batch_size, self.config.sensory_dim, self.position.dim,
                                                              device)
        if self.loop_closure is not None:
            state["loop_closure"] = self.loop_closure.initial_state(batch_size, self.position.dim // 2, device)
        return state

    def losses(self, output: ModelOutput, obs: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Cross-entropy of the predictions (and the weighted negativity penalty of the MEC cells)."""
        cross_entropy = F.cross_entropy(output.logits.flatten(0, 1), obs.flatten())
        losses = {"total": cross_entropy, "cross_entropy": cross_entropy}
        if self.config.nonneg_weight:
            losses["negativity"] = CellReadout.negativity(output.mec)
            losses["total"] = losses["total"] + self.config.nonneg_weight * losses["negativity"]
        return losses

    def track(self, obs, action, new_world, state, activity_units=None) -> ModelOutput:
        """:meth:`tem.model.Model.track`: the cells never depend on the memory's read, so the read
        and the predictions are skipped (``logits`` None where the memory skips its read)."""
        return self(obs, action, new_world, state, return_activity=True, predict=False,
                    activity_units=activity_units)

    def forward(self, obs: torch.Tensor, action: torch.Tensor, new_world: torch.Tensor, state: dict, *,
                step: int | None = None, return_activity: bool = False, predict: bool = True,
                activity_units: torch.Tensor | None = None) -> ModelOutput:
        """Run one window (:meth:`tem.model.Model.forward`; TEM-t follows no schedule, ``step`` is
        unused). ``predict=False`` and ``activity_units``: see :meth:`track`."""
        B = obs.shape[0]
        previous = torch.where(new_world[:, None], self.position.initial_code(B), state["position"])
        memory_state: MemoryState = self.memory.reset(state["memory"], new_world)
        value = self.value(self.sensory(obs))  # (B, T, sensory_dim)
        state_after, aux = {}, {}
        with torch.autocast(obs.device.type, enabled=False):  # the path integration stays float32 under --amp
            if self.inference is None:
                position = self.position(action, previous)  # (B, T, d)
                if self.loop_closure is not None:  # snaps: constant rotations of the differentiable path
                    closing = self.loop_closure.reset(state["loop_closure"], new_world)
                    if self.closing == "on" or not self.training:
                        rotation, closing = self.loop_closure(position.detach(), obs, closing)
                        position = rotate(position, rotation)
                    state_after["loop_closure"] = closing
            else:  # predict from the path-integrated code, store (and carry) the corrected one
                inferred = self.inference.reset(state["inference"], new_world)
                path, position, aux["gate"], state_after["inference"] = self.inference(
                    self.position, action, previous, value.float(), inferred)
        if self.inference is None:
            cells = position if self.cells is None else self.cells(position)  # (B, T, n_mec)
            query, key = self.query(cells), self.key(cells)
        else:
            cells = position if self.cells is None else self.cells(position)
            query = self.query(path if self.cells is None else self.cells(path))
            key = self.key(cells)
        out = self.memory(query, key, value, memory_state, return_activity,
                          query_is_key=self.inference is None and self.config.tie_query_key,
                          read=predict, activity_units=activity_units)
        logits = None if out.read is None else self.readout(out.read)  # (B, T, n_objects)
        return ModelOutput(logits, cells, out.activity, out.units,
                           {"position": position[:, -1], "memory": out.state, **state_after}, aux=aux)
