"""Atomic file writing (nothing half-written is ever visible under the final name) and file locks."""

from __future__ import annotations

import contextlib
import fcntl
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
        metadata: stored inside the file (`biogans_tf.runs.folder.generator_metadata`), read back by
            `biogans_tf.load_generator`; None stores none.

    Raises:
        ValueError: `path` does not end with `.keras`.
    """
    from biogans_tf.runs.folder import write_metadata

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


class LockBusyError(Exception):
    """Another live process holds the lock; `holder` is the pid it wrote (or 'unknown')."""

    def __init__(self, path: str, holder: str):
        super().__init__(f"{path} is held by pid {holder}")
        self.path, self.holder = path, holder


def open_lock(path: str, wait: bool = True, on_wait=None):
    """Take an exclusive OS lock (`flock`) on the file `path`; returns the open file holding it.

    Why flock: the kernel releases it when the holder ends in any way (exit, crash, SIGKILL), so a
    stale lock never blocks anyone. The file holds the holder's pid, for messages.

    Args:
        path: the lock file (created if missing).
        wait: wait for another holder to finish (else raise `LockBusyError` at once).
        on_wait: called with the holder's pid before waiting (to tell the user why nothing happens).

    Returns:
        The open lock file: closing it (or `release_lock`) releases the lock.
    """
    f = open(path, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        if not wait:
            f.close()
            raise LockBusyError(path, holder) from None
        if on_wait is not None:
            on_wait(holder)
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def release_lock(f) -> None:
    """Release a lock taken with `open_lock` (the kernel also does when the process ends)."""
    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    f.close()


@contextlib.contextmanager
def held_lock(path: str, on_wait=None):
    """`open_lock(path, wait=True)` for the duration of a `with` block."""
    f = open_lock(path, wait=True, on_wait=on_wait)
    try:
        yield
    finally:
        release_lock(f)
