"""What every biogans-tf command line shares: absl flags, help, lists, choices, quiet TensorFlow.

Each program (training/run.py, export/saved_model.py, serving/server.py, ...) defines its flags
with absl at import time, imports TensorFlow only inside its `main`, and starts through `run`:

- `--help` (also `-h`, `--helpshort`) prints the program's usage and its own flags to stdout and
  exits 0 before anything heavy is imported; `--helpfull` adds absl's flags. (absl alone exits 1
  and, for a console script such as `biogans-train`, lists no flags: it looks them up under the
  script's file name.) Flags defined in another module (test hooks) are left out of `--help`.
- TensorFlow's C++ INFO/WARNING lines are silenced unless `TF_CPP_MIN_LOG_LEVEL` is set.
- TensorFlow's oneDNN kernels are turned on where TensorFlow would leave them off and the user has
  not set `TF_ENABLE_ONEDNN_OPTS` (`biogans_tf.cpu.prefer_onednn`; one line on stderr says so).
- An error that the program does not report itself ends in one line with its cause (for a
  TensorFlow op, the op and the kernel's message) and the path of a log file with the traceback
  (`biogans_tf.failure`), exit status 1.

`define_flags` generates a program's flags from the `biogans_tf.options.option` fields of its
configuration dataclass (one pattern for every command). This module imports only absl, the standard
library and small modules of this package (no TensorFlow).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence

from absl import app, flags

from biogans_tf.cpu import prefer_onednn
from biogans_tf.failure import failure_line
from biogans_tf.named import Named

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


def _base_type(hint):
    """`int | None` -> int, `tuple[str, ...] | None` -> tuple: the type a flag must parse."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def define_flags(cls, module_name: str, flag_values=None) -> None:
    """Define one absl flag per `option` field of the dataclass `cls` (the one flag generator).

    bool/int/float/str/list fields get flags of their type, fields with `choices` enums, fields
    with `parse` strings; each flag has its field's name. The flags are filed under `module_name`
    (the program's `__name__`), so the program's `--help` lists them.
    """
    fv = flags.FLAGS if flag_values is None else flag_values
    kw = dict(flag_values=fv, module_name=flag_module_key(module_name))
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        meta = field.metadata
        if "help" not in meta:
            continue
        name, default, kind = field.name, field.default, _base_type(hints[field.name])
        help_ = meta["help"]
        if isinstance(meta["choices"], Named):  # the table's names and help lines, in order
            help_ = f"{help_}: {meta['choices'].describe()}"
        if meta["choices"]:
            flags.DEFINE_enum(name, default, list(meta["choices"]), help_, **kw)
        elif meta["parse"]:
            flags.DEFINE_string(name, meta["text"] or default, help_, **kw)
        elif kind in (int, float):
            define = flags.DEFINE_integer if kind is int else flags.DEFINE_float
            define(name, default, help_, lower_bound=meta.get("lower_bound"), **kw)
        else:
            define = {bool: flags.DEFINE_bool, float: flags.DEFINE_float, list: flags.DEFINE_list}
            if meta.get("multi"):
                define[list] = flags.DEFINE_multi_string
            define.get(kind, flags.DEFINE_string)(name, default, help_, **kw)


def explicit_values(cls, flag_values=None, skip=()) -> dict:
    """The fields of `cls` given on the command line, parsed, by field name.

    A field's flag is read wherever it was defined (also hidden flags of another module).

    Raises:
        Whatever a field's `parse` raises for a bad value (its message names the flag).
    """
    fv = flags.FLAGS if flag_values is None else flag_values
    out = {}
    for field in dataclasses.fields(cls):
        name = field.name
        if field.name in skip or name not in fv or not fv[name].present:
            continue
        parse = field.metadata.get("parse")
        out[field.name] = parse(fv[name].value) if parse else fv[name].value
    return out


def from_flags(cls, flag_values=None):
    """An instance of the dataclass `cls` with every `option` field taken from its flag."""
    fv = flags.FLAGS if flag_values is None else flag_values
    values = {}
    for field in dataclasses.fields(cls):
        if "help" in field.metadata:
            parse, value = field.metadata["parse"], fv[field.name].value
            values[field.name] = parse(value) if parse else value
    return cls(**values)


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


def parse_or_report(define: Callable, argv, usage: str, module_name: str, prog: str):
    """`parse` for a program without positional arguments that reports a usage error itself.

    Returns:
        the `FlagValues`, or None after printing one `error: ...` line on stderr (bad flag or
        unexpected arguments): the caller then returns exit status 2.
    """
    try:
        fv, rest = parse(define, argv, usage, module_name, prog)
        if rest:
            raise UsageError(f"unexpected arguments {rest}")
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
    return fv


def renamed_flag_message(error: flags.Error, renamed: dict[str, str]) -> str | None:
    """What to say about a flag that was renamed (`--old` or a bool's `--noold`), else None."""
    name = getattr(error, "flagname", None)
    if not isinstance(error, flags.UnrecognizedFlagError) or not name:
        return None
    prefix = "no" if name not in renamed and name.startswith("no") and name[2:] in renamed else ""
    old = name[len(prefix) :]
    if old not in renamed:
        return None
    return f"--{name} was renamed --{prefix}{renamed[old]} (see --help)"


def run(
    main: Callable[[list[str]], int | None],
    usage: str,
    module_name: str,
    argv=None,
    renamed: dict[str, str] | None = None,
) -> None:
    """Start an absl program: help, quiet TensorFlow, then `app.run(main)`; exits with main's status.

    Args:
        main: `main(argv) -> exit status`; argv[1:] holds what is left after the flags.
        usage: the program's usage text (its module docstring).
        module_name: the program module's `__name__` (selects the flags `--help` lists).
        argv: defaults to `sys.argv`.
        renamed: old flag name -> its current name, so that a command written before a rename
            (e.g. in an old report) fails with one line naming the flag to use.
    """
    argv = list(sys.argv if argv is None else argv)
    quiet_tensorflow()
    handle_help(usage, module_name, argv)
    onednn = prefer_onednn()  # before the program imports TensorFlow, which reads it once
    if onednn:
        print(onednn, file=sys.stderr, flush=True)

    def parse_flags(args):
        # absl would print "FATAL Flags parsing error" and exit 1; a usage error here is one line
        # and exit status 2 in every command.
        try:
            return flags.FLAGS(args)
        except flags.Error as e:
            print(f"error: {renamed_flag_message(e, renamed or {}) or f'{e} (see --help)'}", file=sys.stderr)
            sys.exit(2)

    def _main(remaining):
        try:
            status = main(remaining)
        except UsageError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
        except Exception as e:  # an error the program did not turn into its own line
            print(failure_line(e, program=module_name.rsplit(".", 1)[-1]), file=sys.stderr)
            status = 1
        sys.exit(0 if status is None else status)

    app.run(_main, argv=argv, flags_parser=parse_flags)
