"""A training run's configuration: frozen dataclasses by concern, and the presets.

``Config`` nests the data (worlds and walks), the model (a :class:`TEMtConfig` or a
:class:`TEMConfig`: which one is given chooses the model; TEM-t's holds its memory's config),
optimisation, the run itself, and the evaluation and rate-map settings shared with
``python -m analysis``. Presets are whole configs. :func:`make_config` applies overrides named as
the command-line flags are (``"batch"``, ``"temt.key_dim"``, ``"eval.worlds"``, ``"model"``,
``"memory"``) and refuses options of the other model or memory.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from analysis.config import EvalConfig, RatemapConfig
from tem.configuration import from_dict, set_values, to_dict
from tem.memory import MEMORIES, MemoryConfig, SDMConfig
from tem.tem import TEMConfig
from tem.temt import TEMtConfig

MODEL_CONFIGS = {"temt": TEMtConfig, "tem": TEMConfig}
TEM_MEMORY = "hebbian"
"""The only memory TEM takes: its own."""
SCHEDULES = ("cosine", "exponential")
DEVICES = ("cpu", "cuda", "auto")
AMP_MODES = ("off", "bf16")


@dataclass(frozen=True)
class DataConfig:
    """Worlds and walks: what the model trains on."""

    world: str = "square"
    """training world family, KIND[+stay][:SIZES] (e.g. square:8-11, hex, periodic-square, family-tree, family-tree-10:3, line-jumps2:10, square+stay:5) or graph files FILE[,FILE...] (.graphml, .gml, .json)."""
    n_objects: int = 45
    """number of distinct objects per world."""
    batch: int = 64
    """walks per batch (independent worlds); per process under torchrun."""
    window: int = 50
    """truncated-BPTT window (steps per gradient step)."""
    walk_length: int = 250
    """steps before a slot gets a fresh world (rounded up to whole windows)."""
    persistence: float = 0.0
    """walk policy: probability of repeating the previous action."""
    approach: float = 0.0
    """walk policy: probability of stepping toward a target node."""
    salient: int = 0
    """salient objects per world: distinct nodes, drawn afresh with every world, that all show one reserved object (seen nowhere else); with --approach half the targets are salient nodes (object-vector cells)."""
    sampler_workers: int = 1
    """processes drawing the walks, the batch's slots split between them (1: a thread of this process;
    more: another random stream of walks, for large batches on a GPU)."""

    def __post_init__(self):
        if not 1 <= self.sampler_workers <= self.batch:
            raise ValueError(f"sampler_workers must be between 1 and the batch ({self.batch}), "
                             f"got {self.sampler_workers}")
        for name in ("n_objects", "batch", "window", "walk_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.salient < 0:
            raise ValueError(f"salient must be >= 0, got {self.salient}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation: Adam, its learning-rate schedule and gradient clipping."""

    lr: float = 0.0
    """peak learning rate (0: by the world: 2e-3, or 6e-3 where TEM-t infers its position from memory, in worlds whose moves merge nodes such as trees)."""
    lr_schedule: str = "cosine"
    """cosine (linear warm-up, then cosine decay to min_lr_ratio lr) | exponential (TEM's: lr_min + (lr - lr_min) 0.5^(step / lr_half_life))."""
    warmup: int = 20
    """steps of linear warm-up (cosine)."""
    min_lr_ratio: float = 0.05
    """final (cosine) or asymptotic (exponential) learning rate / peak."""
    lr_half_life: int = 4000
    """steps over which the exponential schedule halves lr - lr_min."""
    grad_clip: float = 1.0
    """clip the gradient norm to this value (0: off)."""
    weight_average: float = 0.0
    """decay of an exponential moving average of the weights (e.g. 0.998) that the evaluations, the checkpoint's model and the analysis use (0: the trained weights); at step n the decay is min(this, n / (n + 10)), so before that reaches it the average spans about the last tenth of the steps."""

    def __post_init__(self):
        if not self.lr >= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"lr must be > 0 (0: by the world) and min_lr_ratio in [0, 1], got {self.lr}, "
                             f"{self.min_lr_ratio}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0 <= self.weight_average < 1:
            raise ValueError(f"weight_average must be in [0, 1) (0: off), got {self.weight_average}")
        if self.warmup < 0 or self.lr_half_life < 1 or self.grad_clip < 0:
            raise ValueError(f"warmup and grad_clip must be >= 0 and lr_half_life >= 1, got {self.warmup}, "
                             f"{self.grad_clip}, {self.lr_half_life}")


