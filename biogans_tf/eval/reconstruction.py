"""Test-set reconstruction (paper Sec. 5.2): Table 3 rows, Figure 5 grid, Figure 6 scatter.

For every held-out cell, `biogans_tf.eval.latent.reconstruct` finds the z whose G(z) is closest
in per-pixel L2 (batched multi-start L-BFGS). This module runs it over a test set in chunks,
adds the paper's baselines and summarises:

- L2: root mean square error over pixels and both channels on [0, 1] intensities;
- NLL: negative log-likelihood of the found z under N(0, I);
- baseline "nearest training cell": the L2 from each test cell to its nearest training cell of
  the same protein (both channels), found with batched matrix products;
- baseline "prior": the NLL of random N(0, I) draws (what a typical z scores);
- summaries: median +- MAD (unscaled) over cells, as the paper's Table 3
  (`biogans_tf.eval.reconstruction_report`, with the figures).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from biogans_tf.conventions import to_model_range, to_uint8
from biogans_tf.eval.latent import gaussian_nll, reconstruct
from biogans_tf.eval.reconstruction_report import table3_rows, write_figures


def _unit(images) -> np.ndarray:
    """Images as float32 intensities in [0, 1], flattened to `[N, D]`."""
    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else (x.astype(np.float32) + 1.0) / 2.0
    return x.reshape(x.shape[0], -1)


def nearest_neighbours(queries, references, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Nearest reference image of every query image in per-pixel L2.

    Uses `|q - r|^2 = |q|^2 + |r|^2 - 2 q.r` with one matrix product per chunk of queries, then
    recomputes the chosen pair's error exactly.

    Args:
        queries: `[N, H, W, c]` uint8 or float in [-1, 1].
        references: `[M, H, W, c]`, same layout.
        chunk: queries per matrix product.

    Returns:
        `(index [N] into references, l2 [N])`, l2 = RMS over pixels and channels on [0, 1].
    """
    q, r = _unit(queries), _unit(references)
    if q.shape[1] != r.shape[1]:
        raise ValueError(
            f"nearest_neighbours: queries {np.shape(queries)} and references {np.shape(references)}"
        )
    r_sq = np.einsum("md,md->m", r, r)
    idx = np.empty(len(q), np.int64)
    for s in range(0, len(q), chunk):
        block = q[s : s + chunk]
        d2 = r_sq[None, :] - 2.0 * block @ r.T  # |q|^2 is constant per row: argmin does not need it
        idx[s : s + chunk] = np.argmin(d2, axis=1)
    diff = q.astype(np.float64) - r[idx].astype(np.float64)
    return idx, np.sqrt(np.mean(diff**2, axis=1))


def prior_nll(n: int, nz: int, seed: int) -> np.ndarray:
    """NLL under N(0, I) of `n` random N(0, I) draws of size `nz` (the "prior" baseline), `[n]`."""
    z = np.random.default_rng(np.random.SeedSequence([int(seed), 7])).standard_normal((n, nz))
    return gaussian_nll(z.astype(np.float32)).numpy().astype(np.float64)


