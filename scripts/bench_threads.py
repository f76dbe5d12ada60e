#!/usr/bin/env python
"""Brunel (``bench_brunel.py``'s network) as ranks x threads: 1 x 1, 1 x 2, 2 x 1 and
2 x 2 by default, each a fresh process (``profile_brunel.py``) after a warm-up, the
configurations taken in turn ``--repeat`` times so that a loaded machine hits them
alike. Prints wall and CPU seconds of the slowest rank per run, the parts (Poisson
injection, update, delivery, exchange, rest) of the best run, and that the spike counts
agree.

    .venv/bin/python scripts/bench_threads.py --neurons 12500 --time-ms 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(ranks: int, threads: int, args: argparse.Namespace) -> list[dict]:
    py = sys.executable
    cmd = [py, os.path.join(HERE, "profile_brunel.py"), "--neurons", str(args.neurons), "--time-ms",
           str(args.time_ms), "--threads", str(threads)]
    if ranks > 1:
        cmd = [os.path.join(os.path.dirname(py), "mpiexec"), "-n", str(ranks)] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return [json.loads(line[len("PROFILE "):]) for line in proc.stdout.splitlines() if line.startswith("PROFILE ")]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, default=12500)
    ap.add_argument("--time-ms", type=float, default=1000.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--configs", default="1x1,1x2,2x1,2x2", help="RANKSxTHREADS, comma-separated")
    args = ap.parse_args(argv)
    configs = [tuple(int(x) for x in c.split("x")) for c in args.configs.split(",")]
    run(1, 1, argparse.Namespace(neurons=200, time_ms=20.0))       # compile / load the kernels
    runs: dict[tuple[int, int], list[list[dict]]] = {c: [] for c in configs}
    for _ in range(args.repeat):
        for c in configs:
            runs[c].append(run(*c, args))
    print(f"Brunel {args.neurons} neurons, {args.time_ms:g} ms; {args.repeat} runs each (taken in turn); "
          f"wall and CPU s of the slowest rank")
    print(f"{'ranks x threads':>15} {'wall s (runs)':>24} {'best':>6} {'CPU s':>6}  parts of the best run "
          f"(wall s: poisson, advance, deliver, exchange, other)")
    spikes = set()
    for c, rs in runs.items():
        walls = [max(r["wall"] for r in ranks) for ranks in rs]
        best = rs[walls.index(min(walls))]
        slow = max(best, key=lambda r: r["wall"])
        spikes.add(sum(r["spikes"] for r in best))
        p = slow["parts"]
        parts = ", ".join(f"{p.get(k, (0.0,))[0]:.2f}" for k in ("poisson", "advance", "deliver_long", "exchange",
                                                                   "other"))
        print(f"{c[0]:>9} x {c[1]:<3} {' '.join(f'{w:.2f}' for w in walls):>24} {min(walls):6.2f} "
              f"{max(r['cpu'] for r in best):6.2f}  {parts}")
    print("spike counts agree" if len(spikes) == 1 else f"SPIKE COUNTS DIFFER: {sorted(spikes)}")


if __name__ == "__main__":
    main()
