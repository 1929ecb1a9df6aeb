"""One training process per run folder: an exclusive OS file lock, held for the life of the process.

Two `training.run` processes started on the same `--run_dir` (or two `--resume`s at once) would
otherwise both train: their checkpoints interleave and config.json holds one of them. The lock is
`flock` on `RUN/.lock` (`biogans_tf.io_utils.open_lock`): the kernel releases it when the process
ends in any way (exit, crash, SIGKILL), so a stale lock never blocks a user. The file holds the
holder's pid, which the refusal names. (Linux and macOS; on a network file system `flock` is only
as good as the server's locks.)
"""

from __future__ import annotations

import os

from biogans_tf.io_utils import LockBusyError, open_lock, release_lock
from biogans_tf.trainer.errors import ConfigError

LOCK_NAME = ".lock"


class RunLock:
    """The held lock of one run folder; keep the object alive while training (closing releases it)."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOCK_NAME)
        self._file = None

    def acquire(self) -> RunLock:
        """Take the lock or fail at once.

        Raises:
            ConfigError: another live process holds it; the message names its pid.
        """
        try:
            self._file = open_lock(self.path, wait=False)
        except LockBusyError as e:
            folder = os.path.dirname(self.path)
            raise ConfigError(
                f"--run_dir={folder} is in use by another training process (pid {e.holder}); wait for it "
                "to finish, stop it, or choose another --run_dir"
            ) from None
        return self

    def release(self) -> None:
        """Release the lock (also done by the kernel when the process ends)."""
        if self._file is not None:
            release_lock(self._file)
            self._file = None
