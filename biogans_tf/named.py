"""A table of named choices (`--arch=star`, `--gan=wgan-gp`, ...): names, one-line help, lazy targets.

`Named` is what every registry and option list of the project is made of. It imports nothing beyond
the standard library, so a command line can list the names in `--help` and refuse a bad value
before TensorFlow loads. An entry may name a target, `"package.module:attribute"`, imported on first
use (`Named.load`), the way EDM's `class_name` strings or keras-hub presets resolve; the module that
holds the table must not be imported by its targets (tools/import_graph.py counts such a string as an
import and fails on a circle).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator, Mapping


class UnknownNameError(ValueError):
    """A value that is not one of a table's names; the message names the flag and the choices."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One name: its help line and, optionally, its target (`"module:attribute"` or the object)."""

    help: str
    target: object = None


class Named(Mapping):
    """An ordered table `name -> Entry`; reading `table[name]` returns the (loaded) target.

    Args:
        flag: the command-line flag the names are values of (`arch` for `--arch`), for messages.
        entries: `{name: (help, target)}` or `{name: help}`, in the order `--help` lists them.
    """

    def __init__(self, flag: str, entries: Mapping):
        self.flag = flag
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, object] = {}
        for name, value in entries.items():
            help_, target = (value, None) if isinstance(value, str) else value
            self.add(name, target, help_)

    # --- names (no import) ----------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """The names, in registration order."""
        return tuple(self._entries)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name, default=None):
        """The loaded target of `name`, or `default` when `name` is not registered."""
        return self[name] if name in self._entries else default

    def help_of(self, name: str) -> str:
        return self._entries[name].help

    def describe(self) -> str:
        """'a (help of a); b (help of b)': the flag's help text."""
        return "; ".join(f"{n} ({e.help})" if e.help else n for n, e in self._entries.items())

    def check(self, value, flag: str | None = None) -> str:
        """`value` if it is a name here, else `UnknownNameError("--flag='x': expected one of a, b")`."""
        if value not in self._entries:
            raise UnknownNameError(f"--{flag or self.flag}={value!r}: expected one of {', '.join(self)}")
        return value

    # --- registration -----------------------------------------------------------------------------
    def add(self, name: str, target=None, help: str = "") -> None:
        """Register `name` (a `"module:attribute"` string or the object itself as target).

        Raises:
            ValueError: the name is taken (`remove` it first).
        """
        if name in self._entries:
            raise ValueError(f"{self.flag}: {name!r} is already registered")
        self._entries[name] = Entry(help, target)
        if target is not None and not isinstance(target, str):
            self._loaded[name] = target

    def remove(self, name: str) -> None:
        """Forget `name` (tests that register a temporary entry)."""
        self._entries.pop(name, None)
        self._loaded.pop(name, None)

    # --- targets (imported on first use) ----------------------------------------------------------
    def __getitem__(self, name: str):
        self.check(name)
        if name not in self._loaded:
            target = self._entries[name].target
            if target is None:
                raise KeyError(f"{self.flag}: {name!r} names a choice, not an object")
            module, _, attribute = target.partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attribute)
        return self._loaded[name]
