"""`python -m serving.server`: runs `biogans_tf.serving.server`; see its docstring."""

from biogans_tf.serving.server import cli

if __name__ == "__main__":
    cli()
