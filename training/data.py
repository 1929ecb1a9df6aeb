"""`python -m training.data`: runs `biogans_tf.training.data`; see its docstring."""

from biogans_tf.training.data import cli

if __name__ == "__main__":
    cli()
