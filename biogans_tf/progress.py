"""Progress bars for long work (training, simulation, neighbour mining, C2ST, reconstruction).

One rule everywhere: a tqdm bar on stderr when stderr is a terminal, nothing (or the caller's own
log lines) when it is not, so logs, CI output and parent processes do not fill up with
carriage-return redraws. `enabled=True/False` overrides the detection.
"""

from __future__ import annotations

import shutil
import sys


def stderr_is_tty() -> bool:
    """True when stderr is an interactive terminal (False for pipes, files, notebooks)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def bar(total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0, enabled=None):
    """A tqdm bar on stderr, or a no-op bar with the same methods.

    Args:
        total: number of units (None: unknown).
        desc: label in front of the bar.
        unit: unit name shown in the rate.
        initial: units already done (resumed work).
        enabled: True/False forces the bar on/off; None: on exactly when stderr is a terminal.

    Returns:
        an object with `update(n)`, `set_postfix(dict, refresh=False)`, `n` and `close()`; usable as a
        context manager.
    """
    if enabled is None:
        enabled = stderr_is_tty()
    if not enabled:
        return _NoBar(initial)
    from tqdm import tqdm

    # A terminal that reports 0x0 (a bare pty, some CI consoles) makes tqdm draw nothing
    # (it computes -1 rows); fall back to 100x20 there.
    size = shutil.get_terminal_size((100, 20))
    cols = size.columns if size.columns > 0 else 100
    rows = size.lines if size.lines > 1 else 20
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, ncols=cols, nrows=rows, file=sys.stderr)


class _NoBar:
    """Stand-in for a disabled bar: counts but prints nothing."""

    def __init__(self, initial: int = 0):
        self.n = initial

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
