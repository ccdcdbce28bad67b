"""Train a cognitive-map model (TEM-t or TEM) on random walks in a family of worlds.

    python train.py --preset quick                     # ~1 minute on 2 CPU cores, writes runs/quick/
    python train.py --resume runs/quick --steps 800    # continue a run where it stopped
    python train.py --help                             # every config field as a flag

Everything the run writes is in its directory: config.json, checkpoint.pt, metrics.csv, tb/
(TensorBoard), eval.json, learning_curve.png and the rate maps. Installed as ``tem-train`` too.
"""
import gc
import sys

from tem.training.cli import main

if __name__ == "__main__":
    code = main()
    gc.freeze()  # all is written: skip the interpreter's last collection over torch's many objects (~0.4 s)
    sys.exit(code)
