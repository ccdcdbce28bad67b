"""torchrun: two CPU processes (gloo) train one model on their own walks and stay in sync."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--batch", "4", "--window", "8", "--walk-length", "24", "--world", "square:4", "--n-objects", "6",
        "--temt.module-sizes", "8", "--temt.sensory-dim", "8", "--temt.key-dim", "8", "--eval-every", "0", "--threads", "1",
        "--no-analysis", "--checkpoint-every", "100"]


def torchrun(*args):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "train.py", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def why(result) -> str:
    """The ranks' own error lines first (torchrun's summary traceback comes last and is long)."""
    return result.stderr[:3000] + "\n...\n" + result.stderr[-1000:]


def test_two_ranks_train_in_sync_on_their_own_walks_and_resume(tmp_path):
    out = tmp_path / "ddp"
    result = torchrun(*TINY, "--steps", "4", "--out", str(out))
    assert result.returncode == 0, why(result)
    assert "2 ranks in sync: max |weight difference| = 0" in result.stdout
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    other = torch.load(out / "rank1.pt", weights_only=True)
    assert checkpoint["world_size"] == 2 and checkpoint["step"] == other["step"] == 4
    assert not np.array_equal(checkpoint["sampler"]["objects"], other["sampler"]["objects"])  # own worlds
    result = torchrun("--resume", str(out), "--steps", "6")
    assert result.returncode == 0, why(result)
    assert "2 ranks in sync: max |weight difference| = 0" in result.stdout
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 6


def test_resuming_with_another_number_of_processes_is_refused(tmp_path):
    out = tmp_path / "ddp"
    result = torchrun(*TINY, "--steps", "2", "--out", str(out))
    assert result.returncode == 0, why(result)
    result = subprocess.run([sys.executable, "train.py", "--resume", str(out)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "processes" in result.stderr


def test_ranks_leave_together_before_rank_0_analyses(tmp_path):
    """With the end-of-run analysis on, both ranks exit cleanly, twice: every rank leaves the process
    group before rank 0 analyses (no rank waits in a collective meanwhile)."""
    analysis = [arg for arg in TINY if arg != "--no-analysis"]
    small = ["--eval.worlds", "2", "--eval.walk-length", "40", "--ratemaps.walk-length", "200", "--ratemaps.units", "4",
             "--ratemaps.shuffles", "2"]
    for attempt in range(2):
        out = tmp_path / f"ddp{attempt}"
        result = torchrun(*analysis, *small, "--steps", "2", "--out", str(out))
        assert result.returncode == 0, why(result)
        assert (out / "eval.json").exists() and (out / "ratemaps.json").exists()
