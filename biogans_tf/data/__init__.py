"""Data layer: simulator, readers, tf.data pipelines and nearest-neighbour mining."""
