"""What each channel shows: the Bgs4 red channel and the green pattern of each protein.

Each function returns the fluorescence of a batch as two float32 `[n, H, W]` layers, in units
of the channel's cytoplasm level (~1), before the optics (imaging.py): `diffuse` (cytoplasm;
fades over the last 2-3 px inside the outline, where the cell is thin) and `features`
(membrane caps, bands, spots; confined by the outline without fading). Patterns follow the
table of the LIN simulator design note:
Bgs4 marks growing tips and the septum; Alp14 microtubules and the spindle; Arp3/Fim1 cortical
actin patches at growing tips and the ring; Cki2 large blobs; Mkh1/Sid2 cytoplasm with a dark
nucleus (Mkh1 strong septum, Sid2 spindle-pole-body dots); Tea1/Tea4 cell-tip crescents.

Every function consumes its stream's uniforms in a fixed order, whatever the cells' phases.
"""

from __future__ import annotations

import numpy as np

from biogans_tf.data.sim import render
from biogans_tf.data.sim.geometry import NETO_PHASE, SEPTATION_PHASE, Geometry
from biogans_tf.data.sim.params import Draws


def _nucleus_shadow(geom: Geometry, darkness: np.ndarray) -> np.ndarray:
    """Multiplier that dims the nucleus (or both daughter nuclei) to `1 - darkness`."""
    shade = np.zeros_like(geom.u)
    for k in range(2):
        shade = np.maximum(shade, render.disk(geom, geom.nuc_u[:, k], geom.nuc_v[:, k], geom.nuc_r, soft=1.5))
    return 1.0 - geom.col(darkness) * shade


def _growing_tips(geom: Geometry, new_tip_level: tuple[float, float], dr: Draws):
    """Per-cell weights of the old and new tip: old = 1; new = 0 (monopolar) or drawn (bipolar)."""
    new = dr.uniform(*new_tip_level)
    # New-end growth switches on after NETO and ramps up within ~0.1 of the cycle.
    ramp = np.clip((geom.phase - NETO_PHASE) / 0.1, 0.0, 1.0)
    return np.ones(geom.n), new * ramp


def _patch_positions(geom: Geometry, dr: Draws, kmax: int, tip_frac: float, sep_frac: float):
    """Cortical patch positions (u, v) `[n, kmax]`: at growing tips, the septum, or anywhere."""
    s = geom.scale
    half = geom.length[:, None] / 2.0
    where = dr.uniform(k=kmax)
    pick_new = dr.uniform(k=kmax)
    depth = -np.log(1.0 - dr.uniform(k=kmax)) * 3.5 * s
    anywhere = dr.uniform(-1.0, 1.0, k=kmax) * (half - 1.5 * s)
    near_sep = geom.u_sep[:, None] + dr.normal(0.0, 2.2, k=kmax) * s
    angle = dr.uniform(0.0, 2 * np.pi, k=kmax)
    bipolar = (geom.phase >= NETO_PHASE)[:, None]
    side = geom.old_side[:, None] * np.where(bipolar & (pick_new < 0.45), -1.0, 1.0)
    at_tip = side * (half - np.minimum(depth, half - 1.0))
    septating = (geom.phase >= SEPTATION_PHASE)[:, None]
    u = np.where(
        septating,
        np.where(where < sep_frac, near_sep, anywhere),
        np.where(where < tip_frac, at_tip, anywhere),
    )
    v = render.cortex_points(geom, u, angle, inset=1.5)
    return u, v


