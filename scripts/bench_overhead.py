#!/usr/bin/env python
"""Per-step overhead: a network without synapses, timed after compilation.

    .venv/bin/python scripts/bench_overhead.py --neurons 1000 --steps 10000

Each model (``lif`` and ``lif_cond`` by default) gets one population of ``--neurons``
neurons driven by a constant current (so that they spike, ~50 Hz), with a spike
monitor; a first short run compiles (or loads) the kernels, then ``--steps`` steps are
timed. ``--sample-every K`` adds a ``V_m`` monitor on 10 neurons every K steps (each
sample ends a compiled call). Prints wall seconds, microseconds per step and the CPU
seconds of the process (the figure to read on a shared machine), and one
``RESULT {json}`` line per model.
"""

from __future__ import annotations

import argparse
import json
import time

import distsnn as ds

DRIVE = {"lif": dict(I_e=400.0), "lif_cond": dict(I_e=300.0)}


def network(model: str, n: int, steps: int, sample_every: int) -> ds.Network:
    net = ds.Network(dt=0.1, seed=1, t_stop=steps * 0.1)
    net.add_population("p", n, model, DRIVE.get(model, {}), {"V_m": ds.Uniform(-70.0, -56.0)})
    net.add_spike_monitor("p")
    if sample_every:
        net.add_state_monitor("p", ["V_m"], neurons=list(range(min(10, n))), interval=sample_every * 0.1)
    return net


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--sample-every", type=int, default=0, help="steps between V_m samples (0: none)")
    ap.add_argument("--models", nargs="+", default=["lif", "lif_cond"])
    args = ap.parse_args(argv)
    for model in args.models:
        net = network(model, args.neurons, args.steps, args.sample_every)
        ds.Simulation(net, max_memory=None).run(10.0)          # compile or load the cache
        sim = ds.Simulation(net, max_memory=None)
        t, c = time.perf_counter(), time.process_time()
        sim.advance()
        sec, cpu = time.perf_counter() - t, time.process_time() - c
        s = sim.summary()
        out = dict(bench="overhead", model=model, N=args.neurons, steps=args.steps,
                   sample_every=args.sample_every, sim_s=sec, cpu_s=cpu, us_per_step=1e6 * sec / args.steps,
                   spikes=s["spikes"], rate_hz=s["mean_rate_hz"])
        print(f"{model:>9}: {args.neurons} neurons x {args.steps} steps in {sec:.4f} s "
              f"({out['us_per_step']:.2f} us/step; CPU {cpu:.4f} s; {s['mean_rate_hz']:.1f} Hz)")
        print("RESULT " + json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
