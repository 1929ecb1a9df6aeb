"""In-graph latent reconstruction (batched L-BFGS) and latent-space interpolation.

Reconstruction answers "which z makes the generator draw this cell?": for every image we minimise the
mean squared pixel error between `G(z)` and the image over z with L-BFGS, from several random starts,
and keep the best start per image. All (restart, image) pairs are solved as ONE batch of independent
problems with `tfp.optimizer.lbfgs_minimize` (its batched mode keeps a separate history, line search and
convergence flag per row), so the whole thing is a single graph that runs on an accelerator, exports
into a SavedModel signature and needs no Python loop.

The generator must be evaluated in inference mode (`training=False`): with batch statistics the rows
would interact and the problems would no longer be independent.

Everything here works both eagerly (it wraps itself in a `tf.function`) and inside a traced function
(e.g. a SavedModel signature, where `iterations`, `restarts` and `seed` may be tensors).
"""

from __future__ import annotations

import math

import tensorflow as tf

from biogans_tf.conventions import LBFGS_BUDGETS, RED_SHARING
from biogans_tf.eval import lbfgs_reference

MODES = ("regular", "separable")
# L-BFGS budgets: "fast" = `iterations` iterations of tfp's L-BFGS (line search, one problem per
# image and restart) on the mean squared error on [0, 1] intensities; "reference" = the reference's
# optimiser (`lbfgs_reference`: torch.optim.LBFGS, lr 0.05, no line search, history 100), 50 steps of
# up to 20 iterations, the codes of a batch as one problem, on its loss: the mean over the batch and
# pixels of the squared error in [-1, 1] units.
BUDGETS = LBFGS_BUDGETS
REFERENCE_OUTER_STEPS, REFERENCE_INNER_ITERATIONS = 50, 20
# Separable reconstruction: RED_SHARING (biogans_tf.conventions) "per-restart" = red then green
# within each restart (the reference); "shared-best" = the best red over all restarts, then green
# from every restart's green start.
INTERPOLATIONS = ("linear", "spherical")

# L-BFGS stops a row when max|grad| falls below this. The objective is a mean over pixels, so its
# gradients are small; the default 1e-8 would stop well-fitting rows early.
_GRAD_TOLERANCE = 1e-12


def _per_image_mse(pred, target, weights):
    """Mean squared error on [0, 1] intensities per image, `[B, ...]` -> `[B]`.

    The images live in [-1, 1]; halving the difference maps it to [0, 1] intensities.
    """
    sq = tf.square((pred - target) * 0.5)
    axes = tf.range(1, tf.rank(sq))
    if weights is None:
        return tf.reduce_mean(sq, axis=axes)
    w = tf.broadcast_to(tf.cast(weights, sq.dtype), tf.shape(sq))
    return tf.reduce_sum(sq * w, axis=axes) / tf.maximum(tf.reduce_sum(w, axis=axes), 1e-12)


def _channels(x, channels):
    """Select a `(start, stop)` range of the last (channel) axis; None keeps all channels."""
    if channels is None or x is None:
        return x
    start, stop = channels
    return x[..., start:stop]


