"""A folder or a zip seen as one set of relative paths, and the file-name rules readers share.

Used by the LIN reader (`biogans_tf.data.lin`), the own-data reader (`biogans_tf.data.own`) and
the TFDS builders: one listing, one reading path and one error style (`DataError` naming the
file, `<zip>/<member>` inside zips) for folders and zips alike.
"""

from __future__ import annotations

import os
import re
import threading
import zipfile
import zlib

from biogans_tf.data.errors import DataError

_IGNORED_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs numerically: `cell2.png` < `cell10.png`.

    `re.split` with a capture group alternates text / digits, so positions never mix types.
    """
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)) + (name,)


def check_utf8(name: str, path: str) -> None:
    """Refuse a file or folder name that is not valid UTF-8 (class names and file names reach
    JSON, TensorBoard, SavedModel metadata and TIFF tags, which all need text).

    Python lists such a name with its bad bytes as lone surrogates; they cannot be encoded.

    Raises:
        DataError: naming the path with the bad bytes shown as `\\xNN`.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise DataError(
            shown, "name is not valid UTF-8; rename it (class and file names must be text)"
        ) from None


def is_ignored(name: str) -> bool:
    """True for hidden / OS-metadata names that readers skip silently."""
    return name.startswith(".") or name in _IGNORED_NAMES


class Store:
    """A folder or a zip seen as a set of relative POSIX paths (files and directories).

    Args:
        path: a folder or a `.zip` file.

    Raises:
        DataError: the path does not exist or is not a readable zip.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self.is_zip = os.path.isfile(self.path)
        self._lock = threading.Lock()
        self._kids = None
        self.files: set[str] = set()
        self.dirs: set[str] = {""}
        if self.is_zip:
            try:
                self._zip = zipfile.ZipFile(self.path)
                names = self._zip.namelist()
            except (zipfile.BadZipFile, OSError) as e:
                raise DataError(self.path, f"not a readable zip file ({e})") from None
            except UnicodeDecodeError as e:  # a member flagged UTF-8 whose name is not
                raise DataError(
                    self.path, f"a member's name is flagged UTF-8 but is not (bytes {e.object!r}); rename it"
                ) from None
            for name in names:
                if name.endswith("/"):
                    self._add_dir(name.rstrip("/"))
                else:
                    self.files.add(name)
                    self._add_dir(name.rpartition("/")[0])
        elif os.path.isdir(self.path):
            self._walk()
        else:
            raise DataError(self.path, "no such file or folder")

    def _walk(self) -> None:
        """List the folder tree, following links to folders, refusing link loops.

        Why: with `followlinks=True`, a link back to a folder above it makes `os.walk` descend
        forever (memory grows until the machine gives out), so each folder's identity (device,
        inode) is compared with those of the folders on its own path from the root.
        """

        def fail(e: OSError):
            raise DataError(e.filename or self.path, f"cannot list this folder ({e.strerror or e})")

        above = {"": {_identity(self.path)}}  # rel -> identities of rel and its ancestors
        for dirpath, dirnames, filenames in os.walk(self.path, onerror=fail, followlinks=True):
            rel = os.path.relpath(dirpath, self.path).replace(os.sep, "/")
            rel = "" if rel == "." else rel
            dirnames[:] = [d for d in dirnames if not is_ignored(d)]
            for d in dirnames:
                child = f"{rel}/{d}" if rel else d
                ident = _identity(os.path.join(dirpath, d))
                if ident in above[rel]:
                    raise DataError(
                        os.path.join(dirpath, d),
                        f"symbolic link loop: points back to {os.path.realpath(os.path.join(dirpath, d))}, "
                        "a folder that contains it",
                    )
                above[child] = above[rel] | {ident}
                self.dirs.add(child)
            for name in filenames + dirnames:
                if not is_ignored(name):
                    check_utf8(name, os.path.join(dirpath, name))
            for f in filenames:
                self.files.add(f"{rel}/{f}" if rel else f)

    def _add_dir(self, rel: str) -> None:
        while rel and rel not in self.dirs:
            self.dirs.add(rel)
            rel = rel.rpartition("/")[0]

    def _index(self) -> dict[str, tuple[list[str], list[str]]]:
        # Built once: parent -> (sub-folder names, file names), so listing is O(entries).
        if self._kids is None:
            kids: dict[str, tuple[list[str], list[str]]] = {}
            for d in self.dirs:
                if d:
                    parent, _, name = d.rpartition("/")
                    kids.setdefault(parent, ([], []))[0].append(name)
            for f in self.files:
                parent, _, name = f.rpartition("/")
                kids.setdefault(parent, ([], []))[1].append(name)
            self._kids = kids
        return self._kids

    def children(self, rel: str) -> tuple[list[str], list[str]]:
        """(sub-folder names, file names) directly inside `rel`, ignored names removed, sorted."""
        # Anything below an ignored folder (e.g. __MACOSX/) is ignored too.
        if any(is_ignored(part) for part in rel.split("/") if part):
            return [], []
        subdirs, files = self._index().get(rel, ([], []))

        def keep(names):
            return sorted((x for x in names if x and not is_ignored(x)), key=natural_key)

        return keep(subdirs), keep(files)

    def where(self, rel: str) -> str:
        """Human-readable location of an entry, for error messages (`<zip>/<member>` for zips)."""
        if not rel:
            return self.path
        return f"{self.path}/{rel}" if self.is_zip else os.path.join(self.path, *rel.split("/"))

    def read(self, rel: str) -> bytes:
        """Bytes of one file (zip members are decompressed in memory, never extracted).

        Raises:
            DataError: naming the file (`<zip>/<member>` for zips) when it cannot be read: a zip
                member failing its CRC check or truncated, a broken link, no permission.
        """
        where = self.where(rel)
        try:
            if self.is_zip:
                with self._lock:
                    return self._zip.read(rel)
            with open(where, "rb") as f:
                return f.read()
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
            # zipfile reports a bad CRC as BadZipFile, damaged deflate data as zlib.error, a cut
            # member as EOFError and an unsupported compression method as NotImplementedError.
            raise DataError(where, f"damaged zip member ({type(e).__name__}: {e})") from None
        except OSError as e:
            if os.path.islink(where) and not os.path.exists(where):
                problem = f"broken symbolic link (points to {os.readlink(where)}, which does not exist)"
            else:
                problem = f"cannot read ({e.strerror or e})"
            raise DataError(where, problem) from None


def _identity(path: str) -> tuple[int, int]:
    """(device, inode) of the folder `path` resolves to."""
    st = os.stat(path)
    return st.st_dev, st.st_ino
