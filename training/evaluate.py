"""`python -m training.evaluate`: runs `biogans_tf.training.evaluate`; see its docstring."""

from biogans_tf.training.evaluate import cli

if __name__ == "__main__":
    cli()
