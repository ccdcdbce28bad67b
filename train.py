"""Train a cognitive-map model (TEM-t) on random walks in a family of worlds.

    python train.py --preset quick            # ~1-2 minutes on 2 CPU cores, writes runs/quick/
    python train.py --resume runs/quick --steps 800   # continue a run where it stopped

Everything the run writes is in its directory: config.json, checkpoint.pt, metrics.csv, tb/
(TensorBoard), eval.json and learning_curve.png.
"""
from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from analysis.cli import evaluate_run, ratemaps_run
from analysis.evaluate import EVAL_SEED_OFFSET, evaluate
from analysis.plots import plot_learning_curve
from envs import WalkPolicy, WalkSampler, make_worlds
from tem.config import TrainConfig, build_parser, make_config
from tem.distributed import RANK_SEED_STRIDE, all_finite, init_distributed, max_weight_difference, shutdown
from tem.memory.base import map_state
from tem.run import build_model, config_dict, load_checkpoint, resolve_device, save_checkpoint, save_json

METRIC_FIELDS = ["step", "train_loss", "train_acc", "link_inference_acc", "first_visit_acc",
                 "node_visited_acc", "train_seconds", "env_steps_per_s"]


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``config.steps``; or TEM's
    ``lr_min + (lr - lr_min) 0.5^(step / 4000)`` with ``lr_schedule='tem'``."""
    if config.lr_schedule == "tem":
        low = config.min_lr_ratio * config.lr
        return low + (config.lr - low) * 0.5 ** (step / 4000)
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def to_tensors(batch, device):
    """``(obs, action, new_world)`` of a sampler batch as tensors on ``device``."""
    return tuple(torch.as_tensor(x, device=device) for x in (batch.obs, batch.action, batch.new_world))


class Run:
    """The state of a training run: model, optimiser, sampler and the model's carried state."""

    def __init__(self, config: TrainConfig, checkpoint: dict | None = None):
        self.config = config
        self.dir = Path(config.out)
        self.dist = init_distributed(config.device)
        self.device = resolve_device(config.device)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.worlds = make_worlds(config.world)
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.model = build_model(config, self.worlds[0]).to(self.device)
        self.net = self.model  # what the forward pass goes through: DDP-wrapped when distributed
        if self.dist.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.sampler = WalkSampler(self.worlds, config.batch, config.window, config.walk_length,
                                   n_objects=config.n_objects, seed=config.seed + self.dist.rank * RANK_SEED_STRIDE,
                                   policy=WalkPolicy(config.persistence, config.approach))
        self.state = self.model.initial_state(config.batch, self.device)
        self.step, self.train_seconds, self.running = 0, 0.0, {"loss": float("nan"), "acc": float("nan")}
        if checkpoint is not None:
            self.load(checkpoint)

    def rank_state(self) -> dict:
        """What differs between ranks: this rank's walks and the model state carried along them."""
        return {"step": self.step, "sampler": self.sampler.state_dict(), "carried_state": self.state}

    def checkpoint(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                "config": config_dict(self.config), "action_names": list(self.worlds[0].action_names),
                **self.rank_state(), "world_size": self.dist.world_size,
                "torch_rng": torch.get_rng_state(), "train_seconds": self.train_seconds, "running": self.running}

    def save(self) -> None:
        """Rank 0 writes the checkpoint; other ranks write their own walks' state beside it."""
        if self.dist.is_main:
            save_checkpoint(self.dir, self.checkpoint())
        else:
            save_checkpoint(self.dir, self.rank_state(), name=f"rank{self.dist.rank}.pt")

    def load(self, checkpoint: dict) -> None:
        if checkpoint["action_names"] != list(self.worlds[0].action_names):
            raise ValueError(f"checkpoint actions {checkpoint['action_names']} do not match world "
                             f"{self.config.world!r} ({list(self.worlds[0].action_names)})")
        if checkpoint.get("world_size", 1) != self.dist.world_size:
            raise ValueError(f"checkpoint was written by {checkpoint.get('world_size', 1)} processes; "
                             f"resume it with the same number (now {self.dist.world_size})")
        if not self.dist.is_main:
            checkpoint = {**checkpoint, **torch.load(self.dir / f"rank{self.dist.rank}.pt", weights_only=False)}
        try:
            self.model.load_state_dict(checkpoint["model"])
        except RuntimeError as error:
            raise ValueError(f"checkpoint weights do not fit this model: {error}") from None
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.sampler.load_state_dict(checkpoint["sampler"])
        self.state = map_state(lambda tensor: tensor.to(self.device), checkpoint["carried_state"])
        torch.set_rng_state(checkpoint["torch_rng"])
        self.step, self.train_seconds = checkpoint["step"], checkpoint["train_seconds"]
        self.running = checkpoint["running"]

    def train_step(self) -> dict[str, float]:
        """One gradient step on the next window; returns the named losses."""
        obs, action, new_world = to_tensors(self.sampler.next_window(), self.device)
        out = self.net(obs, action, new_world, self.state)
        losses = self.model.losses(out, obs, self.step)
        loss = losses["total"]
        if not all_finite(loss, self.dist):
            raise FloatingPointError(f"loss became {loss.item()} at step {self.step + 1}")
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step, self.config)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.state = self.model.detach_state(out.state)
        self.step += 1
        accuracy = (out.logits.argmax(-1) == obs).float().mean().item()
        for key, value in (("loss", loss.item()), ("acc", accuracy)):
            old = self.running[key]
            self.running[key] = value if math.isnan(old) else 0.95 * old + 0.05 * value
        return {name: value.item() for name, value in losses.items()}

    def evaluate(self, n_worlds: int) -> dict:
        self.model.eval()
        scores = evaluate(self.model, self.worlds, n_worlds, self.config.eval_walk_length,
                          n_objects=self.config.n_objects, seed=self.config.seed + EVAL_SEED_OFFSET,
                          device=self.device)
        self.model.train()
        return scores


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if up_to_step is None or int(r["step"]) <= up_to_step]


