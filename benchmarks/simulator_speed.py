"""Simulator throughput: cells/s for simulate() at 48x80 and 96x160 and for write_dataset (PNG).

    python benchmarks/simulator_speed.py [--n 2000] [--threads N]

Prints one line per measurement and, last, `cells_per_s=<float>` (simulate() at 48x80).
The best of `--repeats` runs is reported (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from biogans_tf.data import simulator  # noqa: E402
from biogans_tf.data.sim import writer  # noqa: E402


def best_rate(fn, n: int, repeats: int, cpu: list | None = None) -> float:
    """Best wall-clock rate over `repeats` runs; appends the CPU-time rate to `cpu` if given."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    if cpu is not None:
        cpu.append(n / best_cpu)
    return n / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="cells per measurement at 48x80")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="simulator threads (0 = all usable cores)")
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["BIOGANS_SIM_THREADS"] = str(args.threads)
    print("command:", " ".join([os.path.basename(sys.executable)] + sys.argv))
    print(f"cpus usable: {len(os.sched_getaffinity(0))}, simulator threads: {simulator._threads()}")
    simulator.simulate("Arp3", 64, 0)  # warm-up (imports, allocations)
    proteins = simulator.SIM_PROTEINS
    per = max(args.n // len(proteins), 1)
    n_all = per * len(proteins)

    def all_proteins(size, count):
        for p in proteins:
            simulator.simulate(p, count, 1, image_size=size)

    cpu = []
    rate_small = best_rate(lambda: all_proteins((48, 80), per), n_all, args.repeats, cpu)
    load = os.getloadavg()[0]
    print(
        f"simulate 48x80: {rate_small:.1f} cells/s ({n_all} cells, all 8 proteins; load average {load:.1f})"
    )
    # On a shared machine wall-clock rates depend on the load; cells per CPU-second do not.
    print(f"simulate 48x80: {cpu[0]:.1f} cells per CPU-second (all threads together)")
    per_big = max(per // 4, 1)
    rate_big = best_rate(lambda: all_proteins((96, 160), per_big), per_big * len(proteins), args.repeats)
    print(f"simulate 96x160: {rate_big:.1f} cells/s ({per_big * len(proteins)} cells)")
    n_joint = max(args.n // 8, 1)
    rate_joint = best_rate(lambda: simulator.simulate_joint(proteins, n_joint, 1), n_joint, args.repeats)
    print(f"simulate_joint 48x80 x 8 greens: {rate_joint:.1f} cells/s ({n_joint} cells)")
    tmp = tempfile.mkdtemp(prefix="simbench-")
    try:
        n_train = max(per // 2, 1)
        rate_write = best_rate(
            lambda: writer.write_dataset(os.path.join(tmp, "ds"), n_train, 0, 1),
            n_train * len(proteins),
            1,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"write_dataset 48x80 incl. PNG encoding: {rate_write:.1f} cells/s ({n_train * len(proteins)} cells)"
    )
    print(f"cells_per_s={rate_small:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
