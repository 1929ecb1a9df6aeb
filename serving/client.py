"""`python -m serving.client`: runs `biogans_tf.serving.client`; see its docstring."""

from biogans_tf.serving.client import cli

if __name__ == "__main__":
    cli()
