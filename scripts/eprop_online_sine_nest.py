"""distsnn's online e-prop against NEST 3.10's own online sine-wave example, iteration by iteration.

    python scripts/eprop_online_sine_nest.py --iterations 5 [--nest-python /tmp/anchors-venv-interop/bin/python]

Runs NEST's ``eprop_supervised_regression_sine-waves.py`` (from the NEST sources, its
``n_iter`` cut to ``--iterations``; the source file is read from ``--nest-example``) in
the NEST venv, and the same task in distsnn (:func:`distsnn.learning.tasks.sine_task`'s
weights, feedback and target, which are NEST's draws; NEST's input spikes, which reach
the recurrent neurons two steps after the generator's time; its cutoffs (100 ms, the
recurrent neurons and the readout) and flush interval (1000 ms, the recurrent neurons);
gradient descent once per spike; the target one step later than the interval mode's,
as NEST's generator delivers it) with :class:`~distsnn.learning.OnlineTrainer`. Prints
both loss lists, the largest relative difference, and one line ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

import distsnn as ds
from distsnn.learning import OnlineTrainer, tasks


def distsnn_losses(iterations: int) -> tuple[list[float], float]:
    task = tasks.sine_task(iterations=iterations + 1)
    net0 = task.network
    steps, n_in = task.extra["steps"], task.extra["n_in"]
    rng = np.random.RandomState(task.extra["seed"])
    for shape in ((n_in, task.extra["n_rec"]), (task.extra["n_rec"],) * 2, (task.extra["n_rec"], 1),
                  (task.extra["n_rec"], 1)):
        rng.randn(*shape)                                   # the weights, drawn as NEST's script does
    spikes = (rng.rand(steps, n_in) < 0.05).swapaxes(0, 1)
    # NEST: generator at k + 1 ms (k: step of the sequence), parrot spike stamped k + 2
    times = [(np.flatnonzero(row)[:, None] + 2 + steps * np.arange(iterations + 1)[None, :]).T.ravel().astype(float)
             for row in spikes]
    net = ds.Network(dt=1.0, seed=net0.seed, t_stop=float(steps * (iterations + 1) + 5))
    net.add_population("in", n_in, "spike_train", {"times": [t.tolist() for t in times]})
    for name in ("rec", "out"):
        p = net0.populations[name]
        params = {k: v for k, v in vars(p.params).items() if not (k == "V_min" and v == -np.inf)}
        net.add_population(name, p.size, p.model, params, initial={"V_m": 0.0})
    for name, p in net0.projections.items():
        net.add_projection(p.pre, p.post, p.connector, "delta", weight=np.asarray(p.weight.values), delay=1.0)
    sim = ds.Simulation(net)
    sim.advance(1.0)          # NEST's target reaches the readout from 3 ms: one step after the interval mode's
    tr = OnlineTrainer(sim, task.plastic, task.target, feedback=task.feedback,
                       optimizer=dict(task.optimizer, optimize_each_step=False),
                       isi_trace_cutoff={"rec": 100.0, "out": 100.0}, flush_interval={"rec": 1000.0})
    t0 = time.perf_counter()
    res = tr.train(iterations)
    return res.loss, time.perf_counter() - t0


def nest_losses(iterations: int, python: str, example: str) -> tuple[list[float], float]:
    src = open(example).read()
    src = re.sub(r"^n_iter = \d+", f"n_iter = {iterations}", src, flags=re.M)
    # only the simulation and the loss: no plotting packages needed
    src = re.sub(r"^(import matplotlib.*|from cycler import .*|from IPython.display import .*)$", "", src, flags=re.M)
    cut = src.index("# Plot results")
    src = src[:cut] + "\nprint('LOSS', json.dumps([float(x) for x in loss]))\n"
    src = "import json\nimport time\n_t0 = time.perf_counter()\n" + src.replace(
        "print('LOSS'", "print('WALL', time.perf_counter() - _t0)\nprint('LOSS'")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(src)
    try:
        out = subprocess.run([python, f.name], capture_output=True, text=True, timeout=3600,
                             env=dict(os.environ, MPLBACKEND="Agg"))
    finally:
        os.unlink(f.name)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    loss = json.loads(out.stdout.split("LOSS", 1)[1].strip().splitlines()[0])
    wall = float(out.stdout.split("WALL", 1)[1].split()[0])
    return loss, wall


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--nest-python", default="/tmp/anchors-venv-interop/bin/python")
    ap.add_argument("--nest-example", default="/tmp/eo/nest_sine.py",
                    help="NEST 3.10's pynest/examples/eprop_plasticity/eprop_supervised_regression_sine-waves.py")
    a = ap.parse_args()
    ours, wall = distsnn_losses(a.iterations)
    theirs, nest_wall = nest_losses(a.iterations, a.nest_python, a.nest_example)
    rel = float(np.max(np.abs(np.array(ours) - np.array(theirs)) / np.abs(np.array(theirs))))
    print("distsnn", ours)
    print("NEST   ", theirs)
    print(f"largest relative difference {rel:.3g}; training wall distsnn {wall:.1f} s, NEST (whole script) "
          f"{nest_wall:.1f} s")
    print("RESULT " + json.dumps({"loss": ours, "nest_loss": theirs, "iterations": a.iterations, "ranks": 1,
                                  "wall_s": wall, "nest_wall_s": nest_wall, "max_rel_diff": rel}))
    sys.exit(0)
