"""Internals of the LIN-like fission-yeast simulator; the public API is `biogans_tf.data.simulator`.

Modules:
    params: per-cell random parameters drawn from per-cell seeded generators.
    geometry: cell coordinates, distance to the cell outline, masks.
    render: vectorised drawing primitives (splatting, blurs, soft shapes).
    patterns: the red (Bgs4) channel and the green pattern of each protein.
    imaging: PSF blur, Poisson-Gaussian noise, hard mask, per-image contrast stretch.
    writer: `write_dataset`, a simulated dataset on disk in the LIN layout.
"""
