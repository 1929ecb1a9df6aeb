"""Evaluation: the paper's measures and the ground-truth multichannel test.

Modules:
  c2st           classifier two-sample test: split design and scoring (`run_c2st`, `c2st`)
  c2st_bank      C2ST critic training: a `CriticBank` of all splits' critics, one batched step
  fakes          a generator as an unlimited fake source (`GeneratorFakes`)
  c2st_tables    Table 1 (real vs real) and Table 2 (fake vs real) on top of `c2st`
  latent         in-graph batched L-BFGS reconstruction and latent interpolation
  reconstruction test-set reconstruction in chunks and its baselines (nearest cell, prior)
  reconstruction_report  Table 3 (median ± MAD), Figure 5 grid and Figure 6 scatter
  endpoints      the young and the dividing cell an interpolation walks between
  interpolation  latent paths as GIF + strip + TIFF, cell-length monotonicity and septum check
  joint          star / multichannel samples vs true multichannel cells (simulator), truth sampling
  cell_stats     mask-based measures: cell length, septum, tip / medial enrichment, pair correlations
  runs           loading a trained generator (run directory or .keras file) and its views

The command line is `python -m training.evaluate --task=...`.
"""
