"""A training run: its model, optimiser, walk sampler and carried state, and its checkpoints.

Everything a run writes is in its directory ``config.run.out``: ``checkpoint.pt`` (rank 0; other
ranks write their walks' state to ``rank{r}.pt`` beside it), ``config.json``, metrics and figures.
Checkpoints hold tensors and plain values only (:mod:`tem.checkpoint`).
"""
from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from envs import WalkPolicy, WalkSampler, make_worlds
from envs.pool import SamplerPool
from tem.checkpoint import build_model, load_checkpoint, load_plain, model_record, save_checkpoint
from tem.model import Task, map_state
from tem.training.config import Config, make_config
from tem.training.distributed import RANK_SEED_STRIDE, init_distributed, shutdown
from tem.training.prefetch import PrefetchingSampler


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
    return torch.device(name)


def cuda_device(device: torch.device, local_rank: int) -> torch.device:
    """The GPU this process uses: the one named (``cuda:1``), else its local rank's (``cuda`` ->
    ``cuda:0`` for a single process). ``torch.cuda.set_device`` needs the index."""
    return device if device.index is not None else torch.device("cuda", local_rank)


def _fused_adam(device: torch.device) -> bool:
    """Whether Adam takes its fused kernel: on CUDA, and on the CPU from torch 2.4 (which added it;
    there it is ~3x faster than the per-parameter loops for TEM-t's few small tensors)."""
    return device.type == "cuda" or (device.type == "cpu" and torch.__version__ >= (2, 4))  # (a TorchVersion)


