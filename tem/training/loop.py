"""The training loop: gradient steps, periodic held-out evaluation, checkpoints, the end-of-run analysis.

It writes ``config.json``, ``checkpoint.pt``, ``metrics.csv`` and ``tb/`` (TensorBoard) into the run
directory, then (unless ``run.analysis`` is off) ``eval.json``, ``learning_curve.png``, the rate maps
and their figures.
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from tqdm import tqdm

from analysis.evaluate import EVAL_SEED_OFFSET, evaluate
from tem.training.config import Config
from tem.training.distributed import max_weight_difference
from tem.checkpoint import save_json
from tem.training.run import Run

METRIC_FIELDS = ["step", "train_loss", "train_acc", "link_inference_acc", "first_visit_acc",
                 "node_visited_acc", "train_seconds", "env_steps_per_s"]
EVAL_KEYS = ("link_inference_acc", "first_visit_acc", "node_visited_acc")


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
    data = run.config.data
    speed = run.dist.world_size * run.step * data.batch * data.window / max(run.train_seconds, 1e-9)
    return {"step": run.step, "train_loss": f"{run.running['loss']:.4f}", "train_acc": f"{run.running['acc']:.4f}",
            **{key: f"{scores[key]:.4f}" if key in scores else "" for key in EVAL_KEYS},
            "train_seconds": f"{run.train_seconds:.1f}", "env_steps_per_s": f"{speed:.0f}"}


def evaluate_now(run: Run, n_worlds: int) -> dict:
    """Link inference of the model being trained (its weights' moving average where kept) on
    ``n_worlds`` held-out worlds of its family."""
    with run.evaluation_weights() as model:
        model.eval()
        scores = evaluate(model, run.worlds, n_worlds, run.config.eval.walk_length, n_objects=run.config.data.n_objects,
                          seed=run.config.run.seed + EVAL_SEED_OFFSET, device=run.device)
        model.train()
    return scores


def log_evaluation(run: Run, rows: list[dict], writer) -> dict:
    """Evaluate on ``run.eval_worlds`` held-out worlds; append to metrics.csv and TensorBoard."""
    scores = evaluate_now(run, run.config.run.eval_worlds)
    rows.append(metrics_row(run, scores))
    write_metrics(run.dir / "metrics.csv", rows)
    for key in EVAL_KEYS:
        writer.add_scalar(f"eval/{key}", scores[key], run.step)
    return scores


def train(run: Config | Run) -> Run:
    """Train ``run`` (a config: a new run; or a :class:`Run`, e.g. resumed) to ``run.steps`` steps.

    Returns the run (``run.model``, ``run.dir``, ``run.step``). On Ctrl-C a checkpoint is saved and
    ``KeyboardInterrupt`` raised again; a non-finite loss raises ``FloatingPointError`` and keeps the
    last good checkpoint.
    """
    from torch.utils.tensorboard import SummaryWriter

    run = Run(run) if isinstance(run, Config) else run
    config, main_process = run.config, run.dist.is_main
    run.dir.mkdir(parents=True, exist_ok=True)
    if main_process:
        save_json(run.dir / "config.json", config.to_dict())
    rows = read_metrics(run.dir / "metrics.csv", up_to_step=run.step)
    writer = None
    if main_process:
        tracker = start_wandb(run) if config.run.wandb else None
        writer = Scalars(SummaryWriter(str(run.dir / "tb"), purge_step=run.step or None), tracker)
    bar = tqdm(total=config.run.steps, initial=run.step, desc="train", unit="step", dynamic_ncols=True,
               disable=not main_process)
    every = config.run
    try:
        while run.step < every.steps:
            start = time.perf_counter()
            losses = run.train_step()
            run.train_seconds += time.perf_counter() - start
            bar.update()
            if run.step % every.log_every == 0 or run.step == every.steps:
                run.sync()  # the one read from the device (raises on a non-finite loss)
                bar.set_postfix(loss=f"{run.running['loss']:.3f}", acc=f"{run.running['acc']:.3f}")
                if main_process:
                    for name, value in losses.items():
                        writer.add_scalar(f"losses/{name}", value.item(), run.step)
                    writer.add_scalar("charts/train_accuracy", run.running["acc"], run.step)
            if main_process and every.eval_every and run.step % every.eval_every == 0 and run.step < every.steps:
                scores = log_evaluation(run, rows, writer)
                bar.write(f"step {run.step}: link inference {scores['link_inference_acc']:.3f}, "
                          f"first visit {scores['first_visit_acc']:.3f} ({run.train_seconds:.0f}s training)")
            if every.checkpoint_every and run.step % every.checkpoint_every == 0:
                run.save()
    except KeyboardInterrupt:
        run.save()
        raise
    finally:
        bar.close()
    run.save()
    if run.dist.enabled:
        difference = max_weight_difference(run.model)
        if main_process:
            print(f"{run.dist.world_size} ranks in sync: max |weight difference| = {difference:.3g}")
        run.close()  # every rank leaves the group now: none waits in a collective while rank 0 analyses
    if main_process:
        if every.analysis:
            final_analysis(run, rows)
        elif not rows or int(rows[-1]["step"]) < run.step:  # the last step's row, evaluated if asked
            if every.eval_every:
                log_evaluation(run, rows, writer)
            else:
                rows.append(metrics_row(run, {}))
                write_metrics(run.dir / "metrics.csv", rows)
        writer.close()
        if writer.tracker is not None:
            finish_wandb(writer.tracker, run.dir)
    return run


class Scalars:
    """The run's scalars to TensorBoard and, with ``--wandb``, the same to Weights & Biases."""

    def __init__(self, tensorboard, tracker=None):
        self.tensorboard, self.tracker = tensorboard, tracker

    def add_scalar(self, name: str, value: float, step: int) -> None:
        self.tensorboard.add_scalar(name, value, step)
        if self.tracker is not None:
            self.tracker.log({name: value}, step=step)

    def close(self) -> None:
        self.tensorboard.close()


def start_wandb(run: Run):
    """A Weights & Biases run for the run directory (resumed with it); ``WANDB_MODE=offline`` keeps
    it on disk."""
    import wandb

    run_id = run.dir.resolve().as_posix().replace("/", "-").strip("-")[-64:]
    return wandb.init(project=run.config.run.wandb_project, name=run.dir.name, id=run_id, resume="allow",
                      dir=str(run.dir), config=run.config.to_dict())


def finish_wandb(tracker, run_dir: Path) -> None:
    """Log the run's figures (``*.png``) and the final scores, then close the W&B run."""
    import wandb

    figures = {f"figures/{path.stem}": wandb.Image(str(path)) for path in sorted(run_dir.glob("*.png"))}
    if figures:
        tracker.log(figures)
    for name in ("eval.json", "ratemaps.json"):
        if (run_dir / name).exists():
            scores = json.loads((run_dir / name).read_text())
            tracker.summary.update({f"{name[:-5]}/{key}": value for key, value in scores.items()
                                    if isinstance(value, (int, float))})
    tracker.finish()


def final_analysis(run: Run, rows: list[dict]) -> None:
    """Evaluate on ``eval.worlds`` held-out worlds, draw the learning curve, then the rate maps:
    eval.json, accuracy_vs_visited.*, learning_curve.png, ratemaps.json and ratemaps_*.png."""
    from analysis.pipeline import evaluate_run, ratemaps_run
    from analysis.plots import plot_learning_curve

    config = run.config
    start = time.perf_counter()
    device = str(run.device)
    scores = evaluate_run(run.dir, config.eval, device=device)
    rows.append(metrics_row(run, scores))
    write_metrics(run.dir / "metrics.csv", rows)
    fig, _ = plot_learning_curve(rows, chance=1 / config.data.n_objects)
    fig.savefig(run.dir / "learning_curve.png", dpi=120, bbox_inches="tight")
    print(f"final ({config.eval.worlds} held-out {scores['world']} worlds, walks of {config.eval.walk_length}): "
          f"link inference {scores['link_inference_acc']:.4f}, first visit {scores['first_visit_acc']:.4f}, "
          f"trained {run.train_seconds:.0f}s")
    maps = ratemaps_run(run.dir, config.ratemaps, device=device)
    if "mec_fraction_grid" in maps:
        print(f"rate maps on {maps['world']}: {maps['mec_fraction_grid_cells']:.2f} of MEC units grid cells "
              f"({maps['mec_distinct_spacing_modules']} distinct spacing modules), "
              f"{maps['hpc_fraction_place']:.2f} of hippocampal units place-like")
    print(f"analysis took {time.perf_counter() - start:.0f}s; everything is in {run.dir}/")
