"""`python -m training.run`, sleeping SECONDS after each generator iteration (so a test can kill it).

    python -m tests.training.slow_run SECONDS [training.run flags ...]

A test-side hook: the training program has no such flag. The sleep follows the checkpoint writer's
work of the iteration, so the run is killed between iterations, as a real kill usually lands.
"""

import sys
import time

from biogans_tf.trainer import callbacks


def main():
    seconds = float(sys.argv.pop(1))
    save_if_due = callbacks.CheckpointWriter.on_iteration_end

    def save_then_sleep(self, step, logs):
        save_if_due(self, step, logs)
        time.sleep(seconds)

    callbacks.CheckpointWriter.on_iteration_end = save_then_sleep
    from biogans_tf.training import run

    run.cli()


if __name__ == "__main__":
    main()
