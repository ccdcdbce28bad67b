"""--wandb: the TensorBoard scalars mirrored and the final figures logged to Weights & Biases (offline)."""
import importlib.util

import pytest

from tem.training.cli import main as train_main

TINY = ["--steps", "3", "--batch", "4", "--window", "8", "--walk-length", "24", "--world", "square:4", "--n-objects",
        "6", "--temt.module-sizes", "8", "--temt.sensory-dim", "8", "--temt.key-dim", "8", "--eval-every", "0",
        "--threads", "1"]
SMALL_ANALYSIS = ["--eval.worlds", "2", "--eval.walk-length", "40", "--ratemaps.walk-length", "200",
                  "--ratemaps.units", "4", "--ratemaps.shuffles", "2"]


def test_wandb_offline_run_holds_the_scalars_and_figures(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logged, log = [], wandb.sdk.wandb_run.Run.log

    def spy(self, data, *args, **kwargs):
        logged.append((kwargs.get("step"), set(data)))
        return log(self, data, *args, **kwargs)

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "log", spy)
    out = tmp_path / "run"
    assert train_main([*TINY, *SMALL_ANALYSIS, "--log-every", "1", "--wandb", "--out", str(out)]) == 0
    (offline,) = (out / "wandb").glob("offline-run-*")
    figures = {path.name.rsplit("_", 2)[0] for path in (offline / "files" / "media" / "images" / "figures").iterdir()}
    assert {"learning_curve", "ratemaps_mec", "ratemaps_hpc"} <= figures
    scalars = {(step, name) for step, names in logged for name in names if step is not None}
    assert {(step, "losses/total") for step in (1, 2, 3)} <= scalars  # what TensorBoard gets, step by step
    assert (3, "charts/train_accuracy") in scalars


def test_wandb_without_the_package_says_which_extra_to_install(tmp_path, monkeypatch, capsys):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else find_spec(name, *a))
    assert train_main([*TINY, "--no-analysis", "--wandb", "--out", str(tmp_path / "run")]) == 2
    assert '.[wandb]' in capsys.readouterr().err