def write_metrics(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def metrics_row(run: Run, scores: dict) -> dict:
    """One ``metrics.csv`` row: training state and held-out ``scores`` at the current step (blank
    where ``scores`` has none)."""
    speed = run.dist.world_size * run.step * run.config.batch * run.config.window / max(run.train_seconds, 1e-9)
    return {"step": run.step, "train_loss": f"{run.running['loss']:.4f}", "train_acc": f"{run.running['acc']:.4f}",
            **{key: f"{scores[key]:.4f}" if key in scores else "" for key in ("link_inference_acc", "first_visit_acc",
                                                                               "node_visited_acc")},
            "train_seconds": f"{run.train_seconds:.1f}", "env_steps_per_s": f"{speed:.0f}"}


def log_evaluation(run: Run, rows: list[dict], writer) -> dict:
    """Evaluate on ``eval_worlds`` held-out worlds; append to metrics.csv and TensorBoard."""
    scores = run.evaluate(run.config.eval_worlds)
    rows.append(metrics_row(run, scores))
    write_metrics(run.dir / "metrics.csv", rows)
    for key in ("link_inference_acc", "first_visit_acc", "node_visited_acc"):
        writer.add_scalar(f"eval/{key}", scores[key], run.step)
    return scores


def train(run: Run) -> int:
    """The training loop; returns the process exit code."""
    from torch.utils.tensorboard import SummaryWriter

    config, main_process = run.config, run.dist.is_main
    run.dir.mkdir(parents=True, exist_ok=True)
    if main_process:
        save_json(run.dir / "config.json", config_dict(config))
    rows = read_metrics(run.dir / "metrics.csv", up_to_step=run.step)
    writer = SummaryWriter(str(run.dir / "tb"), purge_step=run.step or None) if main_process else None
    bar = tqdm(total=config.steps, initial=run.step, desc="train", unit="step", dynamic_ncols=True,
               disable=not main_process)
    try:
        while run.step < config.steps:
            start = time.perf_counter()
            losses = run.train_step()
            run.train_seconds += time.perf_counter() - start
            bar.set_postfix(loss=f"{run.running['loss']:.3f}", acc=f"{run.running['acc']:.3f}")
            bar.update()
            if main_process:
                for name, value in losses.items():
                    writer.add_scalar(f"losses/{name}", value, run.step)
                writer.add_scalar("charts/train_accuracy", run.running["acc"], run.step)
            if main_process and config.eval_every and run.step % config.eval_every == 0 and run.step < config.steps:
                scores = log_evaluation(run, rows, writer)
                bar.write(f"step {run.step}: link inference {scores['link_inference_acc']:.3f}, "
                          f"first visit {scores['first_visit_acc']:.3f} ({run.train_seconds:.0f}s training)")
            if config.checkpoint_every and run.step % config.checkpoint_every == 0:
                run.save()
    except KeyboardInterrupt:
        run.save()
        bar.close()
        print(f"\ninterrupted at step {run.step}; checkpoint saved. Continue with: "
              f"python train.py --resume {run.dir}", file=sys.stderr)
        return 130
    except FloatingPointError as error:
        bar.close()
        print(f"error: {error}; training stopped, the last good checkpoint is kept in {run.dir}", file=sys.stderr)
        return 3
    bar.close()
    run.save()
    if run.dist.enabled:
        difference = max_weight_difference(run.model)
        if main_process:
            print(f"{run.dist.world_size} ranks in sync: max |weight difference| = {difference:.3g}")
    if main_process:
        if config.analysis:
            final_analysis(run, rows)
        elif not rows or int(rows[-1]["step"]) < run.step:  # the last step's row, evaluated if asked
            if config.eval_every:
                log_evaluation(run, rows, writer)
            else:
                rows.append(metrics_row(run, {}))
                write_metrics(run.dir / "metrics.csv", rows)
        writer.close()
    return 0


def final_analysis(run: Run, rows: list[dict]) -> None:
    """Evaluate on ``final_eval_worlds`` held-out worlds, draw the learning curve, then the rate maps:
    eval.json, accuracy_vs_visited.*, learning_curve.png, ratemaps.json and ratemaps_*.png."""
    config = run.config
    start = time.perf_counter()
    device = str(run.device)
    scores = evaluate_run(run.dir, n_worlds=config.final_eval_worlds, walk_length=config.eval_walk_length,
                          device=device)
    rows.append(metrics_row(run, scores))
    write_metrics(run.dir / "metrics.csv", rows)
    fig, _ = plot_learning_curve(rows, chance=1 / config.n_objects)
    fig.savefig(run.dir / "learning_curve.png", dpi=120, bbox_inches="tight")
    print(f"final ({config.final_eval_worlds} held-out {config.world} worlds, walks of {config.eval_walk_length}): "
          f"link inference {scores['link_inference_acc']:.4f}, first visit {scores['first_visit_acc']:.4f}, "
          f"trained {run.train_seconds:.0f}s")
    maps = ratemaps_run(run.dir, world=config.ratemap_world or None, device=device, n_shuffles=config.ratemap_shuffles)
    if "mec_fraction_grid" in maps:
        print(f"rate maps on {maps['world']}: {maps['mec_fraction_grid_cells']:.2f} of MEC units grid cells "
              f"({maps['mec_distinct_spacing_modules']} distinct spacing modules), "
              f"{maps['hpc_fraction_place']:.2f} of hippocampal units place-like")
    print(f"analysis took {time.perf_counter() - start:.0f}s; everything is in {run.dir}/")


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    resume = args.pop("resume")
    try:
        if resume:
            checkpoint = load_checkpoint(resume)
            for key in ("model", "memory", "world"):
                if args[key] is not None and args[key] != checkpoint["config"][key]:
                    raise ValueError(f"checkpoint in {resume} was trained with {key} "
                                     f"{checkpoint['config'][key]!r}, not {args[key]!r}")
            config = make_config({**args, "out": args["out"] or resume}, base=checkpoint["config"])
            run = Run(config, checkpoint)
        else:
            run = Run(make_config(args))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        return train(run)
    finally:
        info = run.dist
        del run  # DistributedDataParallel holds the process group: release it so that shutdown destroys it
        shutdown(info)


if __name__ == "__main__":
    sys.exit(main())