class Reconstructor:
    """Batched latent reconstruction that traces each mode's L-BFGS graph once and reuses it.

    Tracing tfp's L-BFGS around a generator costs seconds to tens of seconds (more than solving a
    small set), so one traced function per mode serves every chunk of every protein: the protein
    is a tensor argument, and the generator itself is wrapped in one `tf.function` so its layers
    are traced once, not at every place L-BFGS evaluates it.

    With `static_protein=True` the protein is a Python int instead: one trace per (mode, protein),
    for generators that can draw one protein alone (star, independent: `GeneratorRun.pair` then
    runs only that protein's tower, several times cheaper per L-BFGS evaluation).

    Args:
        generator_fn: `(z float32 [B, nz], protein_index) -> [B, H, W, c]` in inference mode
            (e.g. `GeneratorRun.pair`); the index is an int32 scalar tensor, or a Python int with
            `static_protein`; one-output generators ignore it.
        nz: latent size.
        iterations, restarts: L-BFGS iterations per phase and random starts per image.
        batch: images per chunk (each chunk solves `restarts * batch` problems at once).
        static_protein: trace per protein (see above).
        budget, red_dims, red_sharing: as `biogans_tf.eval.latent.reconstruct`.
    """

    def __init__(
        self,
        generator_fn,
        nz: int,
        *,
        iterations: int = 50,
        restarts: int = 5,
        batch: int = 64,
        static_protein: bool = False,
        budget: str = "fast",
        red_dims: int | None = None,
        red_sharing: str = "per-restart",
    ):
        self.nz, self.iterations, self.restarts, self.batch = (
            int(nz),
            int(iterations),
            int(restarts),
            int(batch),
        )
        # Everything `reconstruct` takes besides the images, the seed and the generator.
        self.options = dict(budget=budget, red_dims=red_dims, red_sharing=red_sharing)
        self.generator_fn, self.static_protein = generator_fn, bool(static_protein)
        self._solvers = {}

    def _solver(self, mode: str, image_shape, protein: int):
        """The traced solver for (mode, image shape[, protein]); built on first use."""
        static = self.static_protein
        key = (mode, tuple(image_shape), int(protein) if static else None)
        if key in self._solvers:
            return self._solvers[key]
        z_spec = tf.TensorSpec([None, self.nz], tf.float32)
        spec = [tf.TensorSpec([None, *image_shape], tf.float32), tf.TensorSpec([], tf.int64)]
        # The generator is its own tf.function so its layers are traced once, not at every place
        # L-BFGS evaluates it.
        if static:
            index = int(protein)
            gen = tf.function(
                lambda z: self.generator_fn(z, index), input_signature=[z_spec], autograph=False
            )

            def solve(images, seed):
                return reconstruct(
                    gen, images, self.nz, self.iterations, self.restarts, seed, mode, **self.options
                )

        else:
            spec.append(tf.TensorSpec([], tf.int32))
            gen2 = tf.function(self.generator_fn, input_signature=[z_spec, spec[-1]], autograph=False)

            def solve(images, seed, index):
                fn = lambda z: gen2(z, index)  # noqa: E731
                return reconstruct(
                    fn, images, self.nz, self.iterations, self.restarts, seed, mode, **self.options
                )

        self._solvers[key] = tf.function(solve, input_signature=spec, autograph=False)
        return self._solvers[key]

    def __call__(
        self, images, *, mode: str = "regular", seed: int = 0, protein_index: int = 0, progress=False, desc=""
    ) -> dict:
        """Reconstruct `images` (`[N, H, W, c]`, uint8 or float in [-1, 1]) in chunks.

        Chunk `k` uses the starting-point seed `seed * 1_000_003 + k`.

        Returns:
            dict of numpy arrays: `z [N, nz]`, `reconstructions` uint8 `[N, H, W, c]`, `l2 [N]`,
            `nll [N]`.
        """
        x = to_model_range(images)  # uint8 -> [-1, 1]; floats stay as they are
        solve = self._solver(mode, x.shape[1:], protein_index)
        extra = [] if self.static_protein else [tf.constant(int(protein_index), tf.int32)]
        starts = range(0, len(x), self.batch)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=desc or f"reconstruct ({mode})", leave=False)
        parts = []
        for k, s in enumerate(starts):
            chunk_seed = tf.constant(int(seed) * 1_000_003 + k, tf.int64)
            out = solve(tf.constant(x[s : s + self.batch]), chunk_seed, *extra)
            parts.append({key: v.numpy() for key, v in out.items()})
        res = {key: np.concatenate([p[key] for p in parts], axis=0) for key in parts[0]}
        res["reconstructions"] = to_uint8(res["reconstructions"])
        res["l2"] = res["l2"].astype(np.float64)
        res["nll"] = res["nll"].astype(np.float64)
        return res


def reconstruct_set(
    generator_fn,
    images,
    nz: int,
    *,
    mode: str = "regular",
    iterations: int = 50,
    restarts: int = 5,
    seed: int = 0,
    batch: int = 64,
    progress: bool = False,
    desc: str = "",
) -> dict:
    """Reconstruct a whole image set with a one-output generator `z -> [B, H, W, c]`.

    A convenience over `Reconstructor` (see there for the result dict and seeds).
    """
    rec = Reconstructor(
        lambda z, protein: generator_fn(z), nz, iterations=iterations, restarts=restarts, batch=batch
    )
    return rec(images, mode=mode, seed=seed, progress=progress, desc=desc)


def red_dims_of(model, nz: int) -> int:
    """The generator's own red part of z, `int(nz * red_portion)` (red_portion from its config; 0.5
    when it has none, as dcgan-sep and star by default)."""
    from biogans_tf.models.dcgan import red_split

    return red_split(int(nz), float(model.get_config().get("red_portion", 0.5)))


def _groups(run, test, train, max_per_group: int | None):
    """(name, protein index, test images, train images) per protein, or one pooled group (joint runs)."""
    if run.family == "joint":
        t, r = test.images, train.images
        if max_per_group and len(t) > max_per_group:
            t = t[np.sort(np.random.default_rng(0).permutation(len(t))[:max_per_group])]
        return [("+".join(run.proteins), 0, t, r)]
    out = []
    for i, name in enumerate(run.proteins):
        t, r = test.of_protein(name), train.of_protein(name)
        out.append((name, i, t[:max_per_group] if max_per_group else t, r))
    return out


