"""Loads the versions of one model from a TF Serving base path and keeps the newest one served.

Layout (as TF Serving expects): `BASE/NAME/<integer version>/saved_model.pb`. Folders whose name is not
an integer (e.g. an exporter's `.export-tmp-*` folder) are ignored, which is what makes exports atomic.
Like TF Serving's default version policy ("latest", one version), the store serves the highest version
and unloads the older one once a newer version has loaded; a version that fails to load is logged and
skipped, and the previous one keeps serving. A failed version is retried on a later poll once its files
change (a folder copied non-atomically, `saved_model.pb` first and `variables/` later, is served once
complete), and a served version whose folder is deleted is unloaded for the next-highest version that
loads (none left: requests get NOT_FOUND until a version appears), as TF Serving does. Each version
is a session of its own (serving/bundle.py); an unloaded version's session closes when its last
in-flight request lets go of it.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from biogans_tf.conventions import version_folders
from biogans_tf.serving.bundle import LoadedVersion, load_version, run_warmup
from biogans_tf.serving.errors import ServingError, clip

log = logging.getLogger("serving")


def folder_fingerprint(path: str) -> tuple:
    """(relative path, size, mtime) of every file under `path`: changes while a copy is in progress."""
    out = []
    for root, _, files in os.walk(path):
        for f in files:
            full = os.path.join(root, f)
            try:
                st = os.stat(full)
            except OSError:  # removed meanwhile
                continue
            out.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def list_versions(model_base_path: str) -> tuple[dict[int, str], list[str]]:
    """({version: folder path} of the version folders holding a saved_model.pb, [names ignored]).

    Versions as TF Serving reads them (`conventions.version_folders`): `007` is version 7, served
    from `007`; a name that is no version (`latest`, `1.0`) is ignored, as are folders without a
    saved_model.pb yet (an export being copied in).
    """
    folders, ignored = version_folders(model_base_path)
    versions = {
        v: os.path.join(model_base_path, name)
        for v, name in folders.items()
        if os.path.isfile(os.path.join(model_base_path, name, "saved_model.pb"))
    }
    return versions, ignored


class ModelStore:
    """The served versions of one model, refreshed by polling the base path.

    Args:
        model_name: the name clients use.
        model_base_path: `BASE/NAME` (holds the version folders).
        poll_seconds: how often to look for new versions.
        warmup: replay each version's warm-up requests before serving it.
    """

    def __init__(self, model_name: str, model_base_path: str, poll_seconds: float = 2.0, warmup: bool = True):
        self.model_name = model_name
        self.warmup = warmup
        self.model_base_path = model_base_path
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._current: LoadedVersion | None = None
        self._failed: dict[int, tuple] = {}  # version -> folder fingerprint when its load failed
        self._ignored: set[str] = set()  # names in the model folder that are not versions (logged)
        self._loading: int | None = None  # the version being loaded and warmed up
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> LoadedVersion | None:
        with self._lock:
            return self._current

    def poll_once(self) -> bool:
        """Serve the highest version that loads; unload a deleted one. Returns True if it changed.

        Candidates are tried newest first, down to the served version (still on disk) or, if that was
        deleted, down to the oldest. A version whose load failed is skipped until its files change.
        """
        versions, ignored = list_versions(self.model_base_path)
        for name in sorted(set(ignored) - self._ignored):  # once per name, not at every poll
            log.warning(
                "%s: ignoring %r in %s: not a version number", self.model_name, name, self.model_base_path
            )
        self._ignored = set(ignored)
        current = self.current
        deleted = current is not None and current.version not in versions
        for version in sorted(versions, reverse=True):
            if current is not None and not deleted and version <= current.version:
                return False
            path = versions[version]
            fingerprint = folder_fingerprint(path)
            if self._failed.get(version) == fingerprint:
                continue  # failed before and unchanged since
            if self._load(version, path, fingerprint):
                return True
        if deleted:
            with self._lock:
                self._current = None
            log.warning(
                "%s version %d was deleted from disk and no other version loads; unloaded it",
                self.model_name,
                current.version,
            )
            return True
        return False

    def _load(self, version: int, path: str, fingerprint: tuple) -> bool:
        """Load, warm up and swap in one version; on failure remember its fingerprint and return False."""
        with self._lock:
            self._loading = version
        log.info("loading %s version %d from %s", self.model_name, version, path)
        loaded = None
        try:
            t0 = time.perf_counter()
            loaded = load_version(path, version)
            n_warm = run_warmup(loaded, self.model_name) if self.warmup else 0
        except Exception as e:  # a broken or half-copied export must not take the server down
            if loaded is not None:
                loaded.close()
            with self._lock:
                self._loading = None
            retry = "retrying once its files change" if version not in self._failed else "still failing"
            self._failed[version] = fingerprint
            log.error(
                "failed to load %s version %d from %s (%s): %s",
                self.model_name,
                version,
                path,
                retry,
                str(e).strip().splitlines()[0][:500] if str(e).strip() else type(e).__name__,
            )
            return False
        self._failed.pop(version, None)
        with self._lock:
            old, self._current, self._loading = self._current, loaded, None
        log.info(
            "loaded %s version %d from %s in %.1f s (%d warm-up requests; signatures: %s)%s",
            self.model_name,
            version,
            path,
            time.perf_counter() - t0,
            n_warm,
            ", ".join(sorted(loaded.signatures)),
            f"; unloaded version {old.version}" if old else "",
        )
        return True

    def start(self) -> None:
        """Start the background polling thread; it looks for versions at once, then every poll period.

        The server opens its ports first: while the first version loads, its status is LOADING.
        """
        self._thread = threading.Thread(target=self._poll_loop, name="version-poller", daemon=True)
        self._thread.start()

    def _poll_loop(self) -> None:
        while True:
            try:
                self.poll_once()
            except Exception as e:  # keep polling whatever happens on disk
                log.error("version polling failed: %s", e)
            if self._stop.wait(self.poll_seconds):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def status(self, model_name: str, version: int | None = None) -> tuple[int, str]:
        """(version, TF Serving state) for a status request: the served version AVAILABLE, or the
        version being loaded LOADING while none is served (or that one is asked for).

        Raises:
            ServingError: NOT_FOUND for another model, or a version neither served nor loading.
        """
        with self._lock:
            current, loading = self._current, self._loading
        self._check_name(model_name)
        if loading is not None and (current is None or version == loading):
            return loading, "LOADING"
        return self.get(model_name, version).version, "AVAILABLE"

    def _check_name(self, model_name: str) -> None:
        if model_name != self.model_name:
            raise ServingError(
                "NOT_FOUND",
                f"Servable not found for request: unknown model {clip(model_name)} "
                f"(serving {self.model_name!r})",
            )

    def get(self, model_name: str, version: int | None = None) -> LoadedVersion:
        """The loaded version for a request; NOT_FOUND (as TF Serving) for unknown model or version."""
        self._check_name(model_name)
        current = self.current
        if current is None:
            loading = self._loading
            state = f"version {loading} is loading" if loading is not None else "no version is loaded yet"
            raise ServingError("NOT_FOUND", f"Servable not found for request: {model_name!r}: {state}")
        if version is not None and version != current.version:
            raise ServingError(
                "NOT_FOUND",
                f"Servable not found for request: version {version} of {model_name!r} is not loaded "
                f"(serving version {current.version})",
            )
        return current
