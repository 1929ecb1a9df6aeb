"""Everything a training run sets up from its `TrainConfig`: process settings, run folder, data, trainer.

The training program (`training/train.py`) and the benchmarks build through these functions, so
a run, a benchmark and a test all get the same models, optimisers and data order for a config.
Errors a user can fix by changing a flag are `ConfigError`s naming the flag.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from biogans_tf.cpu import ONEDNN_VARIABLE
from biogans_tf.data import pipeline, sources
from biogans_tf.data.errors import DataError
from biogans_tf.models import registry
from biogans_tf.models.critic_bank import grouped_training_error
from biogans_tf.trainer import distribute
from biogans_tf.trainer.config import ConfigError, TrainConfig
from biogans_tf.trainer.gan_model import GanTrainer
from biogans_tf.trainer.optimizers import make_optimizer
from biogans_tf.trainer.precision import POLICIES, resolve_precision
from biogans_tf.trainer.run_lock import RunLock


def use_jit(cfg: TrainConfig) -> bool:
    """Whether the train step is XLA-compiled (`--jit_compile`; auto = when there is a GPU)."""
    value = str(cfg.jit_compile).lower()
    if value == "auto":
        # XLA pays off on GPUs; on CPUs it is ~10x slower for the double-backward penalty.
        return bool(tf.config.list_physical_devices("GPU"))
    return value == "true"


def configure_process(cfg: TrainConfig) -> tf.distribute.Strategy:
    """Process-wide settings of a run: determinism, the strategy, the precision policy.

    Call before TensorFlow runs any op (MultiWorkerMirroredStrategy must exist by then).

    Raises:
        ConfigError: the strategy cannot be set up or does not split `--batch_size`.
    """
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
        # Op determinism alone was not enough here: with several inter-op threads, runs of the
        # same config occasionally differed (Adam amplifies the last-bit differences), so
        # independent ops run one at a time; each op still uses all cores (intra-op threads).
        try:
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TF already initialised in this process (e.g. a second run in tests)
            if tf.config.threading.get_inter_op_parallelism_threads() != 1:
                print("warning: --deterministic could not limit inter-op threads", file=sys.stderr)
    try:
        strategy = distribute.make_strategy(cfg.strategy)
        distribute.check_batch_split(cfg.batch_size, strategy)
    except distribute.StrategyError as e:
        raise ConfigError(str(e)) from None
    # `auto` becomes what this machine runs best; config.json (written later) records it.
    cfg.precision, why = resolve_precision(cfg.precision)
    if why != "requested":
        print(f"precision: {cfg.precision} ({why})", file=sys.stderr, flush=True)
    keras.mixed_precision.set_global_policy(POLICIES[cfg.precision])
    cfg.critic_bank, why = resolve_critic_bank(cfg)
    if why:
        print(f"critic bank: {cfg.critic_bank} ({why})", file=sys.stderr, flush=True)
    return strategy


def resolve_critic_bank(cfg: TrainConfig) -> tuple[str, str | None]:
    """The critic bank execution this process trains `cfg` with, and why (None: nothing to say).

    `auto` is `grouped` where `critic_bank.grouped_training_error` finds that a grouped convolution
    trains in the run's compute dtype (and no spectral norm asks for per-critic kernels), else
    `loop`. Families without a bank (one critic) record `loop`. Call after the precision policy
    is set.

    Raises:
        ConfigError: `grouped` (asked for, or recorded by the run being resumed) cannot train here.
    """
    if registry.family(cfg.arch) != "conditional":
        return ("loop", None) if cfg.critic_bank == "auto" else (cfg.critic_bank, None)
    auto = cfg.critic_bank == "auto"
    if cfg.critic_bank == "loop" or (auto and cfg.critic_norm != "none"):
        return "loop", ("auto: spectral norm needs per-critic kernels" if auto else None)
    problem = grouped_training_error(keras.mixed_precision.global_policy().compute_dtype)
    if problem is None:
        return "grouped", ("auto: grouped convolutions train here" if auto else None)
    if auto:
        return "loop", f"auto: grouped convolutions cannot train here: {problem}"
    resumed = " (recorded by the run being resumed)" if cfg.resume else ""
    raise ConfigError(
        f"--critic_bank=grouped{resumed} cannot train in this process: {problem}; use --critic_bank=loop "
        f"or auto, or turn TensorFlow's oneDNN on ({ONEDNN_VARIABLE}=1)"
    )


def check_run_dir(run_dir: str) -> None:
    """Create `run_dir` and prove it writable, so a bad --run_dir fails in one line before any work.

    Raises:
        ConfigError: naming the path and the cause (a file, under a file, read-only, full disk).
    """
    path = os.path.abspath(run_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"--run_dir={run_dir}: is a file, not a folder")
    parent = os.path.dirname(path)
    while parent != os.path.dirname(parent) and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise ConfigError(f"--run_dir={run_dir}: lies under {parent}, which is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ConfigError(
            f"--run_dir={run_dir}: cannot write to {e.filename or path} ({e.strerror or e})"
        ) from None


def prepare_run_dir(cfg: TrainConfig) -> RunLock:
    """Check that --run_dir is a writable folder and take its lock; refuse to train over another run.

    Returns:
        The held `RunLock`: keep it referenced while training (one writer per run folder).

    Raises:
        ConfigError: not a writable folder; another process trains in it (its pid named); it holds
            a run and --resume was not given; --resume was given and it holds no run.
    """
    check_run_dir(cfg.run_dir)
    lock = RunLock(cfg.run_dir).acquire()  # before looking: two starts at once must not both see "empty"
    held = cfg.folder.run_records()
    if cfg.resume and not held:
        lock.release()
        raise ConfigError(
            f"--resume: --run_dir={cfg.run_dir} holds no run (no config.json, no checkpoints/); drop "
            "--resume to start a new run there"
        )
    if held and not cfg.resume:
        lock.release()
        raise ConfigError(
            f"--run_dir={cfg.run_dir} already holds a run ({held[0]}); pass --resume to continue it "
            "or choose another --run_dir"
        )
    return lock


def load_cells(cfg: TrainConfig):
    """Training CellSet plus the data checks that need it (labels, counts vs batch size)."""
    try:
        cells = sources.load(
            cfg.data, "train", proteins=cfg.proteins, image_size=cfg.image_size, seed=cfg.seed,
            channel_map=cfg.channel_map, percentiles=cfg.percentiles, resize_policy=cfg.resize_policy,
        )  # fmt: skip
    except DataError as e:
        raise ConfigError(f"--data={cfg.data}: {e}") from None
    family = registry.family(cfg.arch)
    if cells.image_size != tuple(cfg.image_size):
        raise ConfigError(
            f"--image_size={cfg.image_size[0]}x{cfg.image_size[1]} but --data={cfg.data} has "
            f"{cells.image_size[0]}x{cells.image_size[1]} images"
        )
    if family != "joint" and len(cells.proteins) < 2:
        raise ConfigError(
            f"--arch={cfg.arch} needs labelled data with >= 2 proteins; --data={cfg.data} has "
            f"{len(cells.proteins)} ({', '.join(cells.proteins)}); use --arch=dcgan or dcgan-sep"
        )
    counts = cells.counts()
    if family == "joint":
        if len(cells) < cfg.batch_size:
            raise ConfigError(
                f"--batch_size={cfg.batch_size} is larger than the {len(cells)} training images"
            )
    else:
        smallest = min(counts, key=counts.get)
        if counts[smallest] < cfg.batch_size:
            raise ConfigError(
                f"--batch_size={cfg.batch_size} is larger than the {counts[smallest]} training images of "
                f"protein {smallest!r} (--arch={cfg.arch} draws a batch of every protein)"
            )
    return cells


def training_dataset(cfg: TrainConfig, cells, strategy, start_step: int = 0, neighbours=None):
    """The run's real batches from critic step `start_step` on, split over `strategy`'s replicas.

    Args:
        cfg: the run's config (arch, batch size, seed, flips).
        cells: the training `CellSet` (`load_cells`).
        strategy: the run's `tf.distribute.Strategy`.
        start_step: the critic step (data position) of the first batch.
        neighbours: the multichannel family's mined neighbours, else None.

    Returns:
        A `tf.data.Dataset` of global batches (one replica) or a distributed dataset.
    """

    def make_dataset():
        return pipeline.make_batches(
            registry.family(cfg.arch), cells, cfg.batch_size, cfg.seed,
            start_step=start_step, neighbours=neighbours, flips=cfg.flips,
        )  # fmt: skip

    axes = distribute.batch_axes(make_dataset().element_spec)
    return distribute.replica_datasets(strategy, make_dataset, axes)


def build_trainer(cfg: TrainConfig, n_proteins: int, strategy=None) -> GanTrainer:
    """Models, loss and optimisers of `cfg`, wrapped in a compiled `GanTrainer`.

    Under a `tf.distribute` strategy everything is created in its scope and BatchNorm is
    synchronized across replicas (statistics of the global batch, as on one device).
    """
    if strategy is not None and strategy is not tf.distribute.get_strategy():
        with strategy.scope():
            return build_trainer(cfg, n_proteins, strategy)
    synced = cfg.strategy != "default"
    loss, schedule = cfg.loss(), cfg.schedule()
    common = dict(image_size=tuple(cfg.image_size), n_proteins=n_proteins, synchronized_bn=synced)
    gkw = generator_kwargs(cfg, n_proteins, synchronized_bn=synced)
    generator = registry.build_generator(cfg.arch, **gkw)
    critic = registry.build_critic(
        cfg.arch,
        **common,
        ndf=cfg.ndf,
        batchnorm=cfg.critic_batchnorm,
        seed=cfg.seed,
        norm=cfg.critic_norm,
        execution=cfg.critic_bank,
    )
    ema = registry.build_generator(cfg.arch, **gkw) if cfg.ema else None
    trainer = GanTrainer(
        generator,
        critic,
        loss,
        schedule,
        nz=cfg.nz,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        view_fn=lambda x: registry.critic_view(cfg.arch, x, n_proteins),
        ema_generator=ema,
        ema_decay=cfg.ema_decay,
    )
    s = schedule
    d_opt = make_optimizer(s.optimizer, s.lr_d, s.beta1, s.beta2, name="d_optimizer")
    g_opt = make_optimizer(s.optimizer, s.lr_g, s.beta1, s.beta2, name="g_optimizer")
    if cfg.precision == "mixed_float16":
        d_opt = keras.optimizers.LossScaleOptimizer(d_opt, name="d_loss_scale")
        g_opt = keras.optimizers.LossScaleOptimizer(g_opt, name="g_loss_scale")
    jit = use_jit(cfg)
    # The weight updates fuse under XLA on one device (no merge_call inside an XLA cluster).
    trainer.compile(d_optimizer=d_opt, g_optimizer=g_opt, jit_compile=jit, fused_updates=not (jit or synced))
    return trainer


def generator_kwargs(cfg: TrainConfig, n_proteins: int, synchronized_bn: bool = False) -> dict:
    """`registry.build_generator` arguments (besides the arch) of `cfg`'s generator."""
    return dict(
        image_size=tuple(cfg.image_size), n_proteins=n_proteins, synchronized_bn=synchronized_bn,
        nz=cfg.nz, ngf=cfg.ngf, red_portion=cfg.red_portion, seed=cfg.seed,
    )  # fmt: skip


def float32_generator(cfg: TrainConfig, n_proteins: int, generator: keras.Model) -> keras.Model:
    """`generator` as a float32 model with the same weights (itself when it already is float32).

    A generator trained under `--precision=bf16` carries the `mixed_bfloat16` policy in its
    `.keras` config and would compute and return bfloat16 wherever it is loaded; the files a run
    writes for samplers, exports and servers hold this float32 twin instead (the weights, BatchNorm
    statistics included, are float32 either way).
    """
    if generator.compute_dtype == "float32":
        return generator
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        twin = registry.build_generator(cfg.arch, **generator_kwargs(cfg, n_proteins))
    finally:
        keras.mixed_precision.set_global_policy(before)
    twin.set_weights(generator.get_weights())
    return twin


def weights_digest(trainer: GanTrainer) -> str:
    """SHA-256 of every generator and critic weight (bytes, in weight order): equal iff identical."""
    h = hashlib.sha256()
    for model in (trainer.generator, trainer.critic):
        for v in model.weights:
            h.update(np.ascontiguousarray(np.asarray(v)).tobytes())
    return h.hexdigest()
