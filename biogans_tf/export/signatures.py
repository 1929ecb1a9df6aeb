"""The `tf.Module` that a generator is exported as: its serving signatures and their tensor specs.

Signatures (all outputs float32 unless stated; "images" use the generator's own output layout, e.g.
`[B, H, W, 2]` for dcgan, `[B, H, W, 1+C]` for star/multichannel, `[B, C, H, W, 2]` for independent;
channel 0 = red (Bgs4), then greens in protein order; values in [-1, 1]):

- `sample`  (also `serving_default`): `n` int32 `[]`, `seed` int64 `[]` -> `images` `[n, ...]`,
  `z` `[n, nz]`. z ~ N(0, I) from a stateless RNG: same seed, same images, on any machine.
- `generate`: `z` float32 `[None, nz]` -> `images`.
- `reconstruct`: `images` float32 `[None, ...]` in [-1, 1], `iterations` int32 `[]`, `restarts` int32
  `[]`, `seed` int64 `[]` -> `z` `[B, nz]`, `reconstructions`, `l2` `[B]` (RMS error on [0, 1]
  intensities), `nll` `[B]` (-log N(z; 0, I)).
- `reconstruct_masked`: as `reconstruct` plus `channel_mask` float32 `[c]` (one entry per channel of
  the last image axis, 1 = observed, 0 = ignored, at least one 1) -> the same outputs, with the
  fit and `l2` over the observed channels only (their pixels' mean). For a real cell that shows the
  red and ONE protein's green: a star/multichannel model fits those two channels (separable mode:
  the red phase on the red, the green phase on that green) and its other greens are predictions,
  whatever values were sent for them. Layout `[B, C, H, W, 2]` (independent): the mask is `[2]`.
- `interpolate`: `z0`, `z1` float32 `[nz]`, `steps` int32 `[]` -> `images` `[steps, ...]`, `z`
  `[steps, nz]`.
- `metadata` (no inputs): `proteins` string `[C]` (the green channels' order), `channels` string
  `[c]` (names of the last image axis, e.g. "red:Bgs4", "green:Alp14"), `nz` int32 `[]`.

Bad values (n <= 0, non-finite inputs, steps <= 0, restarts <= 0, a channel_mask of the wrong
length, with entries other than 0/1 or all zeros) fail inside the graph with
InvalidArgumentError, so the export also refuses them when served by the real TF Serving.
"""

from __future__ import annotations

import tensorflow as tf

from biogans_tf.eval import latent

SIGNATURES = ("sample", "generate", "reconstruct", "reconstruct_masked", "interpolate", "metadata")


