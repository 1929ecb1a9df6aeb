"""Register biogans-tf's custom Keras objects as soon as Keras is imported, without importing it.

`keras.saving.load_model("G.keras")` finds custom classes only through the registry that
`@keras.saving.register_keras_serializable` fills when the defining module is imported. Importing
those modules from `biogans_tf/__init__.py` would make `import biogans_tf` (and so every
`python -m biogans_tf.data.X --help`) pay for TensorFlow's import (5-15 s on 2 cores). Instead
`install()` watches for the `keras` package: if it is already imported, the objects are registered
at once; otherwise a one-shot import hook registers them right after `keras` finishes importing
(and before anything else runs), so `import biogans_tf, keras; keras.saving.load_model(...)` works.
The hook needs `importlib`'s machinery; the modules it imports are named in full below, so the
BUILD generator and tools/import_graph.py see them as the imports they are.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# Every module that defines a `register_keras_serializable` class. None imports tfds.
MODULES = ("biogans_tf.models", "biogans_tf.trainer.optimizers")

_STATE = {"pending": False}


def register_now() -> None:
    """Import the defining modules (idempotent; imports Keras and TensorFlow)."""
    _STATE["pending"] = False
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            # A build that ships only part of the package (a Bazel target's runfiles hold only its
            # deps) has nothing of that module to register; a module that exists but fails to
            # import (e.name is then another module) is a real error and propagates.
            if not (e.name and e.name.startswith("biogans_tf.") and (name + ".").startswith(e.name + ".")):
                raise


class _RegisterAfterExec(importlib.abc.Loader):
    """Loader wrapper: runs the real loader, then registers (keras is complete by then)."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        # get_data, get_resource_reader, is_package, ...: what importlib.resources and pkgutil ask.
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        _remove_watchers()
        self.loader.exec_module(module)
        if _STATE["pending"]:
            # `import tensorflow` imports keras half-way through its own initialisation; the
            # models then import tensorflow, which already has the names they use at import time.
            register_now()


class _KerasWatcher(importlib.abc.MetaPathFinder):
    """Finder that wraps the loader of the top-level `keras` package until it is executed.

    It stays in `sys.meta_path` until then: TensorFlow probes `importlib.util.find_spec("keras")`
    before importing it, and that probe must not use the watcher up.
    """

    def __init__(self):
        self.busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" or self.busy:
            return None
        self.busy = True  # the lookup below asks every finder again, this one included
        try:
            spec = importlib.util.find_spec("keras")
        finally:
            self.busy = False
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisterAfterExec(spec.loader)
        return spec


def _remove_watchers() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _KerasWatcher)]


def install() -> None:
    """Register now if Keras is loaded, else when it is (called by `import biogans_tf`)."""
    if _STATE["pending"]:
        return
    if "keras" in sys.modules:
        register_now()
        return
    _STATE["pending"] = True
    sys.meta_path.insert(0, _KerasWatcher())