def red_bgs4(geom: Geometry, dr: Draws) -> np.ndarray:
    """Bgs4 (red): dim cytoplasm with faint puncta, saturating growing tips, septum band."""
    s = geom.scale
    cyto = dr.uniform(0.27, 0.42)
    old_w, new_w = _growing_tips(geom, (0.45, 0.95), dr)
    tip_amp = dr.uniform(0.8, 1.2)
    depth_old = dr.uniform(3.0, 5.5) * s
    depth_new = dr.uniform(2.5, 4.5) * s
    # Growth stops at mitosis: Bgs4 leaves the tips over ~0.06 of the cycle while the septum
    # band appears (faint ring first, bright septum after anaphase).
    leaving = np.clip((geom.phase - SEPTATION_PHASE) / 0.06, 0.0, 1.0)
    tip_level = 1.0 - (1.0 - dr.uniform(0.05, 0.3)) * leaving
    band_w = dr.uniform(2.5, 4.0) * s
    band_amp = geom.septum() * dr.uniform(0.75, 1.1)
    n_punct = np.floor(dr.uniform(2, 9)).astype(int)
    k = 8
    pu = dr.uniform(-1.0, 1.0, k=k) * (geom.length[:, None] / 2.0 - 2.0 * s)
    pv = dr.uniform(-1.0, 1.0, k=k) * (geom.diameter[:, None] / 2.0 - 2.5 * s)
    pa = dr.uniform(0.15, 0.4, k=k) * (np.arange(k)[None] < n_punct[:, None])

    content = geom.col(cyto) * np.ones_like(geom.u)
    feat = np.zeros_like(geom.u)
    old = render.tip_cap(geom, geom.old_side, depth_old)
    new = render.tip_cap(geom, -geom.old_side, depth_new)
    feat += geom.col(tip_amp * tip_level) * (geom.col(old_w) * old + geom.col(new_w) * new)
    feat += geom.col(band_amp * tip_amp) * render.band(geom, geom.u_sep, band_w)
    # Bgs4 also sits in many faint cytoplasmic vesicles: a grainy, mottled cytoplasm.
    km = 24
    mu = dr.uniform(-1.0, 1.0, k=km) * (geom.length[:, None] / 2.0 - 2.0 * s)
    mv = dr.uniform(-1.0, 1.0, k=km) * (geom.diameter[:, None] / 2.0 - 2.0 * s)
    ma = dr.uniform(0.05, 0.2, k=km) * cyto[:, None] / 0.38
    # Puncta and mottle share one splat + blur.
    content += render.spots(
        geom,
        np.concatenate([pu, mu], axis=1),
        np.concatenate([pv, mv], axis=1),
        np.concatenate([pa, ma], axis=1),
        1.0 * s,
    )
    return content, feat