@dataclass(frozen=True)
class RunConfig:
    """The run: length, checkpoints, periodic evaluation, device and where it writes."""

    steps: int = 0
    """gradient steps (0: by the world: 400, or 2,000 where TEM-t infers its position from memory, in worlds whose moves merge nodes such as trees, which learn more slowly)."""
    checkpoint_every: int = 100
    """write a checkpoint every N steps (and at the end, and on Ctrl-C)."""
    eval_every: int = 100
    """evaluate link inference every N steps (0: only at the end)."""
    eval_worlds: int = 16
    """held-out worlds of the periodic evaluation."""
    analysis: bool = True
    """run the final evaluation, rate maps and plots at the end."""
    device: str = "auto"
    """cpu | cuda | auto."""
    threads: int = 0
    """CPU threads for torch (0: torch's default)."""
    seed: int = 0
    """seed for weights, SDM addresses, worlds and walks."""
    out: str = "runs/quick"
    """run directory (config, checkpoint, metrics, plots)."""
    log_every: int = 10
    """read the loss and accuracy off the device every N steps (progress bar, TensorBoard, NaN check)."""
    prefetch: bool = True
    """draw the next window in a background thread while the model trains on this one."""
    compile: bool = False
    """torch.compile the model (opt-in: compiling takes a while; see benchmarks/README.md)."""
    amp: str = "off"
    """off | bf16: autocast the memory and readout to bfloat16 (the path integration stays float32)."""
    tf32: bool = False
    """allow TF32 matrix products on CUDA."""
    wandb: bool = False
    """also log the scalars and the final figures to Weights & Biases (pip install -e ".[wandb]")."""
    wandb_project: str = "tem"
    """the Weights & Biases project of --wandb."""

    def __post_init__(self):
        if self.steps < 0:
            raise ValueError(f"steps must be >= 1 (0: by the world), got {self.steps}")
        for name in ("checkpoint_every", "eval_every", "eval_worlds", "threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be cpu, cuda or auto, got {self.device!r}")
        if self.log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")


@dataclass(frozen=True)
class Config:
    """Everything a training run needs; saved as ``config.json`` in the run directory."""

    preset: str = "quick"
    """the preset this config started from."""
    model: TEMtConfig | TEMConfig = TEMtConfig()
    """the model: TEM-t or TEM, with its architecture."""
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    run: RunConfig = RunConfig()
    eval: EvalConfig = EvalConfig()
    ratemaps: RatemapConfig = RatemapConfig()

    @property
    def memory(self) -> str:
        """Name of the hippocampal memory: attention | sdm (TEM-t) or hebbian (TEM)."""
        return self.model.memory.kind if isinstance(self.model, TEMtConfig) else TEM_MEMORY

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Config":
        return from_dict(cls, data, where="config")


@dataclass(frozen=True)
class Preset:
    """A named whole config, and the memory configs it uses when ``--memory`` picks another one."""

    config: Config
    memories: Mapping[str, MemoryConfig] = field(default_factory=lambda: MappingProxyType({}))
    memory_fields: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    """model fields the preset sets otherwise when ``--memory`` picks that memory."""


PRESETS: dict[str, Preset] = {
    "quick": Preset(Config()),
    "paper": Preset(Config(
        preset="paper", data=DataConfig(batch=64, walk_length=1000), optim=OptimConfig(lr=1e-3, warmup=200),
        run=RunConfig(steps=20000, eval_every=1000, checkpoint_every=1000, out="runs/paper"))),
    # TEM-t with the constraints under which grid cells are optimal (tem.cells): commuting actions on
    # the world's lattice, non-negative cells with a fixed activity budget, on hexagonal worlds.
    # Module wavelengths start 1.42x apart (as rat grid modules), from 5 steps. Keys as wide as the 64
    # cells (32 aliased in big worlds: zero-shot hex 40x40 0.80, 1.00 with 128). With --memory sdm the
    # neuron addresses are trained (they then become place cells).
    "grid-cells": Preset(Config(
        preset="grid-cells",
        model=TEMtConfig(action_matrices="commuting", module_sizes=(12, 12, 12, 12), module_scale=5.0,
                         module_ratio=1.42, cells_per_module=16, cell_activation="relu", key_dim=128),
        data=DataConfig(world="hex"), run=RunConfig(steps=600, out="runs/grid-cells"),
        ratemaps=RatemapConfig(world="hex:25")),
        memories=MappingProxyType({"sdm": SDMConfig(learn_addresses=True)}),
        memory_fields=MappingProxyType({"sdm": MappingProxyType({"key_dim": 32})})),  # the SDM does not learn with 128
    # TEM (Whittington et al. 2020) with the public port's training defaults, except walk length, eta
    # ramp and world: the port walks 500-6,000 steps per world, we walk 100; its 5x5 world has a
    # stand-still action (square+stay:5), which slowed link inference here.
    "tem": Preset(Config(
        preset="tem", model=TEMConfig(eta_ramp=200),
        data=DataConfig(world="square:5", batch=16, window=20, walk_length=100),
        optim=OptimConfig(lr=9.4e-4, min_lr_ratio=8e-5 / 9.4e-4, lr_schedule="exponential", warmup=0,
                          grad_clip=2.0),
        run=RunConfig(steps=20000, eval_every=50, eval_worlds=16, checkpoint_every=50, out="runs/tem"),
        eval=EvalConfig(walk_length=300))),
}

FLAT_GROUPS = ("data", "optim", "run")
"""Groups whose fields are set by their bare names (``--batch``, ``--lr``, ``--steps``)."""
PREFIXED_GROUPS = ("eval", "ratemaps")
"""Groups whose fields carry the group's name (``--eval.worlds``, ``--ratemaps.shuffles``)."""
MODEL_GROUPS = {"temt": TEMtConfig, "tem": TEMConfig, **MEMORIES}
"""Groups of model and memory fields (``--temt.key_dim``, ``--tem.eta_ramp``, ``--sdm.radius``)."""


