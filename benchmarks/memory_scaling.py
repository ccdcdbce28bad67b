"""Memory use and step time of TEM-t against walk length, per hippocampal memory backend.

    python benchmarks/memory_scaling.py --memories attention,sdm --walk-lengths 1000,10000,100000 --batch 16
    python benchmarks/memory_scaling.py --device cuda --batch 256

For each (memory, walk length L) a fresh subprocess builds the quick-preset TEM-t, fills the
memory of every batch slot with the ``L - window`` earlier steps of a walk, and times full
training steps (forward, backward, Adam) on the walk's last window: the time per window at that
memory size (median and fastest of ``--repeats``), with the state held fixed so every timed step
sees the same size. It reports the
bytes of the carried memory state, the peak RSS of the process during the timed steps
(``VmHWM`` reset after filling: weights, state and the step's working memory) and what the steps
added to the RSS of the filled state; on CUDA also the peak GPU memory allocated during the timed
steps and what they added to the filled state's (the clock is read after ``torch.cuda.synchronize()``).
Attention stores
every step (its state grows as ``L``); the SDM state is ``(B, m, value_dim)`` whatever ``L``.
The attention state is filled directly with random keys/values (filling it through the model would
cost O(L^2)); other memories are filled by writing random keys/values through ``forward`` in
chunks, which is what a walk does. Prints a table and writes JSON (``--out``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _status_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0), so the peak covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def fill_memory(memory, state: dict, n_steps: int, generator, chunk: int = 50) -> dict:
    """State of ``memory`` after ``n_steps`` writes of random unit keys and random values, on the
    state's device (drawn from the CPU ``generator``, so every device sees the same numbers)."""
    import torch

    from tem.memory import AttentionMemory

    first = next(iter(state.values()))
    B, device = first.shape[0], first.device

    def randn(*shape):
        return torch.randn(*shape, generator=generator).to(device)

    if isinstance(memory, AttentionMemory):
        return {"keys": randn(B, n_steps, memory.key_dim), "values": randn(B, n_steps, memory.value_dim),
                "valid": torch.ones(B, n_steps, dtype=torch.bool, device=device),
                "written": torch.full((B,), n_steps, dtype=torch.long, device=device)}
    key_dim, value_dim = memory.key_dim, memory.value_dim
    with torch.no_grad():
        for start in range(0, n_steps, chunk):
            T = min(chunk, n_steps - start)
            key = randn(B, T, key_dim)
            state = memory(key, key, randn(B, T, value_dim), state, query_is_key=True).state
    return state


def measure_one(memory_name: str, walk_length: int, batch: int, window: int, repeats: int,
                device: str = "cpu") -> dict:
    """Run in a child process: one (memory, walk length) configuration."""
    import torch

    from envs import WalkSampler, make_worlds
    from tem.checkpoint import build_model
    from tem.model import Task, map_state
    from tem.training import make_config

    config = make_config("quick", {"memory": memory_name, "batch": batch, "window": window,
                                   "walk_length": walk_length, "seed": 0, "out": "/tmp/unused"})
    worlds = make_worlds(config.data.world)
    torch.manual_seed(0)
    device = torch.device(device)
    cuda = device.type == "cuda"
    model = build_model(config.model, Task.from_world(worlds[0], config.data.n_objects)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    state = model.initial_state(batch, device)
    start = time.perf_counter()
    state["memory"] = fill_memory(model.memory, state["memory"], walk_length - window, generator)
    _synchronize(device)
    fill_seconds = time.perf_counter() - start
    state_bytes = [0]
    map_state(lambda t: state_bytes.__setitem__(0, state_bytes[0] + t.numel() * t.element_size()), state)
    batch_ = WalkSampler(worlds, batch, window, walk_length, n_objects=config.data.n_objects, seed=0).next_window()
    obs = torch.as_tensor(batch_.obs, device=device)
    action = torch.as_tensor(batch_.action, device=device).clamp(min=0)
    new_world = torch.zeros(batch, dtype=torch.bool, device=device)  # continue the filled walk
    rss_before = _status_mb("VmRSS")
    _reset_peak_rss()  # the peak below is that of the training steps, not of filling the memory
    if cuda:
        gpu_before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(repeats + 1):  # the first step is a warm-up
        _synchronize(device)
        t0 = time.perf_counter()
        out = model(obs, action, new_world, state)
        loss = model.losses(out, obs, 0)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _synchronize(device)
        if i:
            times.append(time.perf_counter() - t0)
    step, fastest = sorted(times)[len(times) // 2], min(times)
    peak = _status_mb("VmHWM")
    gpu = {}
    if cuda:
        gpu_peak = torch.cuda.max_memory_allocated(device) / 2 ** 20
        gpu = {"peak_gpu_mb": round(gpu_peak), "step_gpu_mb": round(gpu_peak - gpu_before / 2 ** 20)}
    return {"memory": memory_name, "walk_length": walk_length, "memories_held": walk_length - window,
            "batch": batch, "window": window, "device": str(device), "state_mb": round(state_bytes[0] / 2 ** 20, 1),
            "peak_rss_mb": round(peak), "step_rss_mb": round(peak - rss_before), **gpu, "step_ms": round(1e3 * step, 1),
            "step_ms_min": round(1e3 * fastest, 1), "env_steps_per_s": round(batch * window / step),
            "fill_seconds": round(fill_seconds, 1),
            "threads": torch.get_num_threads(), "repeats": repeats, "torch": torch.__version__}


def _synchronize(device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so the clock counts it."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", default="attention,sdm")
    parser.add_argument("--walk-lengths", default="1000,10000,100000")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per configuration (median)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: 2 threads on 2 busy shared cores gave 40x slower, erratic steps)")
    parser.add_argument("--out", default="runs/memory_scaling.json")
    parser.add_argument("--one", nargs=2, metavar=("MEMORY", "WALK_LENGTH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(measure_one(args.one[0], int(args.one[1]), args.batch, args.window, args.repeats,
                                     args.device)))
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    rows = []
    for name in args.memories.split(","):
        for length in (int(x) for x in args.walk_lengths.split(",")):
            command = [sys.executable, __file__, "--one", name, str(length), "--batch", str(args.batch),
                       "--window", str(args.window), "--repeats", str(args.repeats), "--threads", str(args.threads),
                       "--device", args.device]
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
            if done.returncode != 0:
                rows.append({"memory": name, "walk_length": length, "error": done.stderr.strip().splitlines()[-1:]})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    gpu = args.device.startswith("cuda")
    print(f"{'memory':<10} {'walk':>7} {'state MB':>9} {'peak RSS MB':>12} {'step RSS MB':>12} "
          + (f"{'peak GPU MB':>12} {'step GPU MB':>12} " if gpu else "")
          + f"{'ms/step':>9} {'min ms':>8} {'env-steps/s':>12}")
    for r in rows:
        if "error" in r:
            print(f"{r['memory']:<10} {r['walk_length']:>7} failed: {r['error']}")
            continue
        print(f"{r['memory']:<10} {r['walk_length']:>7} {r['state_mb']:>9} {r['peak_rss_mb']:>12} "
              f"{r['step_rss_mb']:>12} "
              + (f"{r['peak_gpu_mb']:>12} {r['step_gpu_mb']:>12} " if gpu else "")
              + f"{r['step_ms']:>9} {r['step_ms_min']:>8} {r['env_steps_per_s']:>12}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    out.write_text(json.dumps({"rows": rows, "load_average": load, "batch": args.batch, "window": args.window,
                               "device": args.device},
                              indent=2) + "\n")
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
