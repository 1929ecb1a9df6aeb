"""`python -m training.run`: runs `biogans_tf.training.run`; see its docstring."""

from biogans_tf.training.run import cli

if __name__ == "__main__":
    cli()
