"""`python -m training.sample`: runs `biogans_tf.training.sample`; see its docstring."""

from biogans_tf.training.sample import cli

if __name__ == "__main__":
    cli()
