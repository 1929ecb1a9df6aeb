"""`python -m training.<program>` entry points of a checkout; the code is in `biogans_tf.training`."""