class GeneratorModule(tf.Module):
    """A generator wrapped with serving signatures.

    Args:
        generator: Keras generator, called as `generator(z, training=False)` with z float32 `[B, nz]`.
        nz: latent size.
        image_shape: per-sample output shape (e.g. `(48, 80, 2)`).
        proteins: green channel names in order.
        reconstruct_mode: "regular" or "separable" (red-first; for separable/star generators).
        interpolation: "linear" or "spherical".
        red_dims: size of the red part of z (separable mode), default `nz // 2`.
        lbfgs_budget: "fast" (tfp's L-BFGS, `iterations` per phase) or "reference" (the reference's
            torch.optim.LBFGS rules, `biogans_tf.eval.lbfgs_reference`; `iterations` is then ignored).
    """

    def __init__(
        self,
        generator,
        nz: int,
        image_shape,
        proteins,
        reconstruct_mode: str = "regular",
        interpolation: str = "spherical",
        red_dims: int | None = None,
        lbfgs_budget: str = "fast",
    ):
        super().__init__(name="biogans_generator")
        # Kept as an attribute so its variables are tracked and saved ("untracked resource" otherwise).
        self.generator = generator
        # The tf.Variables behind the Keras variables, tracked themselves: then the saver restores the
        # very variables the signatures read. Tracked only through the Keras model, the MetaGraph gets a
        # second, never-restored copy of each, and graph loaders (TF Serving, `saved_model_cli run`, the
        # server's sessions) fail with "Could not find variable" (keras-team/keras#19274).
        self.tf_variables = [v.value for v in generator.weights]
        self._nz = int(nz)
        self._image_shape = tuple(int(d) for d in image_shape)
        self._mode = reconstruct_mode
        self._budget = lbfgs_budget
        self._interpolation = interpolation
        self._red_dims = self._nz // 2 if red_dims is None else int(red_dims)
        self._proteins = [str(p) for p in proteins]
        n_channels = self._image_shape[-1]
        if len(self._image_shape) == 4:  # independent: [C, H, W, 2], each protein its own (red, green)
            self._channels = ["red:Bgs4", "green"]
        else:
            if len(self._proteins) == n_channels - 1:
                greens = [f"green:{p}" for p in self._proteins]
            elif n_channels == 2:  # a joint model trained on several proteins: one generic green
                greens = ["green"]
            else:
                greens = [f"green:{i}" for i in range(n_channels - 1)]
            self._channels = ["red:Bgs4"] + greens

    def _g(self, z):
        return tf.cast(self.generator(z, training=False), tf.float32)

    def _sample(self, n, seed):
        check = tf.debugging.assert_positive(n, message="sample: n must be >= 1")
        with tf.control_dependencies([check]):
            z = tf.random.stateless_normal(
                tf.stack([n, self._nz]), seed=tf.stack([seed, tf.constant(0, tf.int64)])
            )
        return {"images": self._g(z), "z": z}

    def _generate(self, z):
        z = tf.debugging.assert_all_finite(z, "generate: z has NaN or Inf values")
        return {"images": self._g(z)}

    def _fit(self, images, channel_mask, iterations, restarts, seed):
        """The one reconstruction graph (multi-start L-BFGS) behind both reconstruction signatures."""
        return latent.reconstruct(
            self._g,
            images,
            self._nz,
            iterations=iterations,
            restarts=restarts,
            seed=seed,
            mode=self._mode,
            red_dims=self._red_dims,
            budget=self._budget,
            channel_mask=channel_mask,
        )

    def _reconstruct(self, images, iterations, restarts, seed, fit):
        images = tf.debugging.assert_all_finite(images, "reconstruct: images have NaN or Inf values")
        every_channel = tf.ones([self._image_shape[-1]], tf.float32)
        return fit(images, every_channel, iterations, restarts, seed)

    def _reconstruct_masked(self, images, channel_mask, iterations, restarts, seed, fit):
        images = tf.debugging.assert_all_finite(images, "reconstruct_masked: images have NaN or Inf values")
        channel_mask = tf.debugging.assert_all_finite(
            channel_mask, "reconstruct_masked: channel_mask has NaN or Inf values"
        )
        return fit(images, channel_mask, iterations, restarts, seed)

    def _interpolate(self, z0, z1, steps):
        z0 = tf.debugging.assert_all_finite(z0, "interpolate: z0 has NaN or Inf values")
        z1 = tf.debugging.assert_all_finite(z1, "interpolate: z1 has NaN or Inf values")
        z = latent.interpolate(z0, z1, steps, kind=self._interpolation)
        return {"images": self._g(z), "z": z}

    def _metadata(self):
        return {
            "proteins": tf.constant(self._proteins, tf.string, shape=[len(self._proteins)]),
            "channels": tf.constant(self._channels, tf.string),
            "nz": tf.constant(self._nz, tf.int32),
        }

    def signatures(self) -> dict:
        """Concrete functions keyed by signature name, `serving_default` = `sample`.

        The tf.functions are deliberately not stored on the module: attributes would be saved (and
        traced) a second time next to the signatures, doubling the size of the reconstruction graph.
        """
        nz = self._nz
        spec = tf.TensorSpec
        specs = {
            "sample": [spec([], tf.int32, name="n"), spec([], tf.int64, name="seed")],
            "generate": [spec([None, nz], tf.float32, name="z")],
            "reconstruct": [
                spec([None, *self._image_shape], tf.float32, name="images"),
                spec([], tf.int32, name="iterations"),
                spec([], tf.int32, name="restarts"),
                spec([], tf.int64, name="seed"),
            ],
            "reconstruct_masked": [
                spec([None, *self._image_shape], tf.float32, name="images"),
                # Length checked in-graph (a clear message, also under the real TF Serving).
                spec([None], tf.float32, name="channel_mask"),
                spec([], tf.int32, name="iterations"),
                spec([], tf.int32, name="restarts"),
                spec([], tf.int64, name="seed"),
            ],
            "interpolate": [
                spec([nz], tf.float32, name="z0"),
                spec([nz], tf.float32, name="z1"),
                spec([], tf.int32, name="steps"),
            ],
            "metadata": [],
        }
        # Both reconstruction signatures call this one tf.function (`reconstruct` with every channel
        # observed), so the SavedModel holds the large L-BFGS graph once: a second copy doubled the
        # export's tracing time and saved_model.pb size.
        fit = tf.function(self._fit, input_signature=specs["reconstruct_masked"], autograph=False)
        fns = {name: getattr(self, f"_{name}") for name in SIGNATURES}
        fns["reconstruct"] = lambda images, iterations, restarts, seed: self._reconstruct(
            images, iterations, restarts, seed, fit
        )
        fns["reconstruct_masked"] = lambda images, channel_mask, iterations, restarts, seed: (
            self._reconstruct_masked(images, channel_mask, iterations, restarts, seed, fit)
        )
        sigs = {
            name: tf.function(fns[name], input_signature=specs[name], autograph=False).get_concrete_function()
            for name in SIGNATURES
        }
        sigs["serving_default"] = sigs["sample"]
        return sigs
