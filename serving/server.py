r"""A TF-Serving-compatible model server (gRPC + REST) for exported biogans generators.

    python -m serving.server --model_base_path BASE/NAME --model_name NAME \
        [--port 8500] [--rest_api_port 8501] [--host 127.0.0.1] [--max_batch 1024] [--explorer_api URL]

Speaks the official `tensorflow.serving` gRPC services (PredictionService.Predict/GetModelMetadata,
ModelService.GetModelStatus) and TF Serving's REST API, so clients written for TF Serving work unchanged
and the same export runs on the real `tensorflow/serving` image in production. REST runs on Uvicorn
(serving/http_server.py) in a thread of this process, beside the gRPC server, and also serves the
`/explorer` page (serving/explorer). Serves the highest version under the base path and picks up
newly exported versions by polling. SIGTERM/SIGINT stop it
gracefully: no new requests, in-flight ones finish (up to --grace_seconds), exit code 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from absl import app, flags

from biogans_tf.cli import run as run_program

log = logging.getLogger("serving")

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "model_base_path", None, "Folder holding the model's integer version folders (BASE/NAME)."
)
flags.DEFINE_string(
    "model_name", None, "Name clients use for the model (default: the base path's folder name)."
)
flags.DEFINE_string("host", "127.0.0.1", "Address to bind (use 0.0.0.0 to accept remote clients).")
flags.DEFINE_integer("port", 8500, "gRPC port (0 = pick a free one).", lower_bound=0)
flags.DEFINE_integer("rest_api_port", 8501, "REST port (0 = pick a free one, -1 = no REST).", lower_bound=-1)
flags.DEFINE_integer(
    "max_batch", 1024, "Most images per request (n, steps, batch, restarts x images).", lower_bound=1
)
flags.DEFINE_integer("max_iterations", 1000, "Most L-BFGS iterations per reconstruct request.", lower_bound=0)
flags.DEFINE_integer("max_request_bytes", 64 << 20, "Largest request payload accepted.", lower_bound=1024)
flags.DEFINE_float(
    "file_system_poll_wait_seconds", 2.0, "How often to look for new versions.", lower_bound=0.05
)
flags.DEFINE_bool("enable_model_warmup", True, "Replay assets.extra/tf_serving_warmup_requests on load.")
flags.DEFINE_integer("num_threads", 8, "gRPC worker threads.", lower_bound=1)
flags.DEFINE_float("grace_seconds", 10.0, "On SIGTERM, time given to in-flight requests.", lower_bound=0)
flags.DEFINE_string(
    "explorer_api", "", "Origin of the REST API the /explorer page calls (default: the page's own origin)."
)


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def main(argv):
    del argv
    # TensorFlow, gRPC and Starlette load here, after flag parsing: `--help` stays instant.
    from serving import explorer
    from serving.grpc_service import make_grpc_server
    from serving.http_server import RestServer
    from serving.model_store import ModelStore
    from serving.predictor import Limits, Predictor
    from serving.rest import make_rest_app

    _setup_logging()
    if not FLAGS.model_base_path:
        raise app.UsageError("--model_base_path is required")
    base = os.path.abspath(FLAGS.model_base_path)
    if not os.path.isdir(base):
        raise app.UsageError(f"--model_base_path {base}: no such folder")
    name = FLAGS.model_name or os.path.basename(base.rstrip("/"))
    store = ModelStore(name, base, FLAGS.file_system_poll_wait_seconds, warmup=FLAGS.enable_model_warmup)
    store.poll_once()
    if store.current is None:
        log.warning("no version of %s found under %s yet; waiting for one", name, base)
    predictor = Predictor(store, Limits(FLAGS.max_batch, FLAGS.max_iterations, FLAGS.max_request_bytes))

    grpc_server, grpc_port = make_grpc_server(predictor, FLAGS.host, FLAGS.port, FLAGS.num_threads)
    rest_server = None
    if FLAGS.rest_api_port >= 0:
        try:
            explorer_routes = explorer.routes(api_base=FLAGS.explorer_api, model_name=name)
        except ValueError as e:  # a malformed --explorer_api
            raise app.UsageError(str(e)) from None
        rest_app = make_rest_app(predictor, explorer_routes)
        rest_server = RestServer(rest_app, FLAGS.host, FLAGS.rest_api_port, FLAGS.grace_seconds)

    stop = threading.Event()

    def on_signal(signum, frame):
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    grpc_server.start()
    if rest_server is not None:
        rest_server.start()
    store.start()
    rest_port = rest_server.port if rest_server else None
    log.info(
        "serving %s: gRPC on %s:%d, REST on %s",
        name,
        FLAGS.host,
        grpc_port,
        f"{FLAGS.host}:{rest_port}" if rest_server else "off",
    )

    while not stop.wait(0.5):
        pass

    # Stop accepting on both, let in-flight calls finish (REST drains while gRPC does), then the poller.
    grpc_done = grpc_server.stop(FLAGS.grace_seconds)
    if rest_server is not None:
        rest_server.stop(FLAGS.grace_seconds + 5)
    grpc_done.wait()
    store.stop()
    log.info("shut down cleanly")


def cli():
    """Console script `biogans-serve` (and `python -m serving.server`)."""
    run_program(main, __doc__, __name__)


if __name__ == "__main__":
    cli()