def learning_rate(step: int, config) -> float:
    """The learning rate at ``step`` of a run with ``config``: linear warm-up, then cosine decay to
    ``min_lr_ratio * lr`` at the last step; or ``lr_min + (lr - lr_min) 0.5^(step / lr_half_life)``."""
    optim, steps = config.optim, config.run.steps
    low = optim.min_lr_ratio * optim.lr
    if optim.lr_schedule == "exponential":
        return low + (optim.lr - low) * 0.5 ** (step / optim.lr_half_life)
    if step < optim.warmup:
        return optim.lr * (step + 1) / optim.warmup
    progress = min(1.0, (step - optim.warmup) / max(1, steps - optim.warmup))
    return optim.lr * (optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _pad_grown_moments(optimizer: torch.optim.Optimizer) -> None:
    """A parameter that gained entries since the checkpoint (e.g. position inference's gate weight,
    2 -> 3 features) gets its optimizer moments padded with zeros, as for a new entry."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, moment in optimizer.state.get(param, {}).items():
                if torch.is_tensor(moment) and moment.dim() == param.dim() == 1 and len(moment) < len(param):
                    optimizer.state[param][key] = torch.cat([moment, moment.new_zeros(len(param) - len(moment))])


STEPS, STEPS_INFERRING = 400, 2_000
"""The default number of steps (``--steps 0``), and where TEM-t infers its position from memory."""
LR, LR_INFERRING = 2e-3, 6e-3
"""The default peak learning rate (``--lr 0``), and where TEM-t infers its position from memory."""

MAX_PENDING = 1_000
"""Steps whose losses may wait on the device before :meth:`Run.train_step` reads them itself."""


class Pending:
    """Losses and accuracies of the steps since the last read, kept on the device (no host sync)."""

    def __init__(self):
        self.first_step, self.values = 0, []

    def add(self, step: int, loss: torch.Tensor, accuracy: torch.Tensor) -> None:
        if not self.values:
            self.first_step = step
        self.values.append(torch.stack([loss.float(), accuracy.float()]))

    def read(self, info) -> tuple[list[float], list[float], tuple[int, float] | None]:
        """``(losses, accuracies, (step, loss) of the first loss not finite on some rank, or None)``;
        clears."""
        if not self.values:
            return [], [], None
        values, self.values = torch.stack(self.values), []  # (steps, 2)
        finite = torch.isfinite(values[:, 0]).float()
        if info.enabled:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        losses, accuracies = values.T.tolist()
        bad = next(((self.first_step + i, losses[i]) for i, ok in enumerate(finite.tolist()) if not ok), None)
        return losses, accuracies, bad


def _sampler_to_plain(state: dict) -> dict:
    return {key: torch.from_numpy(value.copy()) if isinstance(value, np.ndarray) else value
            for key, value in state.items()}


def _sampler_from_plain(state: dict) -> dict:
    return {key: value.numpy() if isinstance(value, torch.Tensor) else value for key, value in state.items()}


class Run:
    """The state of a training run: model, optimiser, sampler and the model's carried state."""

    def __init__(self, config: Config, checkpoint: dict | None = None):
        self.config = config
        self.dir = Path(config.run.out)
        self.dist = init_distributed(config.run.device)
        self.device = resolve_device(config.run.device)
        if self.device.type == "cuda":
            self.device = cuda_device(self.device, self.dist.local_rank)
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = config.run.tf32
        if config.run.threads:
            torch.set_num_threads(config.run.threads)
        if config.run.wandb and importlib.util.find_spec("wandb") is None:
            raise ValueError('--wandb needs the wandb package: pip install -e ".[wandb]"')
        self.worlds = make_worlds(config.data.world)
        torch.manual_seed(config.run.seed)  # the same initial weights (and SDM addresses) on every rank
        self.model = build_model(config.model, Task.from_world(self.worlds[0], config.data.n_objects)).to(self.device)
        # By the world: TEM-t in worlds whose moves merge nodes (trees) infers its position, and
        # learns more slowly, and best with a higher learning rate.
        inferring = getattr(self.model, "inference", None) is not None
        if config.run.steps == 0:
            config = replace(config, run=replace(config.run, steps=STEPS_INFERRING if inferring else STEPS))
        if config.optim.lr == 0:
            config = replace(config, optim=replace(config.optim, lr=LR_INFERRING if inferring else LR))
        self.config = config
        self.net = self.model  # what the forward pass goes through: DDP-wrapped when distributed, maybe compiled
        if self.dist.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        if config.run.compile:
            self.net = torch.compile(self.net, dynamic=True)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.optim.lr,
                                          fused=True if _fused_adam(self.device) else None)
        data = config.data
        walks = dict(n_objects=data.n_objects, seed=config.run.seed + self.dist.rank * RANK_SEED_STRIDE,
                     policy=WalkPolicy(data.persistence, data.approach), salient=data.salient)
        if data.sampler_workers > 1:
            sampler = SamplerPool(self.worlds, data.batch, data.window, data.walk_length, workers=data.sampler_workers,
                                  **walks)
        else:
            sampler = WalkSampler(self.worlds, data.batch, data.window, data.walk_length, **walks)
        self.sampler = PrefetchingSampler(sampler, self.device, config.run.prefetch)
        self.state = self.model.initial_state(data.batch, self.device)
        self.step, self.train_seconds, self.running = 0, 0.0, {"loss": float("nan"), "acc": float("nan")}
        self._pending = Pending()
        # the weights' moving average (--weight-average), in the order of model.parameters(), or None
        self.averaged = [p.detach().clone() for p in self.model.parameters()] if config.optim.weight_average else None
        if checkpoint is not None:
            self.load(checkpoint)

    @classmethod
    def start(cls, overrides: Mapping | None = None) -> "Run":
        """A new run from a preset and overrides (see :func:`tem.training.config.make_config`)."""
        return cls(make_config(overrides=overrides))

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: Mapping | None = None) -> "Run":
        """The run saved in ``run_dir``, with ``overrides`` (e.g. more ``steps``) applied."""
        checkpoint = load_checkpoint(run_dir)
        base = Config.from_dict(checkpoint["config"])
        overrides = dict(overrides or {})
        for key, saved in (("model", base.model.kind), ("memory", base.memory), ("world", base.data.world)):
            if overrides.get(key) is not None and overrides[key] != saved:
                raise ValueError(f"checkpoint in {run_dir} was trained with {key} {saved!r}, not {overrides[key]!r}")
        if overrides.pop("preset", None) not in (None, base.preset):
            raise ValueError(f"checkpoint in {run_dir} was trained from preset {base.preset!r}; a resumed run "
                             "keeps its config (override single fields instead)")
        overrides["out"] = overrides.get("out") or str(run_dir)
        return cls(make_config(overrides=overrides, base=base), checkpoint)

    def rank_state(self) -> dict:
        """What differs between ranks: this rank's walks and the model state carried along them."""
        return {"step": self.step, "sampler": _sampler_to_plain(self.sampler.state_dict()),
                "carried_state": self.state}

    def checkpoint(self) -> dict:
        """``model`` holds the weights to use (the moving average where kept, which analysis loads);
        ``trained_model`` then holds the trained ones, from which training resumes."""
        model, trained = self.model.state_dict(), {}
        if self.averaged is not None:
            names = [name for name, _ in self.model.named_parameters()]
            model, trained = {**model, **dict(zip(names, self.averaged))}, {"trained_model": model}
        return {**model_record(self.model), "model": model, **trained, "optimizer": self.optimizer.state_dict(),
                "config": self.config.to_dict(), **self.rank_state(), "world_size": self.dist.world_size,
                "torch_rng": torch.get_rng_state(), "train_seconds": self.train_seconds, "running": self.running}

    def save(self) -> None:
        """Rank 0 writes the checkpoint; other ranks write their own walks' state beside it. Only
        finite weights are saved: the losses since the last sync are checked first."""
        self.sync()
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.dist.is_main:
            save_checkpoint(self.dir / "checkpoint.pt", self.checkpoint())
        else:
            save_checkpoint(self.dir / f"rank{self.dist.rank}.pt", self.rank_state())

    def load(self, checkpoint: dict) -> None:
        task = model_record(self.model)["task"]
        if checkpoint["task"]["action_names"] != task["action_names"]:
            raise ValueError(f"checkpoint actions {checkpoint['task']['action_names']} do not match world "
                             f"{self.config.data.world!r} ({task['action_names']})")
        if checkpoint.get("world_size", 1) != self.dist.world_size:
            raise ValueError(f"checkpoint was written by {checkpoint.get('world_size', 1)} processes; "
                             f"resume it with the same number (now {self.dist.world_size})")
        if not self.dist.is_main:
            checkpoint = {**checkpoint, **load_plain(self.dir / f"rank{self.dist.rank}.pt")}
        try:
            self.model.load_state_dict(checkpoint.get("trained_model", checkpoint["model"]))
        except RuntimeError as error:
            raise ValueError(f"checkpoint weights do not fit this model: {error}") from None
        if self.averaged is not None:  # a run that kept no average starts one from its weights
            averaged = checkpoint["model"] if "trained_model" in checkpoint else dict(self.model.named_parameters())
            self.averaged = [averaged[name].detach().to(self.device).clone() for name, _ in self.model.named_parameters()]
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        _pad_grown_moments(self.optimizer)
        self.sampler.load_state_dict(_sampler_from_plain(checkpoint["sampler"]))
        carried = map_state(lambda tensor: tensor.to(self.device), checkpoint["carried_state"])
        self.state = {**self.state, **carried}  # parts of the state a newer model carries start empty
        torch.set_rng_state(checkpoint["torch_rng"])
        self.step, self.train_seconds = checkpoint["step"], checkpoint["train_seconds"]
        self.running = dict(checkpoint["running"])

    @contextmanager
    def evaluation_weights(self):
        """The model with the weights evaluations use, the moving average where kept (the trained
        weights are put back after)."""
        if self.averaged is None:
            yield self.model
            return
        parameters = list(self.model.parameters())
        trained = [p.detach().clone() for p in parameters]
        with torch.no_grad():
            for parameter, average in zip(parameters, self.averaged):
                parameter.copy_(average)
        try:
            yield self.model
        finally:
            with torch.no_grad():
                for parameter, weights in zip(parameters, trained):
                    parameter.copy_(weights)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The next window ``(obs (B, T), action (B, T), new_world (B,))`` on the run's device."""
        return self.sampler.next_window()

    def train_step(self, batch: tuple[torch.Tensor, ...] | None = None) -> dict[str, torch.Tensor]:
        """One gradient step on ``batch`` (default: the next window); returns the named losses as
        tensors on the device. Nothing is read back to the host here: :meth:`sync` does that."""
        obs, action, new_world = batch if batch is not None else self.next_batch()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.run.amp == "bf16"):
            out = self.net(obs, action, new_world, self.state, step=self.step)
            losses = self.model.losses(out, obs, self.step)
        loss = losses["total"]
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step, self.config)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()
        self.state = self.model.detach_state(out.state)
        self.step += 1
        if self.averaged is not None:  # the decay grows to its value (n / (n + 10)), so the initial weights fade
            decay = min(self.config.optim.weight_average, self.step / (self.step + 10))
            torch._foreach_lerp_(self.averaged, [p.detach() for p in self.model.parameters()], 1 - decay)
        self.model.trained_steps.fill_(self.step)
        accuracy = (out.logits.detach().argmax(-1) == obs).float().mean()
        self._pending.add(self.step, loss.detach(), accuracy)
        if len(self._pending.values) >= MAX_PENDING:  # a caller that never syncs: read now and then
            self.sync()
        return {name: value.detach() for name, value in losses.items()}

    def sync(self) -> None:
        """Read the steps' losses and accuracy off the device into ``running`` (a moving average);
        raises ``FloatingPointError`` if a loss was not finite (on any rank) since the last sync."""
        losses, accuracies, bad = self._pending.read(self.dist)
        if bad is not None:
            raise FloatingPointError(f"loss became {bad[1]} at step {bad[0]}")
        for key, values in (("loss", losses), ("acc", accuracies)):
            for value in values:
                old = self.running[key]
                self.running[key] = value if math.isnan(old) else 0.95 * old + 0.05 * value

    def close(self) -> None:
        """Stop the sampler's thread and leave the process group (torchrun); the DDP wrapper, which
        holds the group, is dropped first. Safe to call twice; the model stays usable."""
        self.sampler.close()
        self.net = self.model
        shutdown(self.dist)
