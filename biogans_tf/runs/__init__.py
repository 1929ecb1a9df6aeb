"""A training run's folder, and the one way to load a trained generator.

`folder.py` (standard library only) is the one place that knows the layout of a run folder:

    RUN/config.json            every setting of the run (`TrainConfig.to_json`)
    RUN/proteins.json          the protein (green-channel) order of the data it trained on
    RUN/generator.keras        the final generator; a `biogans.json` entry inside holds its settings
    RUN/generator_ema.keras    the EMA generator (`--ema`)
    RUN/checkpoints/           training checkpoints (`biogans_tf.trainer.checkpoint`)
    RUN/samples/               sample grids, one per `--sample_every`
    RUN/tb/                    TensorBoard event files
    RUN/cache/                 mined neighbours (multichannel)
    RUN/results.json           what the run did (also the last stdout line of `training.run`)
    RUN/error.log              tracebacks of failures

`generator.py` (Keras, TensorFlow) loads a generator with its settings: `load_generator(path)`,
also `biogans_tf.load_generator`. Training, evaluation, sampling, export and the tests all go
through these two modules.
"""
