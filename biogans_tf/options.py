"""Configuration fields that describe themselves: `option(default, help, ...)`.

A configuration dataclass (`TrainConfig`, the options of each program) declares each setting with
`option`: its default, help line, allowed values and bounds live in the field's metadata. The
command-line layer (`biogans_tf.cli.define_flags`) turns such fields into flags of the same name;
the library only reads plain values, so it never depends on the command line.
"""

from __future__ import annotations

import dataclasses


def option(default, help: str, *, choices=None, parse=None, text=None, lower_bound=None, multi=False):
    """A dataclass field with what a flag needs (help, type and default in one place).

    Args:
        default: the field's default (also the flag's, unless `text` is given).
        help: the flag's help text.
        choices: allowed values, a tuple or a `biogans_tf.named.Named` table (whose names and help
            lines the flag's help then lists); absl refuses other values while parsing.
        parse: `text -> value` for fields that are not str/int/float/bool (tuples): the flag is a
            string and `cli.explicit_values` parses it.
        text: the flag's default as text for such fields (e.g. '48x80').
        lower_bound: smallest value of an int or float field: absl refuses less while parsing.
        multi: a `list[str]` field whose flag may be repeated (each value one item), instead
            of one comma-separated list.

    Returns:
        A `dataclasses.field`; a field without one gets no flag.
    """
    meta = {"help": help, "choices": choices, "parse": parse, "text": text}
    meta.update(lower_bound=lower_bound, multi=multi)
    return dataclasses.field(default=default, metadata=meta)
