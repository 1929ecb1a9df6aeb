"""Atomic file writing: nothing half-written is ever visible under the final name."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
import time


@contextlib.contextmanager
def atomic_path(path: str, is_dir: bool = False, suffix: str = ""):
    """Yield a temporary path beside `path`; on success move it into place with `os.replace`.

    On error the temporary file or folder is removed and `path` is left as it was. `suffix` ends the
    temporary file's name (writers that insist on an extension, such as Keras' `.keras`).
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(path)
    if is_dir:
        tmp = tempfile.mkdtemp(prefix=f".{base}.tmp-", dir=parent)
    else:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.tmp-", suffix=suffix, dir=parent)
        os.close(fd)
        # mkstemp creates 0600 files; give the final file the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        if is_dir and os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, obj) -> None:
    """Write `obj` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")


def write_bytes(path: str, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_keras(model, path: str, metadata: dict | None = None) -> None:
    """Save a Keras model as the `.keras` file `path` atomically: the one `.keras` writer.

    Args:
        model: the Keras model (`model.save` is called on a temporary name in the same folder).
        path: the `.keras` file (Keras insists on the suffix).
        metadata: stored inside the file (`biogans_tf.loader.generator_metadata`), read back by
            `biogans_tf.load_generator`; None stores none.

    Raises:
        ValueError: `path` does not end with `.keras`.
    """
    from biogans_tf.loader import write_metadata

    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"{path}: a Keras model file must end with .keras")
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
        if metadata is not None:
            write_metadata(tmp, metadata)


def _host() -> str:
    # Only characters that cannot be confused with the `-` separators of the folder name.
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def owned_tempdir(parent: str, prefix: str) -> str:
    """Create a temporary folder `<prefix><host>-<pid>-<random>` in `parent`.

    Why the host and pid in the name: a writer killed with SIGKILL cannot clean up, and a later
    process must tell such a leftover from a folder another running process is still writing
    (`remove_stale_tempdirs`).
    """
    return tempfile.mkdtemp(prefix=f"{prefix}{_host()}-{os.getpid()}-", dir=parent)


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale_tempdirs(parent: str, prefix: str, max_age_s: float = 86400.0) -> list[str]:
    """Remove the `owned_tempdir` folders of `parent` whose writer is gone.

    A folder is stale when it was made on this host by a process that no longer runs, or when
    its name carries no host/pid (an older format) or another host's and it is older than
    `max_age_s` (on shared storage another machine's writer cannot be checked).

    Returns:
        The paths removed.
    """
    try:
        names = [n for n in os.listdir(parent) if n.startswith(prefix)]
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(parent, name)
        m = re.fullmatch(r"(?P<host>.+)-(?P<pid>\d+)-[^-]+", name[len(prefix) :])
        if m and m.group("host") == _host():
            stale = not _pid_running(int(m.group("pid")))
        else:
            try:
                stale = time.time() - os.path.getmtime(path) > max_age_s
            except OSError:
                continue
        if stale and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
