"""Data tools in one command: `biogans-data COMMAND [flags]` (or `python -m training.data COMMAND`).

    biogans-data simulate --out data/sim --n_train 1000 --n_test 200 --seed 0 --joint
    biogans-data inspect /data/LIN_Normalized_WT_size-48-80.zip --verify
    biogans-data neighbours --data data/sim --split train --k 5 --out nn.npz
    biogans-data calibrate --n 500 --seed 0 --figure runs/calibration/real_vs_sim.png

Commands (each one module, `biogans_tf/training/data_<command>.py`):
  simulate    write a simulated LIN-like dataset           (biogans_tf.data.simulator)
  inspect     summarise / verify a dataset                 (biogans_tf.data.sources)
  neighbours  mine red-channel nearest neighbours          (biogans_tf.data.neighbours)
  calibrate   compare simulated with the real LIN cells    (biogans_tf.data.calibration)

`biogans-data COMMAND --help` lists the flags of one command.
"""

from __future__ import annotations

import sys

from biogans_tf.cli import quiet_tensorflow
from biogans_tf.training import data_calibrate, data_inspect, data_neighbours, data_simulate

COMMANDS = {
    "simulate": data_simulate.main,
    "inspect": data_inspect.main,
    "neighbours": data_neighbours.main,
    "calibrate": data_calibrate.main,
}


def main(argv=None) -> int:
    """Dispatch `argv` (without the program name) to the command's `main`; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_tensorflow()
    if not argv or argv[0] in ("--help", "-h", "--helpshort", "--helpfull", "help"):
        print(__doc__.strip())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    status = COMMANDS[command](rest)
    return int(status or 0)


def cli() -> None:
    """Console script `biogans-data`."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