def evaluate_run(
    run,
    test,
    train,
    *,
    modes=("regular", "separable"),
    iterations: int = 50,
    restarts: int = 5,
    seed: int = 0,
    max_per_protein: int | None = None,
    batch: int = 64,
    out_dir: str | None = None,
    n_figure_rows: int = 8,
    progress: bool = False,
    budget: str = "fast",
    separable_red: str = "per-restart",
    palette: str = "red-green",
) -> dict:
    """Table 3 for one generator run on a test set, with Figures 5 and 6.

    Args:
        run: a `biogans_tf.runs.generator.GeneratorRun`.
        test, train: `CellSet`s with the run's proteins (train gives the nearest-neighbour baseline).
        modes: reconstruction modes; "separable" is skipped (and reported so) for non-separable archs.
        iterations, restarts, seed, batch: as `reconstruct_set`.
        max_per_protein: reconstruct at most this many test cells per protein (the first ones).
        out_dir: where to write `fig5_reconstructions.png`, `fig6_l2_vs_nll.png` and `table3.md`.
        n_figure_rows: test cells shown in Figure 5 (spread over proteins).
        progress: tqdm bars.
        budget: L-BFGS budget, "fast" or "reference" (`biogans_tf.eval.latent.BUDGETS`).
        separable_red: "per-restart" (the reference) or "shared-best" (`latent.RED_SHARING`).
        palette: colours of Figure 5 (`biogans_tf.viz.PALETTES`).

    Returns:
        JSON-ready dict: `rows` (Table 3 over all cells), `per_protein` (rows per protein),
        `skipped_modes`, `settings`, and `figures` (file names).
    """
    modes, skipped = _usable_modes(run, modes)
    rec = Reconstructor(
        run.pair,
        run.nz,
        iterations=iterations,
        restarts=restarts,
        batch=batch,
        static_protein=run.has_protein_path,
        budget=budget,
        red_dims=red_dims_of(run.model, run.nz),
        red_sharing=separable_red,
    )
    groups = _groups(run, test, train, max_per_protein)
    per_protein, pooled, nn_all, fig_rows = _reconstruct_groups(rec, groups, modes, run.nz, seed, progress)
    prior = prior_nll(len(nn_all), run.nz, seed)
    rows = table3_rows(pooled, nn_all, prior)
    figures = {}
    if out_dir:
        figures = write_figures(
            out_dir, run.arch, fig_rows, pooled, nn_all, prior, rows, n_rows=n_figure_rows, palette=palette
        )
    return {
        "rows": rows,
        "per_protein": per_protein,
        "skipped_modes": skipped,
        "settings": {
            "iterations": iterations,
            "restarts": restarts,
            "seed": seed,
            "max_per_protein": max_per_protein,
            "budget": budget,
            "separable_red": separable_red,
            "red_dims": red_dims_of(run.model, run.nz),
        },
        "figures": figures,
    }


def _usable_modes(run, modes) -> tuple[list[str], list[str]]:
    """(modes to run, skipped modes): "separable" needs a separable arch; unknown modes drop out."""
    modes = [m for m in modes if m in ("regular", "separable")]
    skipped = [m for m in modes if m == "separable" and not run.separable]
    modes = [m for m in modes if m not in skipped]
    if not modes:
        raise ValueError(
            f"reconstruction: no usable mode for arch {run.arch!r} (separable needs a separable arch)"
        )
    return modes, skipped


def _reconstruct_groups(rec: Reconstructor, groups, modes, nz: int, seed: int, progress: bool):
    """Reconstruct every group in every mode, with its nearest-neighbour and prior baselines.

    Returns:
        `(per_protein {name: Table 3 rows}, pooled {mode: {"l2", "nll"} over all cells},
        nearest-neighbour l2 of all cells [N], figure rows [(test, neighbours, {mode: recon}, name)])`.
    """
    per_protein, pooled = {}, {m: {"l2": [], "nll": []} for m in modes}
    nn_all, fig_rows = [], []
    for gi, (name, index, t, r) in enumerate(groups):
        if len(t) == 0 or len(r) == 0:
            raise ValueError(f"reconstruction: protein {name} has {len(t)} test and {len(r)} training cells")
        nn_idx, nn_l2 = nearest_neighbours(t, r)
        res = {
            m: rec(
                t, mode=m, seed=seed + 101 * gi, protein_index=index, progress=progress, desc=f"{name} {m}"
            )
            for m in modes
        }
        per_protein[name] = table3_rows(res, nn_l2, prior_nll(len(t), nz, seed + gi))
        for m in modes:
            pooled[m]["l2"].append(res[m]["l2"])
            pooled[m]["nll"].append(res[m]["nll"])
        nn_all.append(nn_l2)
        fig_rows.append((t, r[nn_idx], {m: res[m]["reconstructions"] for m in modes}, name))
    pooled = {m: {k: np.concatenate(v) for k, v in d.items()} for m, d in pooled.items()}
    return per_protein, pooled, np.concatenate(nn_all), fig_rows
