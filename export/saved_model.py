"""`python -m export.saved_model`: runs `biogans_tf.export.saved_model`; see its docstring."""

from biogans_tf.export.saved_model import cli

if __name__ == "__main__":
    cli()
