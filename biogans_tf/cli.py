"""What every biogans-tf command line shares: absl flags, help, lists, choices, quiet TensorFlow.

Each program (training/run.py, export/saved_model.py, serving/server.py, ...) defines its flags
with absl at import time, imports TensorFlow only inside its `main`, and starts through `run`:

- `--help` (also `-h`, `--helpshort`) prints the program's usage and its own flags to stdout and
  exits 0 before anything heavy is imported; `--helpfull` adds absl's flags. (absl alone exits 1
  and, for a console script such as `biogans-train`, lists no flags: it looks them up under the
  script's file name.) Flags defined in another module (test hooks) are left out of `--help`.
- TensorFlow's C++ INFO/WARNING lines are silenced unless `TF_CPP_MIN_LOG_LEVEL` is set.

This module imports only absl and the standard library.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from absl import app, flags

HELP_ARGS = frozenset({"--help", "-help", "-h", "--helpshort", "-helpshort", "-?"})
HELPFULL_ARGS = frozenset({"--helpfull", "-helpfull"})


class UsageError(ValueError):
    """A bad flag value; the message names the flag and what was expected."""


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ INFO and WARNING lines (call before TensorFlow is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def flag_module_key(module_name: str) -> str:
    """The name absl files a module's flags under (`sys.argv[0]` for `__main__`, as absl does)."""
    return sys.argv[0] if module_name == "__main__" else module_name


def help_text(usage: str, module_name: str, flag_values=None, full: bool = False) -> str:
    """Usage text followed by the flags the program's own module defines (or every flag)."""
    fv = flags.FLAGS if flag_values is None else flag_values
    body = fv.get_help() if full else fv.module_help(flag_module_key(module_name))
    text = usage.strip() + "\n"
    if body.strip():
        text += "\nflags:\n" + body.rstrip() + "\n"
    if not full:
        text += "\nTry --helpfull to list absl's own flags as well.\n"
    return text


def split_list(text) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']: the one list syntax of every command (comma-separated)."""
    if text is None:
        return []
    if isinstance(text, list | tuple):
        items = [str(t) for t in text]
    else:
        items = str(text).split(",")
    return [t.strip() for t in items if t.strip()]


def check_choice(flag: str, value: str, allowed: Sequence[str]) -> str:
    """`value` if it is one of `allowed`, else a `UsageError` that lists the allowed values."""
    if value not in allowed:
        raise UsageError(f"--{flag}={value!r}: expected one of {', '.join(allowed)}")
    return value


def handle_help(usage: str, module_name: str, argv: Sequence[str], flag_values=None) -> None:
    """Print help and exit 0 when `argv` asks for it; otherwise return."""
    args = list(argv[1:])
    if "--" in args:
        args = args[: args.index("--")]
    full = any(a in HELPFULL_ARGS for a in args)
    if full or any(a in HELP_ARGS for a in args):
        sys.stdout.write(help_text(usage, module_name, flag_values, full=full))
        sys.stdout.flush()
        sys.exit(0)


def parse(define: Callable, argv, usage: str, module_name: str, prog: str):
    """Parse `argv` (without the program name) with a fresh `FlagValues` that `define(fv)` fills.

    For programs that are also library modules (`biogans_tf.data.simulator`, ...) and may be
    called many times in one process. `--help` prints and exits 0 here.

    Returns:
        `(flag_values, positional arguments)`.

    Raises:
        UsageError: one line naming the flag and what was expected.
    """
    fv = flags.FlagValues()
    define(fv)
    argv = list(sys.argv[1:] if argv is None else argv)
    handle_help(usage, module_name, [prog, *argv], fv)
    try:
        rest = fv([prog, *argv])[1:]
    except flags.Error as e:
        raise UsageError(f"{e} (see --help)") from None
    return fv, rest


def run(main: Callable[[list[str]], int | None], usage: str, module_name: str, argv=None) -> None:
    """Start an absl program: help, quiet TensorFlow, then `app.run(main)`; exits with main's status.

    Args:
        main: `main(argv) -> exit status`; argv[1:] holds what is left after the flags.
        usage: the program's usage text (its module docstring).
        module_name: the program module's `__name__` (selects the flags `--help` lists).
        argv: defaults to `sys.argv`.
    """
    argv = list(sys.argv if argv is None else argv)
    quiet_tensorflow()
    handle_help(usage, module_name, argv)

    def _main(remaining):
        try:
            status = main(remaining)
        except UsageError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
        sys.exit(0 if status is None else status)

    app.run(_main, argv=argv)