def green_alp14(geom: Geometry, dr: Draws) -> np.ndarray:
    """Alp14: interphase microtubule bundles with bright ends; a spindle bar; later fragments."""
    s = geom.scale
    half = geom.length[:, None] / 2.0
    shadow = _nucleus_shadow(geom, dr.uniform(0.1, 0.25))
    # Interphase: 2-4 bundles along the axis, ~5 px apart.
    k = 4
    n_mt = np.floor(dr.uniform(2, 5)).astype(int)
    spacing = dr.uniform(4.0, 6.0) * s
    lane = (np.arange(k)[None] - (n_mt[:, None] - 1) / 2.0) * spacing[:, None] + dr.normal(0, 0.8, k=k) * s
    mt_len = np.minimum(dr.uniform(8.0, 32.0, k=k) * s, 2 * half - 8 * s)
    centre = dr.uniform(-1.0, 1.0, k=k) * np.maximum(half - mt_len / 2.0 - 3 * s, 0.0)
    tilt = dr.normal(0.0, 0.05, k=k) * mt_len
    lane = np.clip(lane, -geom.diameter[:, None] / 2 + 3 * s, geom.diameter[:, None] / 2 - 3 * s)
    interphase = (geom.phase < SEPTATION_PHASE)[:, None] & (np.arange(k)[None] < n_mt[:, None])
    amp = np.where(interphase, dr.uniform(1.4, 2.2, k=k), 0.0)
    u0, u1 = centre - mt_len / 2.0, centre + mt_len / 2.0
    v0, v1 = lane - tilt / 2.0, lane + tilt / 2.0
    dot_amp = amp * dr.uniform(1.0, 2.0, k=k)
    # Mitosis: the spindle elongates along the axis, then breaks up into dots and fragments.
    prog = np.clip((geom.phase - SEPTATION_PHASE) / 0.12, 0.0, 1.0)[:, None]
    early = ((geom.phase >= SEPTATION_PHASE) & (geom.phase < 0.87))[:, None]
    sp_len = np.minimum(4.0 * s + prog * 0.55 * geom.length[:, None], 48.0 * s)
    sp_u0, sp_u1 = geom.u_sep[:, None] - sp_len / 2.0, geom.u_sep[:, None] + sp_len / 2.0
    sp_v = geom.nuc_v[:, :1]
    sp_amp = np.where(early, dr.uniform(2.5, 3.5, k=1), 0.0)
    kf = 6
    late = (geom.phase >= 0.87)[:, None] & (np.arange(kf)[None] < np.floor(dr.uniform(3, 7))[:, None])
    fu = dr.uniform(-1.0, 1.0, k=kf) * (half - 4 * s)
    fv = dr.uniform(-1.0, 1.0, k=kf) * (geom.diameter[:, None] / 2.0 - 4 * s)
    flen = dr.uniform(0.0, 8.0, k=kf) * s
    fang = dr.normal(0.0, 0.4, k=kf)
    famp = np.where(late, dr.uniform(1.5, 3.0, k=kf), 0.0)

    # Long bundles and the spindle (<= 48 px) and short fragments are sampled separately so
    # neither needs 1-px sampling over the longest possible segment.
    feat = render.lines(
        geom,
        np.concatenate([u0, sp_u0], axis=1),
        np.concatenate([v0, sp_v], axis=1),
        np.concatenate([u1, sp_u1], axis=1),
        np.concatenate([v1, sp_v], axis=1),
        np.concatenate([amp, sp_amp], axis=1),
        0.5 * s,
        step=0.7 * s,
        max_len=48 * s,
    )
    dx, dy = flen / 2 * np.cos(fang), flen / 2 * np.sin(fang)
    feat += render.lines(geom, fu - dx, fv - dy, fu + dx, fv + dy, famp, 0.5 * s, step=0.7 * s, max_len=8 * s)
    # Bright plus-end dots at both ends of the interphase bundles.
    du = np.concatenate([u0, u1], axis=1)
    dv = np.concatenate([v0, v1], axis=1)
    feat += render.spots(geom, du, dv, np.concatenate([dot_amp, dot_amp], axis=1), 0.8 * s)
    return shadow, feat


def _actin(geom: Geometry, dr: Draws, count: tuple[int, int], tip_frac: float, sigma: float):
    kmax = count[1]
    n_p = np.floor(dr.uniform(count[0], count[1] + 1)).astype(int)
    u, v = _patch_positions(geom, dr, kmax, tip_frac=tip_frac, sep_frac=0.75)
    amp = dr.uniform(4.0, 8.0, k=kmax) * (np.arange(kmax)[None] < n_p[:, None])
    return render.spots(geom, u, v, amp, sigma * geom.scale)


def green_arp3(geom: Geometry, dr: Draws) -> np.ndarray:
    """Arp3: 20-35 cortical actin patches at the growing tip(s); around the ring at septation."""
    cyto = np.ones_like(geom.u)
    return cyto, _actin(geom, dr, (20, 35), tip_frac=0.6, sigma=0.6)


def green_fim1(geom: Geometry, dr: Draws) -> np.ndarray:
    """Fim1: actin patches like Arp3 (a little smaller, less tip-biased) plus a faint medial ring."""
    patches = _actin(geom, dr, (26, 40), tip_frac=0.45, sigma=0.55)
    # The ring's nodes gather from late G2 on; faint before septation, clear after.
    ring_amp = np.clip((geom.phase - 0.55) / 0.2, 0.0, 1.0) * dr.uniform(0.35, 0.6)
    ring = render.band(geom, geom.u_sep, dr.uniform(1.5, 2.5) * geom.scale)
    return np.ones_like(geom.u), patches + geom.col(ring_amp) * ring


