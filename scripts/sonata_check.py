"""Run the SONATA 300-point-neuron example (../shared/fixtures) for its full 1,500 ms on
1-4 MPI ranks and print the connections and internal spikes against NEST 3.10's 48,432
and 18,828, with the wall time of each run and the edge rows each rank read.

    .venv/bin/python scripts/sonata_check.py [--ranks 1 2 3 4] [--partitioner metis]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "sonata", "300_pointneurons",
                      "simulation_config.json")
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--partitioner", default="metis")
    ap.add_argument("--t-stop", type=float, default=1500.0)
    args = ap.parse_args()
    if not os.path.isfile(CONFIG):
        print(f"sonata_check: fixture not found: {CONFIG}", file=sys.stderr)
        return 1
    rows = []
    for n in args.ranks:
        t0 = time.perf_counter()
        proc = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, "tests/mpi/run_sonata.py", CONFIG,
                               str(args.t_stop), args.partitioner], capture_output=True, text=True,
                              timeout=3600, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
        wall = time.perf_counter() - t0
        if proc.returncode:
            print(proc.stderr[-2000:], file=sys.stderr)
            return 1
        out = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
        reads = [sum(r["rows_read"].values()) for r in out["ranks"]]
        row = {"ranks": n, "connections": out["synapses"], "internal_spikes": out["spikes"].get("internal", 0),
               "rows_read_per_rank": reads, "wall_s": round(wall, 1)}
        rows.append(row)
        print(f"{n} ranks: {row['connections']} connections (NEST 48432), {row['internal_spikes']} internal "
              f"spikes (NEST 18828), rows read per rank {reads}, {wall:.1f} s", flush=True)
    print("RESULT " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
