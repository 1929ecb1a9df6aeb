"""Test hooks of `training.run`: flags that only tests set, defined here to keep them out of --help.

absl's `--help` (through `biogans_tf.cli`) lists the flags of the program's own module; these
live in this module, so only `--helpfull` shows them. They change no result of a healthy run.
"""

from absl import flags

flags.DEFINE_integer("debug_nan_at", -1, "TEST HOOK: poison the real batch with NaN at this iteration")
flags.DEFINE_float("debug_step_delay", 0.0, "TEST HOOK: sleep this many seconds per iteration")