def fit_latent(
    generator_fn,
    targets,
    z_init,
    *,
    free=None,
    channels=None,
    weights=None,
    iterations=50,
    loss_scale=1.0,
    tolerance=None,
    joint_groups=None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Fit part of z to images with batched L-BFGS; the other coordinates of z stay exactly fixed.

    Args:
        generator_fn: callable `z [N, nz] -> images [N, ...]` (inference mode), e.g.
            `lambda z: G(z, training=False)`. Images are channel-last; channel 0 is the red.
        targets: float32 `[N, ...]` in [-1, 1], same layout as the generator's output.
        z_init: float32 `[N, nz]` starting points, one independent problem per row.
        free: `(start, stop)` range of z coordinates to optimise (default: all of them). The others
            are concatenated back unchanged, so they are bit-for-bit equal to `z_init`.
        channels: `(start, stop)` range of the last image axis the loss looks at (default: all).
        weights: optional per-pixel weights broadcastable to `targets` (e.g. `[N, 1, 1, c]` to ignore
            some channels of some images).
        iterations: maximum L-BFGS iterations (int or int32 tensor).
        loss_scale: factor on the minimised per-row loss (the "reference" budget's normalisation).
        tolerance: L-BFGS gradient tolerance (max |grad| per row); default 1e-12.
        joint_groups: None (tfp's L-BFGS, one problem per row), or the number of groups (int or int32
            tensor) into which the rows split in order, each ONE joint problem solved by the reference's
            L-BFGS (`lbfgs_reference`, its settings) on the mean of its rows' losses times
            `loss_scale`; `iterations` and `tolerance` are then the reference's and ignored.

    Returns:
        `(z [N, nz], mse [N])`: fitted z and the final per-row loss (mean squared error on [0, 1]
        intensities over the selected channels).
    """
    z_init = tf.convert_to_tensor(z_init, tf.float32)
    targets = tf.convert_to_tensor(targets, tf.float32)
    nz = z_init.shape[-1]
    start, stop = free if free is not None else (0, nz)
    left, v0, right = z_init[:, :start], z_init[:, start:stop], z_init[:, stop:]
    tgt = _channels(targets, channels)
    w = _channels(weights, channels)

    def assemble(v):
        return tf.concat([left, v, right], axis=1)

    def loss_fn(v):
        return _per_image_mse(_channels(generator_fn(assemble(v)), channels), tgt, w)

    if joint_groups is not None:
        v = _joint_reference_fit(generator_fn, left, v0, right, tgt, w, channels, joint_groups, loss_scale)
        return assemble(v), loss_fn(v)

    def value_and_gradients(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            loss = loss_fn(v) * loss_scale
            # The rows are independent, so the gradient of the sum is each row's own gradient.
            total = tf.reduce_sum(loss)
        return loss, tape.gradient(total, v)

    # One traced function for all of L-BFGS's call sites (initial point, line search): the exported graph
    # holds the generator's forward and backward pass once instead of once per call site.
    tol = _GRAD_TOLERANCE if tolerance is None else tolerance
    result = _lbfgs(tf.function(value_and_gradients, autograph=False), v0, iterations, tol)
    z = assemble(result.position)
    return z, loss_fn(result.position)


def _joint_reference_fit(generator_fn, left, v0, right, tgt, w, channels, groups, loss_scale):
    """The reference's optimisation: rows `[G * n, k]` in G consecutive groups of n, each one problem.

    The reference optimises the codes of a batch together (one vector, one history), on the mean of
    the batch's losses; the groups run one after another (`tf.map_fn`), as its restarts did.
    """
    k = v0.shape[-1] if v0.shape[-1] is not None else tf.shape(v0)[-1]
    n = tf.shape(v0)[0] // groups

    def solve(g):
        rows = tf.range(g * n, (g + 1) * n)
        lft, rgt, t = tf.gather(left, rows), tf.gather(right, rows), tf.gather(tgt, rows)
        wt = None if w is None else tf.gather(w, rows)

        def value_and_gradient(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                z = tf.concat([lft, tf.reshape(x, [n, k]), rgt], axis=1)
                loss = (
                    tf.reduce_mean(_per_image_mse(_channels(generator_fn(z), channels), t, wt)) * loss_scale
                )
            return loss, tape.gradient(loss, x)

        x0 = tf.reshape(tf.gather(v0, rows), [-1])
        result = lbfgs_reference.minimize(
            value_and_gradient, x0, steps=REFERENCE_OUTER_STEPS, max_iter=REFERENCE_INNER_ITERATIONS
        )
        return tf.reshape(result.position, [n, k])

    solved = tf.map_fn(
        solve, tf.range(groups), fn_output_signature=tf.TensorSpec([None, v0.shape[-1]], v0.dtype)
    )
    return tf.reshape(solved, tf.shape(v0))


def _lbfgs(value_and_gradients, v0, iterations, tolerance):
    # Imported lazily: tfp is only needed when a reconstruction is traced, and a SavedModel that ran it
    # reloads without tfp installed.
    import tensorflow_probability as tfp

    return tfp.optimizer.lbfgs_minimize(
        value_and_gradients,
        initial_position=v0,
        max_iterations=iterations,
        tolerance=tolerance,
        num_correction_pairs=10,
    )


def _tile_rows(x, restarts):
    """`[B, ...]` -> `[restarts * B, ...]`, restart-major (row r * B + b is restart r of image b)."""
    multiples = tf.concat([[restarts], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0)
    return tf.tile(x, multiples)


def _best_per_image(values, loss, restarts, batch):
    """Pick, per image, the restart with the lowest loss. `values [R*B, k]`, `loss [R*B]` -> `[B, k]`."""
    loss = tf.reshape(loss, [restarts, batch])
    best = tf.argmin(loss, axis=0, output_type=tf.int32)
    idx = tf.stack([best, tf.range(batch)], axis=1)
    k = values.shape[-1] if values.shape[-1] is not None else -1  # keep nz static for later shapes
    return tf.gather_nd(tf.reshape(values, [restarts, batch, k]), idx)


def gaussian_nll(z) -> tf.Tensor:
    """Negative log-likelihood of z under N(0, I): `0.5 * ||z||^2 + nz/2 * log(2 pi)`; `[B, nz]` -> `[B]`."""
    z = tf.convert_to_tensor(z, tf.float32)
    nz = tf.cast(tf.shape(z)[-1], tf.float32)
    return 0.5 * tf.reduce_sum(tf.square(z), axis=-1) + 0.5 * nz * math.log(2.0 * math.pi)


def _mask_weights(channel_mask, images, weights):
    """Validate a `[c]` 0/1 channel mask in-graph and fold it into the per-pixel loss weights."""
    mask = tf.convert_to_tensor(channel_mask, tf.float32)
    checks = [
        tf.debugging.assert_equal(
            tf.size(mask), tf.shape(images)[-1],
            message="reconstruct: channel_mask needs one entry per image channel (the last image axis)",
        ),
        tf.debugging.assert_equal(
            tf.reduce_all((mask == 0.0) | (mask == 1.0)), True,
            message="reconstruct: channel_mask entries must be 1 (observed) or 0 (ignored)",
        ),
        tf.debugging.assert_positive(
            tf.reduce_sum(mask), message="reconstruct: channel_mask is all zeros; mark >= 1 observed channel"
        ),
    ]  # fmt: skip
    with tf.control_dependencies(checks):
        # Padded/cut to length c, so no later op fails on a bad mask first with a cryptic shape
        # error (graph optimisation does not keep every op behind these control dependencies).
        c = tf.shape(images)[-1]
        mask = tf.reshape(mask, [-1])
        mask = tf.pad(mask, [[0, tf.maximum(c - tf.size(mask), 0)]])[:c]  # [c], broadcasts per channel
    return mask if weights is None else tf.cast(weights, tf.float32) * mask


def _reconstruct(
    generator_fn, images, nz, iterations, restarts, seed, mode, red_dims, weights, budget, red_sharing,
    phases, channel_mask=None,
):  # fmt: skip
    images = tf.convert_to_tensor(images, tf.float32)
    iterations = tf.convert_to_tensor(iterations, tf.int32)
    restarts = tf.convert_to_tensor(restarts, tf.int32)
    seed = tf.cast(seed, tf.int64)
    checks = [
        tf.debugging.assert_positive(restarts, message="reconstruct: restarts must be >= 1"),
        tf.debugging.assert_non_negative(iterations, message="reconstruct: iterations must be >= 0"),
    ]
    if channel_mask is not None:
        # Masked channels weigh 0 in every loss (both separable phases, the restart choice, the l2).
        weights = _mask_weights(channel_mask, images, weights)
    with tf.control_dependencies(checks):
        batch = tf.shape(images)[0]
        rows = restarts * batch
    targets = _tile_rows(images, restarts)
    w = None if weights is None else _tile_rows(tf.broadcast_to(weights, tf.shape(images)), restarts)
    z0 = tf.random.stateless_normal(tf.stack([rows, nz]), seed=tf.stack([seed, tf.constant(0, tf.int64)]))
    if budget == "reference":
        # The reference minimises torch.mean((x - G(z))**2) over a batch of B images in [-1, 1] (4x
        # the mean of our [0, 1] MSEs) with torch.optim.LBFGS, all B codes as one problem; each
        # restart of the reference is its own batch of B.
        opts = dict(loss_scale=4.0, joint_groups=restarts)
    else:
        opts = dict(iterations=iterations)

    z_red = None
    if mode == "regular":
        z, _ = fit_latent(generator_fn, targets, z0, weights=w, **opts)
    else:
        # Red first: the red part of z alone draws the red channel, so fit it on the red channel with
        # the green part left at its random start, then fit the green part on the green channel(s).
        z_red, loss_red = fit_latent(
            generator_fn, targets, z0, free=(0, red_dims), channels=(0, 1), weights=w, **opts
        )
        z1 = z_red
        if red_sharing == "shared-best":
            red_best = _best_per_image(z_red[:, :red_dims], loss_red, restarts, batch)
            z1 = tf.concat([_tile_rows(red_best, restarts), z0[:, red_dims:]], axis=1)
        z, _ = fit_latent(
            generator_fn, targets, z1, free=(red_dims, nz), channels=(1, None), weights=w, **opts
        )
    # The best restart by the total error over all channels (as the reference's L2 choice).
    z_best = _best_per_image(z, _per_image_mse(generator_fn(z), targets, w), restarts, batch)

    recon = generator_fn(z_best)
    l2 = tf.sqrt(_per_image_mse(recon, images, weights))
    out = {"z": z_best, "reconstructions": recon, "l2": l2, "nll": gaussian_nll(z_best)}
    if phases:
        out.update(z_init=z0, z_red=z0 if z_red is None else z_red, z_all=z)
    return out


def _checked_red_dims(nz: int, iterations, restarts, mode, red_dims, budget, red_sharing) -> int:
    """`reconstruct`'s Python-side argument checks; returns the red part's size (default nz // 2).

    Raises:
        ValueError: naming the bad argument and what it must be.
    """
    if mode not in MODES:
        raise ValueError(f"reconstruct: mode must be one of {MODES}, got {mode!r}")
    if budget not in BUDGETS:
        raise ValueError(f"reconstruct: budget must be one of {'|'.join(BUDGETS)}, got {budget!r}")
    if red_sharing not in RED_SHARING:
        raise ValueError(
            f"reconstruct: red_sharing must be one of {'|'.join(RED_SHARING)}, got {red_sharing!r}"
        )
    red_dims = nz // 2 if red_dims is None else int(red_dims)
    if mode == "separable" and not 0 < red_dims < nz:
        raise ValueError(f"reconstruct: red_dims must be in (0, nz={nz}), got {red_dims}")
    # Tensors (inside a traced signature) are checked in-graph by `_reconstruct`.
    for name, value in (("iterations", iterations), ("restarts", restarts)):
        if isinstance(value, int) and value < (1 if name == "restarts" else 0):
            raise ValueError(f"reconstruct: {name} must be >= {1 if name == 'restarts' else 0}, got {value}")
    return red_dims


def reconstruct(
    generator_fn,
    images,
    nz: int,
    iterations=50,
    restarts=5,
    seed=0,
    mode: str = "regular",
    red_dims: int | None = None,
    weights=None,
    budget: str = "fast",
    red_sharing: str = "per-restart",
    return_phases: bool = False,
    channel_mask=None,
) -> dict:
    """Find latent codes that reproduce `images`, by batched multi-start L-BFGS.

    Args:
        generator_fn: callable `z float32 [N, nz] -> images [N, ...]` in inference mode, e.g.
            `lambda z: G(z, training=False)`; images channel-last with channel 0 = red (Bgs4).
        images: float32 `[B, ...]` in [-1, 1], same layout as the generator output (e.g.
            `[B, H, W, 2]` for dcgan, `[B, H, W, 1+C]` for star/multichannel).
        nz: latent size (static int).
        iterations: maximum L-BFGS iterations per phase with the "fast" budget (int or int32 tensor).
        restarts: random starts per image (>= 1); all `restarts * B` problems run as one batch.
        seed: seed of the starting points (int or int64 tensor); same seed, same result.
        mode: "regular" (fit all of z on all channels) or "separable" (red-first, for separable and
            star generators: fit `z[:, :red_dims]` on the red channel with the green part fixed, then
            `z[:, red_dims:]` on the green channel(s) with the red part fixed).
        red_dims: size of the red part of z in separable mode: the generator's own split
            `int(nz * red_portion)` (default `nz // 2`, i.e. red_portion 0.5).
        weights: optional per-pixel loss weights broadcastable to `images` (e.g. `[B, 1, 1, c]` to fit
            only some channels); also used for the reported `l2`.
        budget: "fast" or "reference" (see `BUDGETS`; "reference" ignores `iterations`).
        red_sharing: separable mode, "per-restart" (the reference) or "shared-best" (see `RED_SHARING`).
            Either way the best restart per image is the one with the lowest total error.
        return_phases: also return `z_init`, `z_red` (after the red phase) and `z_all` (every
            restart's final z), each `[restarts * B, nz]`, restart-major.
        channel_mask: optional float32 `[c]` over the last image axis, 1 = observed, 0 = ignored
            (e.g. a real cell with the red and one protein's green, reconstructed by a star model).
            Ignored channels' pixels count in no loss and not in `l2`, whatever their values; in
            separable mode the red phase uses the red if observed, the green phase the observed
            greens. Checked in-graph (length c, entries 0/1, at least one 1: InvalidArgumentError).

    Returns:
        dict of tensors: `z` `[B, nz]` (best restart per image), `reconstructions` (`G(z)`, same
        shape as `images`), `l2` `[B]` (root mean square error over pixels and channels on [0, 1]
        intensities; only the observed channels with `channel_mask`), `nll` `[B]` (negative
        log-likelihood of z under N(0, I)).
    """
    nz = int(nz)
    red_dims = _checked_red_dims(nz, iterations, restarts, mode, red_dims, budget, red_sharing)

    def run(images, iterations, restarts, seed):
        return _reconstruct(
            generator_fn, images, nz, iterations, restarts, seed, mode, red_dims, weights, budget,
            red_sharing, return_phases, channel_mask,
        )  # fmt: skip

    args = (
        tf.convert_to_tensor(images, tf.float32),
        tf.convert_to_tensor(iterations, tf.int32),
        tf.convert_to_tensor(restarts, tf.int32),
        tf.convert_to_tensor(seed, tf.int64),
    )
    if tf.executing_eagerly():
        # tfp's while loops are Python loops in eager mode; one trace makes them a graph.
        return tf.function(run, autograph=False)(*args)
    return run(*args)


def interpolate(z0, z1, steps, kind: str = "linear") -> tf.Tensor:
    """Points on the path from z0 to z1, endpoints included.

    Args:
        z0, z1: float32 `[..., nz]` (e.g. `[nz]` or `[B, nz]`), same shape.
        steps: number of points (>= 1; int or int32 tensor). With 1 the result is just z0.
        kind: "linear" (straight line) or "spherical" (slerp: the great-circle path, which keeps the
            norm typical of N(0, I) samples; falls back to linear for (anti)parallel endpoints).

    Returns:
        float32 `[steps, ..., nz]`.
    """
    if kind not in INTERPOLATIONS:
        raise ValueError(f"interpolate: kind must be one of {INTERPOLATIONS}, got {kind!r}")
    z0 = tf.convert_to_tensor(z0, tf.float32)
    z1 = tf.convert_to_tensor(z1, tf.float32)
    steps = tf.convert_to_tensor(steps, tf.int32)
    with tf.control_dependencies(
        [tf.debugging.assert_positive(steps, message="interpolate: steps must be >= 1")]
    ):
        t = tf.linspace(0.0, 1.0, steps)
    t = tf.reshape(t, tf.concat([[-1], tf.ones([tf.rank(z0)], tf.int32)], axis=0))
    linear = (1.0 - t) * z0 + t * z1
    if kind == "linear":
        return linear
    n0 = tf.norm(z0, axis=-1, keepdims=True)
    n1 = tf.norm(z1, axis=-1, keepdims=True)
    cos = tf.reduce_sum(z0 * z1, axis=-1, keepdims=True) / tf.maximum(n0 * n1, 1e-12)
    omega = tf.acos(tf.clip_by_value(cos, -1.0, 1.0))
    sin_omega = tf.sin(omega)
    ok = sin_omega > 1e-6
    safe = tf.where(ok, sin_omega, tf.ones_like(sin_omega))
    slerp = (tf.sin((1.0 - t) * omega) * z0 + tf.sin(t * omega) * z1) / safe
    return tf.where(ok, slerp, linear)