def green_cki2(geom: Geometry, dr: Draws) -> np.ndarray:
    """Cki2: 1-4 large irregular bright blobs (10-15 px) over diffuse cytoplasm."""
    s = geom.scale
    half = geom.length[:, None] / 2.0
    kb, parts = 4, 8
    n_b = 1 + np.searchsorted(np.array([0.15, 0.6, 0.85]), dr.uniform(0, 1))
    # Blob centres spread along the cell (ordered slots with jitter) so they rarely merge.
    slot = (np.arange(kb)[None] + 0.5) / n_b[:, None] * 2 - 1
    bu = slot * (half - 8 * s) + dr.normal(0, 2.0, k=kb) * s
    bv = dr.normal(0, 1.5, k=kb) * s
    on = np.arange(kb)[None] < n_b[:, None]
    size = dr.uniform(3.5, 5.5, k=kb) * s
    pu = bu[:, :, None] + dr.normal(0, 1, k=kb * parts).reshape(-1, kb, parts) * size[:, :, None]
    pv = bv[:, :, None] + dr.normal(0, 0.8, k=kb * parts).reshape(-1, kb, parts) * size[:, :, None]
    lim = geom.diameter[:, None, None] / 2 - 3 * s
    pv = np.clip(pv, -lim, lim)
    w = np.where(on[:, :, None], dr.uniform(0.5, 1.0, k=kb * parts).reshape(-1, kb, parts), 0.0)
    n = geom.n
    field = render.spots(geom, pu.reshape(n, -1), pv.reshape(n, -1), w.reshape(n, -1), 2.4 * s)
    # A soft threshold turns the sum of bumps into irregular plateau-like blobs.
    blobs = np.clip((field - 0.35) / 0.45, 0.0, 1.0) ** 0.7
    amp = dr.uniform(1.6, 2.6)
    cyto = dr.uniform(0.9, 1.1)
    return geom.col(cyto) * np.ones_like(geom.u), geom.col(amp) * blobs


def green_mkh1(geom: Geometry, dr: Draws) -> np.ndarray:
    """Mkh1: bright cytoplasm, dark nucleus/nuclei, brighter growing tip, strong septum band."""
    s = geom.scale
    content = _nucleus_shadow(geom, dr.uniform(0.4, 0.5))
    feat = np.zeros_like(geom.u)
    old_w, new_w = _growing_tips(geom, (0.3, 0.7), dr)
    tip_amp = dr.uniform(1.3, 2.0) * np.where(geom.phase >= SEPTATION_PHASE, 0.3, 1.0)
    old = render.tip_cap(geom, geom.old_side, dr.uniform(3.0, 6.0) * s, soft=2.5)
    new = render.tip_cap(geom, -geom.old_side, dr.uniform(3.0, 5.0) * s, soft=2.5)
    feat += geom.col(tip_amp) * (geom.col(old_w) * old + geom.col(new_w) * new)
    sept = geom.septum()
    feat += geom.col(sept * dr.uniform(0.5, 0.75)) * render.band(geom, geom.u_sep, dr.uniform(2.5, 4.0) * s)
    return content, feat


def green_sid2(geom: Geometry, dr: Draws) -> np.ndarray:
    """Sid2: cytoplasm with a dark nucleus and a spindle-pole-body dot; 2 dots + weak septum later."""
    s = geom.scale
    content = _nucleus_shadow(geom, dr.uniform(0.2, 0.35))
    ang = dr.uniform(0, 2 * np.pi, k=2)
    # SPBs sit on the nuclear envelope; in mitosis the two face the cell tips.
    mitotic = (geom.phase >= SEPTATION_PHASE)[:, None]
    du = np.where(mitotic, np.array([[-1.0, 1.0]]), np.cos(ang)) * geom.nuc_r[:, None]
    dv = np.where(mitotic, 0.0, 0.7 * np.sin(ang)) * geom.nuc_r[:, None]
    amp = dr.uniform(1.8, 3.0, k=2) * np.where(mitotic, 1.0, np.array([[1.0, 0.0]]))
    feat = render.spots(geom, geom.nuc_u + du, geom.nuc_v + dv, amp, 1.1 * s)
    sept = geom.septum()
    feat += geom.col(sept * dr.uniform(0.2, 0.4)) * render.band(geom, geom.u_sep, dr.uniform(2.0, 3.5) * s)
    return content, feat


