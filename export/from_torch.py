"""`python -m export.from_torch`: runs `biogans_tf.export.from_torch`; see its docstring."""

from biogans_tf.export.from_torch import cli

if __name__ == "__main__":
    cli()
