"""A web service that loads a fastnn model once and scores one row per request.

Standard library only (http.server), one thread per request, all sharing
the model (prediction is thread-safe):

    python examples/serve.py digits.fnn --port 8000
    curl -s http://127.0.0.1:8000/ -d '{"x": [0, 0, 5, 13, 9, 1, 0, 0, ...]}'
    {"prediction": 0, "probabilities": [0.998, 0.0, ...]}

A bad request (not JSON, no "x", the wrong number of features, NaN) gets
status 400 and {"error": "..."}. ``--port 0`` picks a free port.
"""

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

import fastnn


def make_handler(model):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            try:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                x = np.asarray(body["x"], dtype=model.dtype).reshape(1, -1)
                reply, status = {"prediction": model.predict(x)[0].tolist()}, 200
                if model.loss.classifier:
                    reply["probabilities"] = model.predict_proba(x)[0].tolist()
            except (KeyError, TypeError, ValueError) as exc:
                reply, status = {"error": str(exc)}, 400
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):     # no line per request on stderr
            pass

    return Handler


def main(argv=None):
    p = argparse.ArgumentParser(description="Score one row per request with a fastnn model.")
    p.add_argument("model", help="a model file (model.save or 'fastnn train --save')")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    args = p.parse_args(argv)
    model = fastnn.load(args.model)       # once, shared by every request's thread
    fastnn.set_num_threads(1)             # each request on one core: no OpenMP team per row
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model))
    print(f"serving {args.model} on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
