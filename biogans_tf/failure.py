"""One line for a failed command, with its cause, and the full traceback in a log file.

TensorFlow reports a failing op inside a traced function as an error whose message starts with
"Graph execution error:" and continues with the Python frames that defined the node; the kernel's
own complaint (e.g. "filter_size does not have enough elements, requested 4608, got 768") comes
after them. A one-line report that keeps only the first line loses everything a user could act
on, so `error_summary` finds the failing node and the kernel's message instead.

Imports only the standard library (command-line programs use it before TensorFlow is imported).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import traceback

LOG_NAME = "error.log"

_NODE = re.compile(r"^Detected at node '?(?P<node>[^' ]+)'? defined at")
_NODE_TAG = re.compile(r"^\s*\[\[\{\{node .*\}\}\]\]")
_OP_TAG = re.compile(r"\s*\[Op:(?P<op>[^\]]*)\](\s*name:.*)?$")
_FUNCTION_NODE = re.compile(r"^\{\{function_node [^}]*\}\}\s*")  # eager errors start with it


def op_message(text: str) -> tuple[str | None, str]:
    """(failing node or None, the first line of the kernel's own message) of a TF error text."""
    lines = text.splitlines()
    node = None
    for line in lines:
        m = _NODE.match(line.strip())
        if m:
            node = m.group("node")
            break
        m = _OP_TAG.search(line)
        if m and not m.group("op").startswith("__inference"):
            node = m.group("op")  # an eager op: its type is all TensorFlow names
    for line in lines[1:] if lines and lines[0].startswith("Graph execution error") else lines:
        stripped = _FUNCTION_NODE.sub("", _OP_TAG.sub("", line)).strip()
        # Skip the header, the "defined at" frames (indented) and the node/op tags.
        if not stripped or line[:1].isspace() or _NODE.match(stripped) or _NODE_TAG.match(line):
            continue
        return node, stripped
    return node, (lines[0].strip() if lines else "")


def error_summary(exc: BaseException) -> str:
    """One line naming what failed and why: the op and kernel message for TensorFlow errors.

    Args:
        exc: any exception; TensorFlow's `OpError`s are recognised by their text, so this module
            needs no TensorFlow.

    Returns:
        e.g. "Conv2DBackpropFilter failed (node gradient_tape/.../Conv2DBackpropFilter):
        filter_size does not have enough elements, requested 4608, got 768"; for an OSError
        "PATH: strerror"; otherwise the first line of the message, prefixed by the type name.
    """
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    text = str(getattr(exc, "message", None) or exc)
    node, message = op_message(text)
    if node is not None:
        op = re.sub(r"_\d+$", "", node.rsplit("/", 1)[-1])  # node "a/Conv2D_4" is a Conv2D
        where = f" (node {node})" if node != op else ""
        return f"{op} failed{where}: {message or type(exc).__name__}"
    name = type(exc).__name__
    if not message:
        return name
    return message if isinstance(exc, ValueError | KeyError) else f"{name}: {message}"


def write_error_log(exc: BaseException, folder: str | None = None, program: str = "biogans") -> str | None:
    """Write `exc`'s full traceback to `folder/error.log` (or a temp file); its path, None on failure.

    The file is appended to, so the log of an earlier failure of the same run stays readable.
    """
    text = "".join(traceback.format_exception(exc))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    try:
        if folder and os.path.isdir(folder):
            path = os.path.join(folder, LOG_NAME)
            with open(path, "a") as f:
                f.write(f"--- {stamp} pid {os.getpid()}\n{text}")
            return path
        fd, path = tempfile.mkstemp(prefix=f"{program}-error-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(f"--- {stamp} pid {os.getpid()}\n{text}")
        return path
    except OSError:  # e.g. the disk is full: the one line still goes out
        return None


def failure_line(exc: BaseException, folder: str | None = None, program: str = "biogans") -> str:
    """`error: <summary> (full traceback: <log>)`: what a program prints for an unexpected error."""
    log = write_error_log(exc, folder, program)
    where = f" (full traceback: {log})" if log else ""
    return f"error: {error_summary(exc)}{where}"
