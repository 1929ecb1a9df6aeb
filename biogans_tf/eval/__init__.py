"""Evaluation: the paper's measures and the ground-truth multichannel test.

Modules:
  c2st           classifier two-sample test with stacked WGAN-GP critics (`run_c2st`, `c2st`)
  c2st_tables    Table 1 (real vs real) and Table 2 (fake vs real) on top of `c2st`
  latent         in-graph batched L-BFGS reconstruction and latent interpolation
  reconstruction Table 3 (median ± MAD), baselines, Figure 5 grid and Figure 6 scatter
  interpolation  latent paths as GIF + strip, cell-length monotonicity and septum check
  joint          star / multichannel samples vs true multichannel cells (simulator)
  cell_stats     mask-based measures: cell length, septum, tip / medial enrichment, pair correlations
  runs           loading a trained generator (run directory or .keras file) and its views

The command line is `python -m training.evaluate --task=...`.
"""
