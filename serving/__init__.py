"""`python -m serving.<program>` entry points of a checkout; the code is in `biogans_tf.serving`."""
