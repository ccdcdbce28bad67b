"""The model contract: what every cognitive-map model of the package implements.

A model walks worlds one truncated-BPTT window at a time. It is told the task (:class:`Task`: how
many objects, which actions) when it is built, and for each window it gets the objects seen, the
actions taken and which batch slots start a new walk, and returns one :class:`ModelOutput`. The
state carried between windows is a nested dict of tensors. Training, evaluation and analysis use
models only through this contract.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

UNIT_KINDS = ("step", "neuron")
"""What a hippocampal unit is: the memory written at one step of the walk (a memory that grows
with the walk), or one neuron of a fixed population."""


def map_state(fn, state):
    """Apply ``fn`` to every tensor of a (nested dict / tuple / list) model state."""
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, dict):
        return {key: map_state(fn, value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(map_state(fn, value) for value in state)
    return state


@dataclass(frozen=True)
class Task:
    """What a model knows of the worlds it walks: the object ids and the action structure.

    Read off a world with :meth:`from_world`; stored in checkpoints so that a model can be rebuilt
    without the worlds.
    """

    n_objects: int
    """number of object ids the model predicts."""
    action_names: tuple[str, ...]
    """one name per action id."""
    inverse_actions: tuple[int, ...] = ()
    """inverse of each action (-1: none)."""
    stay_actions: tuple[int, ...] = ()
    """actions that never move the agent."""
    displacements: tuple[tuple[float, float], ...] = ()
    """step of each action on the plane (lattice worlds), empty for graphs."""
    commuting: bool = False
    """every two moves commute wherever both orders can be taken (translations: grids, tori, lines)."""

    def __post_init__(self):
        if self.n_objects < 1 or not self.action_names:
            raise ValueError(f"a task needs n_objects >= 1 and at least one action, got {self.n_objects}, "
                             f"{self.action_names}")
        for name in ("inverse_actions", "displacements"):
            value = getattr(self, name)
            if value and len(value) != self.n_actions:
                raise ValueError(f"{name} needs one entry per action ({self.n_actions}), got {len(value)}")

    @property
    def n_actions(self) -> int:
        return len(self.action_names)

    @classmethod
    def from_world(cls, world, n_objects: int) -> "Task":
        """The task of walking ``world`` (an :class:`envs.World`) with ``n_objects`` object ids."""
        steps = world.displacements
        return cls(n_objects=int(n_objects), action_names=tuple(world.action_names),
                   inverse_actions=tuple(int(a) for a in world.inverse_actions),
                   stay_actions=tuple(world.stay_actions),
                   displacements=() if steps is None else tuple(tuple(float(x) for x in row) for row in steps),
                   commuting=moves_commute(world.transitions))


def moves_commute(transitions) -> bool:
    """Whether ``a`` then ``b`` reaches the same node as ``b`` then ``a`` from every node where both
    orders can be taken, for every two actions; ``transitions (N, A)`` int, -1 where a move is not
    possible."""
    transitions = np.asarray(transitions)
    n_actions = transitions.shape[1]
    for a in range(n_actions):
        for b in range(a + 1, n_actions):
            first_a, first_b = transitions[:, a], transitions[:, b]
            both = (first_a >= 0) & (first_b >= 0)
            ab = transitions[first_a[both], b]
            ba = transitions[first_b[both], a]
            takeable = (ab >= 0) & (ba >= 0)
            if not np.array_equal(ab[takeable], ba[takeable]):
                return False
    return True


class ModelOutput(NamedTuple):
    """What a model returns for a window of ``T`` steps of ``B`` walks.

    ``logits (B, T, n_objects)``: the prediction of the object at each step, made before seeing it
    (None from :meth:`Model.track` when the model skipped it).
    ``mec (B, T, n_mec)``: the MEC (position) cells. ``memory_activity (B, T, n_units)``: the
    hippocampal units' activity, and ``memory_units (B, n_units)`` int64 which unit each column is
    (the walk step that wrote it, or the neuron index; -1 for an empty column); both None unless
    ``return_activity``. ``state``: the state after the window. ``aux``: named auxiliary outputs
    the model's losses read.
    """

    logits: torch.Tensor | None
    mec: torch.Tensor
    memory_activity: torch.Tensor | None
    memory_units: torch.Tensor | None
    state: dict
    aux: dict[str, Any]


class Model(nn.Module, ABC):
    """Base class of every model: TEM-t (:class:`tem.TEMt`) and TEM (:class:`tem.TEM`).

    ``trained_steps`` (a buffer, saved with the weights) is the number of gradient steps the model
    has been trained for; the trainer writes it. Models whose computation follows a schedule of
    the training step (TEM's memory ramps) use it when ``forward`` is given no ``step``.
    """

    kind: ClassVar[str]
    """name of the model on the command line and in checkpoints."""
    hippocampal_units: ClassVar[str]
    """what the hippocampal units are: one of :data:`UNIT_KINDS`."""
    memory_kind: ClassVar[str]
    """name of the hippocampal memory (``--memory``)."""

    def __init__(self, config, task: Task):
        super().__init__()
        self.config, self.task = config, task
        self.register_buffer("trained_steps", torch.zeros((), dtype=torch.long))

    @abstractmethod
    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> dict:
        """State of ``batch_size`` slots that all start a new walk."""

    @abstractmethod
    def forward(self, obs: torch.Tensor, action: torch.Tensor, new_world: torch.Tensor, state: dict, *,
                step: int | None = None, return_activity: bool = False) -> ModelOutput:
        """Run one window.

        Args:
            obs: ``(B, T)`` int64 object ids. action: ``(B, T)`` int64, -1 at a walk's first step.
            new_world: ``(B,)`` bool, slots whose walk starts at this window (their state is reset).
            state: from :meth:`initial_state` or the previous window's output.
            step: the gradient step (for schedules); None: ``trained_steps``.
            return_activity: also return the hippocampal units' activity (for analysis).
        """

    def track(self, obs: torch.Tensor, action: torch.Tensor, new_world: torch.Tensor, state: dict,
              activity_units: torch.Tensor | None = None) -> ModelOutput:
        """Run one window for an analysis that needs only the cells and some hippocampal units: like
        ``forward(..., return_activity=True)``, but a model may skip its predictions (``logits``
        None) and return the activity of only ``activity_units (B, N)`` (unit ids as in
        ``memory_units``; N may be 0; None: every unit), when that is faster. The state after the
        window is the one ``forward`` gives. This default runs :meth:`forward`."""
        return self(obs, action, new_world, state, return_activity=True)

    @abstractmethod
    def losses(self, output: ModelOutput, obs: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Named scalar losses of a window (``obs (B, T)``); ``"total"`` is the one to minimise.
        Mutates nothing."""

    @abstractmethod
    def mec_modules(self) -> tuple[int, ...]:
        """Number of MEC cells in each module, in the order of ``ModelOutput.mec``'s last axis."""

    @staticmethod
    def detach_state(state: dict) -> dict:
        """Cut the autograd graph between truncated-BPTT windows."""
        return map_state(torch.Tensor.detach, state)
