"""`python -m training.run` without the grouped-convolution probe (a test-side hook, not a flag).

    TF_ENABLE_ONEDNN_OPTS=0 python -m tests.training.unprobed_run [training.run flags ...]

With oneDNN off and `--critic_bank=grouped`, the run then builds a bank that Eigen's kernels
cannot train, as every run did before the probe existed: the first train step fails inside the
traced graph, which is how a test forces a real graph-execution failure.
"""

from biogans_tf.trainer import setup


def main():
    setup.grouped_training_error = lambda dtype="float32": None
    from biogans_tf.training import run

    run.cli()


if __name__ == "__main__":
    main()
