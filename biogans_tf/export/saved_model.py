r"""Export a trained generator as a versioned SavedModel for TF Serving (and `serving.server`).

    python -m export.saved_model --run_dir RUN [--checkpoint final|latest|PATH] \
        --base_path BASE --model_name NAME [--version N]
    python -m export.saved_model --generator G.keras --arch dcgan-sep --proteins Alp14 \
        --base_path BASE --model_name NAME

writes `BASE/NAME/<version>/` (saved_model.pb, variables/, assets.extra/biogans.json) and
`BASE/models.config` (TF Serving model config). The version directory is assembled under a hidden
temporary name inside `BASE/NAME` and renamed into place only when complete, so a server polling the
folder never sees a half-written version. When the run was trained with EMA, the EMA generator is
exported too, as model `NAME_ema`. The signatures are described in `export/signatures.py`, the
warm-up requests and `models.config` in `export/serving_files.py`; runs load through the library's
one generator loader (`biogans_tf.runs.generator.load_generator`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import sys

from biogans_tf.cli import define_flags, from_flags
from biogans_tf.conventions import MAX_VERSION, WARMUP_FILE, version_folders
from biogans_tf.export.serving_files import (
    ModelsConfigError,
    read_models_config,
    write_models_config,
    write_warmup_requests,
)
from biogans_tf.io_utils import held_lock, owned_tempdir, remove_stale_tempdirs, write_json
from biogans_tf.options import option
from biogans_tf.runs.folder import RunFolder

# TensorFlow (and export.signatures, which needs it) is imported inside the functions, so that
# `biogans-export --help` answers at once.

METADATA_FILE = os.path.join("assets.extra", "biogans.json")
TMP_PREFIX = ".export-tmp-"  # not an integer name: TF Serving and serving.server skip it
# BASE/.<model_name>.export.lock: one export per model folder at a time (io_utils.open_lock); beside
# the model folder, whose listing TF Serving reads.
EXPORT_LOCK = ".export.lock"


class ExportError(ValueError):
    """Bad export input: the message names the file or flag and what was expected."""


def load(path: str, **kwargs):
    """`biogans_tf.runs.generator.load_generator`, with its errors as one-line `ExportError`s."""
    from biogans_tf.data.errors import DataError
    from biogans_tf.runs.generator import load_generator

    try:
        return load_generator(path, **kwargs)
    except DataError as e:
        raise ExportError(str(e)) from None


def next_version(model_dir: str) -> int:
    """1 + the highest version folder in `model_dir` as TF Serving reads them (1 when there is none).

    Names that are not versions (`conventions.parse_version`) are ignored, as TF Serving does.
    """
    versions, _ = version_folders(model_dir)
    version = max(versions, default=0) + 1
    if version > MAX_VERSION:
        raise ExportError(
            f"{model_dir}: version {version - 1} is the highest TF Serving can serve; pass --version"
        )
    return version


def _resolve_mode(mode: str, arch: str) -> str:
    if mode == "auto":
        from biogans_tf.models.registry import get_arch

        try:
            separable = get_arch(arch).separable  # z[:, :nz//2] drives the red: reconstruct red-first
        except ValueError as e:
            raise ExportError(f"--arch: {e}") from None
        return "separable" if separable else "regular"
    if mode not in ("regular", "separable"):
        raise ExportError(f"--reconstruct_mode: expected auto, regular or separable, got {mode!r}")
    return mode


def export_generator(
    generator,
    base_path: str,
    model_name: str,
    *,
    arch: str,
    proteins,
    nz: int | None = None,
    version: int | None = None,
    reconstruct_mode: str = "auto",
    interpolation: str = "spherical",
    source: str = "",
    warmup: bool = True,
    graph_optimizer: bool = False,
    lbfgs_budget: str = "fast",
) -> str:
    """Write one generator as `base_path/model_name/<version>/`, atomically.

    Args:
        generator: Keras generator (`generator(z, training=False)`, z float32 `[B, nz]`).
        base_path: folder holding one subfolder per model.
        model_name: model name (folder name; letters, digits, `_`, `-`, `.`).
        arch: architecture name (decides the reconstruction mode under "auto").
        proteins: green channel names, in the generator's channel order.
        nz: latent size (default: read from the generator's input shape).
        version: version number; default = next free one. An existing version is never overwritten.
        reconstruct_mode: "auto" (separable for separable/star archs), "regular" or "separable".
        interpolation: "spherical" or "linear" path for the `interpolate` signature.
        source: free text recorded in the metadata (where the weights came from).
        warmup: write `assets.extra/tf_serving_warmup_requests` (one small request per signature).
        graph_optimizer: let TensorFlow's graph optimiser (Grappler) rewrite the signatures' functions
            when a server first runs them (`_graph_optimizer`).
        lbfgs_budget: the reconstruction signatures' L-BFGS, "fast" or "reference"
            (`biogans_tf.eval.latent.BUDGETS`).

    Returns:
        The path of the version directory written.
    """
    import tensorflow as tf

    from biogans_tf.eval.latent import BUDGETS
    from biogans_tf.export.signatures import SIGNATURES, GeneratorModule
    from biogans_tf.runs.generator import model_nz

    _check_names(model_name, interpolation)
    nz = nz or model_nz(generator)
    if not nz:
        raise ExportError(
            "cannot read nz from the generator (no 'nz' in its config, no input shape); pass --nz"
        )
    proteins = [str(p) for p in proteins]
    mode = _resolve_mode(reconstruct_mode, arch)
    image_shape = tuple(generator(tf.zeros([1, nz]), training=False).shape[1:])
    if lbfgs_budget not in BUDGETS:
        raise ExportError(f"--lbfgs_budget: expected one of {'|'.join(BUDGETS)}, got {lbfgs_budget!r}")
    module = GeneratorModule(
        generator,
        nz,
        image_shape,
        proteins,
        reconstruct_mode=mode,
        interpolation=interpolation,
        lbfgs_budget=lbfgs_budget,
    )
    model_dir = os.path.join(base_path, model_name)
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as e:
        raise ExportError(f"{model_dir}: cannot create the model folder ({e.strerror or e})") from None

    def waiting(pid):
        print(
            f"export {model_name}: waiting for another export of it (pid {pid})", file=sys.stderr, flush=True
        )

    # One export per model folder at a time: two at once would both take the next free version.
    with held_lock(os.path.join(base_path, f".{model_name}{EXPORT_LOCK}"), on_wait=waiting):
        final = _new_version_dir(model_dir, version)
        meta = {
            "arch": arch,
            "proteins": proteins,
            "nz": nz,
            "image_shape": list(image_shape),
            "reconstruct_mode": mode,
            "interpolation": interpolation,
            "signatures": list(SIGNATURES) + ["serving_default"],
            "source": source,
            "version": int(os.path.basename(final)),
            "graph_optimizer": bool(graph_optimizer),
            "lbfgs_budget": lbfgs_budget,
        }
        with _graph_optimizer(graph_optimizer):
            _write_version(module, meta, model_dir, final, warmup)
    return final


def _check_names(model_name: str, interpolation: str) -> None:
    # One path component of safe characters: no separators, and no leading '.' or '-' (so neither
    # `..` nor `.` nor a hidden folder, and nothing a shell or TF Serving reads as an option).
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}", model_name or ""):
        raise ExportError(
            f"--model_name: expected 1-128 letters, digits, '_', '-' or '.', not starting with '.' or "
            f"'-', got {model_name[:60]!r}" + ("..." if len(model_name or "") > 60 else "")
        )
    if interpolation not in ("linear", "spherical"):
        raise ExportError(f"--interpolation: expected linear or spherical, got {interpolation!r}")


def _new_version_dir(model_dir: str, version: int | None) -> str:
    """The final version folder to write in the existing `model_dir` (it does not exist yet)."""
    remove_stale_tempdirs(model_dir, TMP_PREFIX)  # left by an export that was killed
    if version is None:
        version = next_version(model_dir)
    if not 1 <= int(version) <= MAX_VERSION:
        raise ExportError(f"--version: expected an integer from 1 to {MAX_VERSION}, got {version}")
    final = os.path.join(model_dir, str(int(version)))
    existing = version_folders(model_dir)[0].get(int(version))
    if existing is not None or os.path.exists(final):
        shown = os.path.join(model_dir, existing) if existing else final
        raise ExportError(f"{shown}: version {version} already exists (versions are never overwritten)")
    return final


@contextlib.contextmanager
def _graph_optimizer(enabled: bool):
    """Trace and save the signatures with Grappler on or off.

    Each function call in a SavedModel carries the config it was traced under (its `config_proto`),
    and whoever runs it (TF Serving, serving.server, `tf.saved_model.load`) optimises the function
    body by that config when it first runs it. For the reconstruction signatures (an L-BFGS while
    loop) Grappler costs ~20 s per signature on 2 cores at the first call and gains nothing measured
    after (benchmarks/RESULTS.md, issue 24 D), so it is off unless asked for.
    """
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not enabled})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


def _write_version(module, meta: dict, model_dir: str, final: str, warmup: bool) -> None:
    """Save `module`, its metadata and warm-up requests under a temporary name, then rename to `final`."""
    import tensorflow as tf

    from biogans_tf.progress import bar

    # Not an integer name, so TF Serving and serving.server ignore it while it is being written.
    tmp = owned_tempdir(model_dir, TMP_PREFIX)
    model_name = os.path.basename(model_dir)
    # Tracing the reconstruct signature (an in-graph L-BFGS loop) is the slow part: show the stage.
    stages = bar(2 + int(warmup), f"export {model_name}", "stage")  # stderr, terminals only
    stages.set_postfix({"stage": "tracing + saving signatures"})
    try:
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        stages.update(1)
        write_json(os.path.join(tmp, METADATA_FILE), meta)
        os.chmod(os.path.join(tmp, METADATA_FILE), 0o644)
        stages.update(1)
        if warmup:
            stages.set_postfix({"stage": "warm-up requests"})
            write_warmup_requests(os.path.join(tmp, WARMUP_FILE), model_name, meta["nz"], meta["image_shape"])
            stages.update(1)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; a serving container may run as another user
        # rename(2) onto an existing non-empty directory fails, so a concurrent export cannot clobber.
        os.rename(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError | tf.errors.OpError):  # disk full, file too large, no permission...
            cause = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e)
            raise ExportError(
                f"{final}: the export failed while writing ({cause.strip().splitlines()[0]}); nothing was "
                "left behind"
            ) from None
        raise
    finally:
        stages.close()


def export_run(
    run_dir: str,
    base_path: str,
    model_name: str,
    *,
    checkpoint: str = "final",
    version: int | None = None,
    export_ema: str = "auto",
    reconstruct_mode: str = "auto",
    interpolation: str = "spherical",
    warmup: bool = True,
    graph_optimizer: bool = False,
    lbfgs_budget: str = "fast",
) -> dict[str, str]:
    """Export a training run's generator (and its EMA generator as `<model_name>_ema`).

    Args:
        run_dir: training run directory (see docs/DESIGN.md).
        checkpoint: "final", "latest" or a checkpoint prefix.
        export_ema: "auto" (export the EMA generator too when the run kept one, training's --ema),
            "yes", or "no".
        Others: as `export_generator`.

    Returns:
        model name -> version directory written.
    """
    folder = RunFolder(run_dir)
    if not os.path.isfile(folder.config):  # export takes training runs, which always have one
        raise ExportError(f"{folder.config}: file not found")
    run = load(run_dir, checkpoint=checkpoint)
    common = dict(
        arch=run.arch,
        proteins=list(run.proteins),
        nz=run.nz,
        version=version,
        reconstruct_mode=reconstruct_mode,
        interpolation=interpolation,
        warmup=warmup,
        graph_optimizer=graph_optimizer,
        lbfgs_budget=lbfgs_budget,
    )
    src = f"{os.path.abspath(run_dir)} checkpoint={checkpoint}"
    out = {model_name: export_generator(run.model, base_path, model_name, source=src, **common)}
    if export_ema not in ("auto", "yes", "no"):
        raise ExportError(f"--export_ema: expected auto, yes or no, got {export_ema!r}")
    # "auto": the run's config says it kept an EMA generator, or the run folder holds its file.
    kept_ema = run.config.get("ema") or (checkpoint == "final" and os.path.isfile(folder.generator(ema=True)))
    if export_ema == "yes" or (export_ema == "auto" and kept_ema):
        g_ema = load(run_dir, checkpoint=checkpoint, ema=True).model
        name = f"{model_name}_ema"
        out[name] = export_generator(g_ema, base_path, name, source=src + " (ema)", **common)
    return out


def main(argv):
    from absl import logging

    del argv
    o = from_flags(ExportOptions)
    logging.set_verbosity(logging.WARNING)  # TF's SavedModel writer logs every step at INFO
    if bool(o.run_dir) == bool(o.generator):
        raise ExportError("pass exactly one of --run_dir RUN or --generator FILE.keras")
    if not o.base_path or not o.model_name:
        raise ExportError("--base_path and --model_name are required")
    read_models_config(o.base_path)  # a file we could not update stops the export before it starts
    common = dict(
        version=o.version,
        reconstruct_mode=o.reconstruct_mode,
        interpolation=o.interpolation,
        warmup=o.warmup,
        graph_optimizer=o.graph_optimizer,
        lbfgs_budget=o.lbfgs_budget,
    )
    if o.run_dir:
        written = export_run(
            o.run_dir, o.base_path, o.model_name, checkpoint=o.checkpoint, export_ema=o.export_ema, **common
        )
    else:
        run = load(o.generator, settings_file=o.metadata, arch=o.arch, proteins=o.proteins, nz=o.nz)
        for field in ("arch", "proteins"):  # a served model's channel names must not be guessed
            if field in run.guessed:
                raise ExportError(
                    f"--{field} is required with --generator (or a {field!r} field in the file's metadata "
                    f"or {os.path.splitext(o.generator)[0]}.json)"
                )
        written = {
            o.model_name: export_generator(
                run.model,
                o.base_path,
                o.model_name,
                arch=run.arch,
                proteins=list(run.proteins),
                nz=run.nz,
                source=os.path.abspath(o.generator),
                **common,
            )
        }
    prefix = o.config_base_path or os.path.abspath(o.base_path)
    config = write_models_config(o.base_path, {name: f"{prefix.rstrip('/')}/{name}" for name in written})
    print(json.dumps({"exported": written, "models_config": config}, sort_keys=True))


@dataclasses.dataclass
class ExportOptions:
    """Every option of `export.saved_model`: each field is the flag of the same name."""

    run_dir: str | None = option(None, "Training run directory (config.json, generator.keras, checkpoints/).")
    checkpoint: str = option("final", "final (generator.keras), latest, or a checkpoint prefix.")
    generator: str | None = option(
        None, "A .keras generator file instead of --run_dir (e.g. from biogans_tf.export.from_torch)."
    )
    arch: str | None = option(None, "Architecture of --generator (e.g. dcgan, dcgan-sep, star).")
    proteins: list[str] | None = option(
        None, "Comma-separated protein names of --generator, in channel order."
    )
    metadata: str | None = option(
        None, "JSON with arch/proteins/nz for --generator (default: FILE.json beside it)."
    )
    nz: int | None = option(None, "Latent size of --generator (default: its input shape).")
    base_path: str | None = option(None, "Folder for BASE/NAME/<version>/ and BASE/models.config.")
    model_name: str | None = option(None, "Model name (folder and TF Serving model name).")
    version: int | None = option(None, "Version number (default: next free one).", lower_bound=1)
    export_ema: str = option(
        "auto",
        "Also export the run's EMA generator as NAME_ema (auto: when it kept one).",
        choices=("auto", "yes", "no"),
    )
    reconstruct_mode: str = option("auto", "Reconstruction mode.", choices=("auto", "regular", "separable"))
    interpolation: str = option("spherical", "Interpolation path in z.", choices=("spherical", "linear"))
    warmup: bool = option(True, "Write assets.extra/tf_serving_warmup_requests (replayed at load).")
    lbfgs_budget: str = option(
        "fast",
        "The reconstruction signatures' L-BFGS: fast (--iterations with line search) or reference "
        "(torch.optim.LBFGS's rules as the reference ran them; the iterations input is ignored).",
        choices=("fast", "reference"),
    )
    graph_optimizer: bool = option(
        False,
        "Let TensorFlow's graph optimiser (Grappler) rewrite the signatures when a server first runs "
        "them: +~20 s per reconstruction signature's warm-up, no measured gain after.",
    )
    config_base_path: str | None = option(
        None, "Base path written into models.config (e.g. /models inside a container)."
    )


def _main_with_errors(argv):
    try:
        main(argv)
    except (ExportError, ModelsConfigError) as e:
        # A clear one-line message instead of a traceback for bad flags or files.
        print(f"export.saved_model: error: {e}", file=sys.stderr)
        sys.exit(2)


def cli():
    """Console script `biogans-export` (and `python -m export.saved_model`)."""
    from biogans_tf.cli import run as run_program

    define_flags(ExportOptions, __name__)
    run_program(_main_with_errors, __doc__, __name__, renamed={"ema": "export_ema"})  # issue 23's rename


if __name__ == "__main__":
    cli()