def _tea_tips(geom: Geometry, dr: Draws, thickness, amp_range, softness: float) -> np.ndarray:
    """Crescents hugging both tips' membrane (Tea1/Tea4 mark both ends whatever the growth)."""
    s = geom.scale
    out = np.zeros_like(geom.u)
    for side in (geom.old_side, -geom.old_side):
        depth = dr.uniform(*thickness) * s
        # Thin layer under the membrane, limited to the cap (~12 px tall) by the crescent.
        membrane = np.clip(1.0 - (-geom.d) / np.float32(softness * s), 0.0, 1.0)
        cap = render.tip_cap(geom, side, depth, soft=1.5)
        out += geom.col(dr.uniform(*amp_range)) * cap * (0.4 + 0.6 * membrane)
    return out


def _scattered_dots(geom: Geometry, dr: Draws, kmax: int, count: tuple[float, float], amp, sigma):
    s = geom.scale
    half = geom.length[:, None] / 2.0
    n_d = np.floor(dr.uniform(*count)).astype(int)
    u = dr.uniform(-1, 1, k=kmax) * (half - 3 * s)
    v = render.cortex_points(geom, u, dr.uniform(0, 2 * np.pi, k=kmax), inset=2.0)
    a = dr.uniform(*amp, k=kmax) * (np.arange(kmax)[None] < n_d[:, None])
    return render.spots(geom, u, v, a, sigma * s)


def green_tea1(geom: Geometry, dr: Draws) -> np.ndarray:
    """Tea1: bright crescents at BOTH tips plus a few dots; faint medial band in some septating cells."""
    s = geom.scale
    feat = _tea_tips(geom, dr, (2.5, 4.0), (3.0, 5.0), 3.0)
    feat += _scattered_dots(geom, dr, 5, (0, 6), (0.6, 1.4), 0.9)
    faint = (geom.phase >= SEPTATION_PHASE) & dr.choice(0.5)
    feat += geom.col(np.where(faint, dr.uniform(0.2, 0.4), 0.0)) * render.band(geom, geom.u_sep, 2.5 * s)
    return np.ones_like(geom.u), feat


def green_tea4(geom: Geometry, dr: Draws) -> np.ndarray:
    """Tea4: like Tea1 but dimmer, deeper tip signal over a slightly brighter, mottled background."""
    s = geom.scale
    content = geom.col(dr.uniform(1.0, 1.2)) * np.ones_like(geom.u)
    feat = _tea_tips(geom, dr, (3.0, 5.0), (2.4, 3.6), 4.0)
    feat += _scattered_dots(geom, dr, 3, (0, 4), (0.4, 0.9), 1.0)
    # Diffuse cytoplasmic clusters: many faint wide spots give a mottled background.
    k = 12
    u = dr.uniform(-1, 1, k=k) * (geom.length[:, None] / 2.0 - 3 * s)
    v = dr.uniform(-1, 1, k=k) * (geom.diameter[:, None] / 2.0 - 3 * s)
    content += render.spots(geom, u, v, dr.uniform(0.1, 0.35, k=k), 2.0 * s)
    return content, feat


GREEN = {
    "Alp14": green_alp14,
    "Arp3": green_arp3,
    "Cki2": green_cki2,
    "Mkh1": green_mkh1,
    "Sid2": green_sid2,
    "Tea1": green_tea1,
    "Fim1": green_fim1,
    "Tea4": green_tea4,
}