def make_config(preset: str | None = None, overrides: Mapping[str, Any] | None = None,
                base: Config | None = None) -> Config:
    """A config from a preset (default: ``quick``, or ``tem`` with model ``tem``) or ``base`` (a
    resumed run's), then ``overrides`` named as the flags are, e.g. ``{"batch": 32, "model": "tem",
    "memory": "sdm", "temt.key_dim": 16, "eval.worlds": 20}`` (None values are ignored)."""
    values = {k: v for k, v in (overrides or {}).items() if v is not None}
    preset = values.pop("preset", None) or preset
    model_kind, memory = values.pop("model", None), values.pop("memory", None)
    if model_kind is not None and model_kind not in MODEL_CONFIGS:
        raise ValueError(f"unknown model {model_kind!r}; choose one of {', '.join(MODEL_CONFIGS)}")
    if base is not None:
        config, memories, memory_fields = base, {}, {}
    else:
        name = preset or ("tem" if model_kind == "tem" else "quick")
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        config, memories, memory_fields = PRESETS[name].config, PRESETS[name].memories, PRESETS[name].memory_fields
    model = config.model
    if model_kind is not None and model.kind != model_kind:
        model = MODEL_CONFIGS[model_kind]()
    model = _with_memory(model, memory, memories)
    if memory in memory_fields and model.kind == config.model.kind:
        model = dataclasses.replace(model, **memory_fields[memory])
    grouped = _group(values)
    for group in ("temt", "tem"):
        if group in grouped:
            if model.kind != group:
                name = {"temt": "TEM-t", "tem": "TEM"}[group]
                raise ValueError(f"{_flags(group, grouped[group])} is a {name} option, and this run's model is "
                                 f"{model.kind} (choose the model with --model)")
            model = set_values(model, grouped.pop(group))
    for group in MEMORIES:
        if group in grouped:
            kind = model.memory.kind if isinstance(model, TEMtConfig) else TEM_MEMORY
            if kind != group:
                raise ValueError(f"{_flags(group, grouped[group])} is an option of the {group} memory, and this "
                                 f"run's memory is {kind} (choose the memory with --memory)")
            model = dataclasses.replace(model, memory=set_values(model.memory, grouped.pop(group)))
    changes = {"model": model}
    for group in (*FLAT_GROUPS, *PREFIXED_GROUPS):
        changes[group] = set_values(getattr(config, group), grouped.pop(group, {}))
    leftover = [f"{g}.{k}".lstrip(".") for g, fields in grouped.items() for k in fields]
    if leftover:
        raise ValueError(f"unknown config fields: {', '.join(sorted(leftover))}")
    return dataclasses.replace(config, **changes)


def _with_memory(model, memory: str | None, memories: Mapping[str, MemoryConfig]):
    """``model`` with the memory named ``memory`` (None: unchanged)."""
    if memory is None:
        return model
    if isinstance(model, TEMConfig):
        if memory != TEM_MEMORY:
            raise ValueError(f"model tem has its own Hebbian memory: use --memory hebbian (or leave it out), "
                             f"not {memory!r}")
        return model
    if memory == TEM_MEMORY:
        raise ValueError("the hebbian memory is TEM's (--model tem); TEM-t reads attention or sdm")
    if memory not in MEMORIES:
        raise ValueError(f"unknown memory {memory!r}; choose one of {', '.join(MEMORIES)} (TEM-t) or "
                         f"{TEM_MEMORY} (TEM)")
    if model.memory.kind == memory:
        return model
    return dataclasses.replace(model, memory=memories.get(memory, MEMORIES[memory]()))


def _group(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"batch": 1, "temt.key_dim": 2}`` -> ``{"data": {"batch": 1}, "temt": {"key_dim": 2}}``
    (flag spellings with dashes are accepted; bare names are looked up in the flat groups)."""
    owner = {f.name: group for group in FLAT_GROUPS for f in dataclasses.fields(getattr(Config, group))}
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        group, _, name = key.replace("-", "_").rpartition(".")
        group = group or owner.get(name, "")
        grouped.setdefault(group, {})[name] = value
    for group, fields in grouped.items():
        known = _field_names(group)
        if known is not None:
            unknown = sorted(set(fields) - known)
            if unknown:
                raise ValueError(f"unknown {group} fields: {', '.join(unknown)}")
    return grouped


def _field_names(group: str) -> set[str] | None:
    if group in MODEL_GROUPS:
        cls = MODEL_GROUPS[group]
    elif group in (*FLAT_GROUPS, *PREFIXED_GROUPS):
        cls = type(getattr(Config(), group))
    else:
        return None
    return {f.name for f in dataclasses.fields(cls) if f.name != "memory"}


def _flags(group: str, fields: Mapping[str, Any]) -> str:
    return ", ".join(f"--{group}.{name.replace('_', '-')}" for name in fields)
