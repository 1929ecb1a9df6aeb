"""Cell geometry: cycle phase, rod shape, nuclei and the per-pixel coordinate fields.

All lengths are in pixels of the output image. Parameters are set for 48x80 and multiplied by
`scale = min(H / 48, W / 80)` so that 96x160 shows the same cells at twice the resolution.

Cell frame: `u` runs along the long axis (0 at the cell centre, + to the right), `v` across it,
measured from the (slightly bent) centre line. The outline is a rod with hemispherical caps
(radius r = diameter / 2, tip-to-tip length L); `d` is the signed distance to it (negative inside).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from biogans_tf.data.sim.params import Draws, phase_from_uniform

STAGES = ("monopolar", "bipolar", "septating")
NETO_PHASE = 0.34  # new-end take-off: growth becomes bipolar
SEPTATION_PHASE = 0.75  # growth stops; mitosis, medial ring, septum
ANAPHASE_END = 0.87  # nuclei fully separated, septum forming


@dataclasses.dataclass
class Geometry:
    """A batch of n cells: per-cell parameters `[n]` and per-pixel fields `[n, H, W]` (float32).

    Attributes:
        scale: pixel scale relative to 48x80.
        phase: cycle phase in [0, 1); stage: index into STAGES.
        length, diameter: tip-to-tip length and rod diameter (px).
        old_side: +1 if the old (first growing) end is on the right, -1 if on the left.
        u_sep: septum position along the axis; nuc_u `[n, 2]`, nuc_v `[n, 2]`, nuc_r: the two
            daughter nuclei (identical before mitosis).
        cx, cy, theta, bend: placement (centre, tilt in radians, centre-line sagitta in px).
        u, v, d: coordinate and signed-distance fields; mask: the hard cell mask (bool);
        inside: soft inside indicator in [0, 1] for diffuse (cytoplasmic) signal, fading over the
            last 2-3 px inside the mask; outline: sharper indicator for membrane-bound features;
        cap_edge: axis position of the cap outline at each pixel's v (for tip crescents).
    """

    scale: float
    phase: np.ndarray
    stage: np.ndarray
    length: np.ndarray
    diameter: np.ndarray
    old_side: np.ndarray
    u_sep: np.ndarray
    nuc_u: np.ndarray
    nuc_v: np.ndarray
    nuc_r: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    theta: np.ndarray
    bend: np.ndarray
    u: np.ndarray
    v: np.ndarray
    d: np.ndarray
    mask: np.ndarray
    inside: np.ndarray
    outline: np.ndarray
    cap_edge: np.ndarray

    @property
    def n(self) -> int:
        return int(self.phase.shape[0])

    @property
    def radius(self) -> np.ndarray:
        return self.diameter / 2.0

    def col(self, a) -> np.ndarray:
        """A per-cell array `[n]` reshaped to broadcast against fields `[n, H, W]`."""
        return np.broadcast_to(np.asarray(a, np.float32), (self.n,))[:, None, None]

    def mitosis(self) -> np.ndarray:
        """Progress through mitosis/septation in [0, 1] (0 before SEPTATION_PHASE)."""
        return np.clip((self.phase - SEPTATION_PHASE) / (1.0 - SEPTATION_PHASE), 0.0, 1.0)

    def septum(self) -> np.ndarray:
        """Septum maturity in [0, 1]: 0 in interphase, 0.4 while the ring assembles during
        mitosis, rising to 1 once anaphase is over (the septum is laid down after the spindle)."""
        ring = np.where(self.phase >= SEPTATION_PHASE, 0.4, 0.0)
        return np.maximum(ring, np.clip((self.phase - (ANAPHASE_END - 0.04)) / 0.06, 0.0, 1.0))

    def half_width_at(self, u: np.ndarray) -> np.ndarray:
        """Half-width of the cell's projection at axis position `u` (per cell, same shape as u)."""
        r = self.radius.reshape((-1,) + (1,) * (u.ndim - 1))
        straight = self.length.reshape(r.shape) / 2.0 - r
        ax = np.maximum(np.abs(u) - straight, 0.0)
        return np.sqrt(np.maximum(r * r - ax * ax, 0.0))

    def to_image(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map cell-frame points `[n, k]` to image coordinates (y, x), each `[n, k]`."""
        half = self.length[:, None] / 2.0
        v_img = v + self.bend[:, None] * (1.0 - (u / half) ** 2)
        c, s = np.cos(self.theta)[:, None], np.sin(self.theta)[:, None]
        x = self.cx[:, None] + u * c - v_img * s
        y = self.cy[:, None] + u * s + v_img * c
        return y, x


def sample_geometry(draws: Draws, image_size: tuple[int, int], edge_noise: np.ndarray) -> Geometry:
    """Draw the geometry of a batch of cells and compute its pixel fields.

    Args:
        draws: the cells' geometry stream (see params.Draws); consumed in a fixed order.
        image_size: (H, W).
        edge_noise: float32 `[n, H, W]` uniforms in [0, 1) that make the mask edge ragged like a
            thresholded real image.

    Returns:
        A Geometry.
    """
    H, W = image_size
    s = min(H / 48.0, W / 80.0)
    cells, outline_shape = _draw_cells(draws, s, (H, W))
    fields = _pixel_fields(cells, outline_shape, s, (H, W), edge_noise)
    return Geometry(scale=s, **cells, **fields)


def _draw_cells(draws: Draws, s: float, image_size: tuple[int, int]) -> tuple[dict, dict]:
    """The per-cell parameters `[n]` of a batch, drawn from `draws` in one fixed order.

    The order of the draws is part of every simulated dataset: changing it changes the cells.

    Returns:
        (Geometry's per-cell fields by name, the outline's shape: constriction `[n]`, wob_amp and
        wob_phase `[n, 4]`).
    """
    H, W = image_size
    phase = phase_from_uniform(draws.uniform())
    stage = np.where(phase < NETO_PHASE, 0, np.where(phase < SEPTATION_PHASE, 1, 2))

    # Length grows from birth to its final size and stops at septation (the mask adds ~1.6 px:
    # masks span ~42-47 px at birth, ~64-78 px at division, as in LIN).
    birth = draws.uniform(40.0, 45.0)
    final = draws.uniform(62.0, 75.5)
    growth = np.minimum(phase / SEPTATION_PHASE, 1.0)
    length = np.minimum((birth + (final - birth) * growth) * s, W - 4.5 * s)
    diameter = draws.uniform(21.5, 23.5) * s
    old_side = np.where(draws.choice(0.5), 1.0, -1.0)
    theta = np.deg2rad(draws.normal(0.0, 2.2))
    bend = draws.normal(0.0, 1.0) * s
    cx = (W - 1) / 2.0 + draws.normal(0.0, 0.5) * s
    cy = (H - 1) / 2.0 + draws.normal(0.0, 0.4) * s
    u_sep = draws.normal(0.0, 0.8) * s

    # Nuclei: one near mid-cell in interphase; during anaphase the two daughters move apart to
    # about a quarter of the length either side of the septum.
    mit = np.clip((phase - SEPTATION_PHASE) / (ANAPHASE_END - SEPTATION_PHASE), 0.0, 1.0)
    nuc_c = draws.normal(0.0, 1.5) * s
    spread = mit * (length / 4.0 + draws.normal(0.0, 1.5) * s)
    centre = np.where(phase < SEPTATION_PHASE, nuc_c, u_sep)
    nuc_u = np.stack([centre - spread, centre + spread], axis=1)
    nuc_v = draws.normal(0.0, 0.8, k=2) * s
    nuc_r = draws.uniform(3.8, 5.0) * s * np.where(phase < SEPTATION_PHASE, 1.0, 0.85)

    # Late septating cells constrict at the septum.
    constriction = np.clip((phase - 0.9) / 0.1, 0.0, 1.0) * draws.uniform(0.0, 2.2) * s
    # Low-frequency outline wobble (top and bottom edge separately).
    wob_amp = draws.uniform(0.0, 0.6, k=4) * s * np.array([1.0, 0.4, 1.0, 0.4])
    wob_phase = draws.uniform(0.0, 2 * np.pi, k=4)
    cells = dict(
        phase=phase, stage=stage, length=length, diameter=diameter, old_side=old_side, u_sep=u_sep,
        nuc_u=nuc_u, nuc_v=nuc_v, nuc_r=nuc_r, cx=cx, cy=cy, theta=theta, bend=bend,
    )  # fmt: skip
    return cells, dict(constriction=constriction, wob_amp=wob_amp, wob_phase=wob_phase)


def _pixel_fields(cells: dict, outline_shape: dict, s: float, image_size, edge_noise) -> dict:
    """The per-pixel fields `[n, H, W]` of Geometry (u, v, d, mask, inside, outline, cap_edge).

    Args:
        cells, outline_shape: from `_draw_cells`.
        s: pixel scale relative to 48x80.
        image_size: (H, W).
        edge_noise: float32 `[n, H, W]` uniforms in [0, 1) (see `sample_geometry`).
    """
    H, W = image_size
    cx, cy, theta, length = cells["cx"], cells["cy"], cells["theta"], cells["length"]
    wob_amp, wob_phase = outline_shape["wob_amp"], outline_shape["wob_phase"]
    yy, xx = np.meshgrid(np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32), indexing="ij")
    f = lambda a: np.asarray(a, np.float32)[:, None, None]  # noqa: E731
    dx, dy = xx[None] - f(cx), yy[None] - f(cy)
    c, sn = f(np.cos(theta)), f(np.sin(theta))
    u = dx * c + dy * sn
    half = f(length / 2.0)
    v = -dx * sn + dy * c - f(cells["bend"]) * (1.0 - (u / half) ** 2)
    r = f(cells["diameter"] / 2.0)
    # Outline wobble and septum constriction vary along the cell; cells are nearly horizontal,
    # so they are computed per column (on x) and broadcast: [n, 1, W] instead of [n, H, W].
    xcol = (np.arange(W, dtype=np.float32)[None, None, :] - f(cx)) / f(np.cos(theta))
    k1 = np.float32(2 * np.pi) * xcol / f(length)

    def wave(i, j):
        return f(wob_amp[:, i]) * np.sin(k1 + f(wob_phase[:, i])) + f(wob_amp[:, j]) * np.sin(
            2 * k1 + f(wob_phase[:, j])
        )

    pinch = f(outline_shape["constriction"]) * np.exp(
        -((xcol - f(cells["u_sep"])) ** 2) / np.float32(2 * (2.5 * s) ** 2)
    )
    r_local = r - pinch + np.where(v < 0, wave(0, 1), wave(2, 3))
    ax = np.maximum(np.abs(u) - (half - r), 0.0)
    d = np.sqrt(ax * ax + v * v) - r_local
    # A real mask comes from thresholding a noisy image: its edge is ragged by about a pixel.
    jitter = (edge_noise - np.float32(0.5)) * np.float32(1.6 * s)
    # It also sits ~1 px outside the outline: its outermost ring is dim in real cells.
    mask = (d + jitter) < np.float32(0.8 * s)
    # Fluorescence fades over the last ~3 px inside the mask (the mask of a real image is a low
    # threshold on the blurred signal, so it sits outside the bright region): measured on the
    # real cells, the rings 1, 2, 3, 4 px inside the edge hold ~12, 53, 74, 93 % of the
    # interior brightness.
    inside = np.clip((-d - np.float32(0.3 * s)) / np.float32(2.5 * s), 0.0, 1.0)
    # Axis position of the cap outline at each v (used to draw tip crescents).
    cap_edge = (half - r) + np.sqrt(np.maximum(r * r - v * v, 0.0))
    return dict(
        u=u.astype(np.float32, copy=False),
        v=v.astype(np.float32, copy=False),
        d=d.astype(np.float32, copy=False),
        mask=mask,
        inside=inside.astype(np.float32, copy=False),
        cap_edge=cap_edge.astype(np.float32, copy=False),
        outline=np.clip((-d - np.float32(0.2 * s)) / np.float32(1.2 * s), 0.0, 1.0).astype(np.float32),
    )


def mask_extent(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extent of each mask along x (length) and y (width) in px.

    Args:
        mask: bool `[n, H, W]`.

    Returns:
        int arrays (length `[n]`, width `[n]`); 0 for an empty mask.
    """
    cols = mask.any(axis=1)
    rows = mask.any(axis=2)

    def extent(b):
        has = b.any(axis=1)
        first = np.argmax(b, axis=1)
        last = b.shape[1] - 1 - np.argmax(b[:, ::-1], axis=1)
        return np.where(has, last - first + 1, 0)

    return extent(cols), extent(rows)
