"""Every script in examples/ runs in its fast mode (``KERAS_INPAINT_FAST=1``) in a fresh
process; the REST client is run against a stand-in for TF Serving's REST API that answers
from an exported SavedModel."""

import base64
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_inpaint.export import export_saved_model
from test_training import subprocess_env
from toy_model import ToyInpainter

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CHELSEA = EXAMPLES / "data" / "chelsea.png"
CHELSEA_MASK = EXAMPLES / "data" / "chelsea_mask.png"


def run_example(script, tmp_path, *args):
    env = subprocess_env()
    env["KERAS_INPAINT_FAST"] = "1"
    env["KERAS_INPAINT_CACHE"] = str(tmp_path / "cache")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def chelsea():
    image = np.asarray(Image.open(CHELSEA).convert("RGB"))
    return image, np.asarray(Image.open(CHELSEA_MASK)) > 0


def test_inpaint_photo(tmp_path):
    stdout = run_example("inpaint_photo.py", tmp_path, "--output-dir", "out", "--model", "telea")
    assert "model telea: filled 7357 hole pixels" in stdout
    image, hole = chelsea()
    for name in ("chelsea_inpainted.png", "chelsea_inpainted_poisson.png"):
        result = np.asarray(Image.open(tmp_path / "out" / name))
        np.testing.assert_array_equal(result[~hole], image[~hole])
    assert Image.open(tmp_path / "out" / "chelsea_side_by_side.png").size == (3 * 451, 300)


def test_custom_unet_with_partial_conv(tmp_path):
    stdout = run_example("custom_unet_with_partial_conv.py", tmp_path)
    lines = [line.split() for line in stdout.splitlines()]
    assert [line[0] for line in lines] == ["conv", "gated", "partial"]
    for kind in ("conv", "gated", "partial"):
        assert (tmp_path / f"{kind}_unet.keras").is_file()
        assert Image.open(tmp_path / f"{kind}_crop.png").size == (64, 64)
    # a gated convolution has twice the kernels of a plain one; partial has the same
    conv, gated, partial = (int(line[1]) for line in lines)
    assert partial == conv < gated


def test_fine_tune(tmp_path):
    stdout = run_example("fine_tune.py", tmp_path)
    assert "fine-tuned ContextEncoder for 1 step(s)" in stdout
    assert (tmp_path / "fine_tuned.keras").is_file()
    result = np.asarray(Image.open(tmp_path / "chelsea_fine_tuned.png"))
    image, hole = chelsea()
    np.testing.assert_array_equal(result[~hole], image[~hole])


def test_export_and_query(tmp_path):
    stdout = run_example("export_and_query.py", tmp_path)
    assert (tmp_path / "models" / "context_encoder" / "1" / "saved_model.pb").is_file()
    assert "docker run --rm -p 8501:8501" in stdout and "tensorflow/serving" in stdout
    request = json.loads((tmp_path / "request.json").read_text())
    assert request["signature_name"] == "inpaint_bytes"
    assert base64.b64decode(request["instances"][0]["image_bytes"]["b64"]) == CHELSEA.read_bytes()
    served = np.asarray(Image.open(tmp_path / "chelsea_served.png"))
    image, hole = chelsea()
    np.testing.assert_array_equal(served[~hole], image[~hole])


class ServingStandIn(http.server.BaseHTTPRequestHandler):
    """Answers ``POST /v1/models/toy:predict`` as TF Serving's REST API does for a row-format
    request: decodes ``{"b64": ...}`` inputs, runs the signature, and returns the single output
    base64-encoded without its name (TF Serving leaves it out when there is one output)."""

    signatures = None

    def do_POST(self):
        if self.path != "/v1/models/toy:predict":
            self.send_error(404)
            return
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        signature = self.signatures[request["signature_name"]]
        columns = {name: tf.constant([base64.b64decode(row[name]["b64"])
                                      for row in request["instances"]])
                   for name in ("image_bytes", "mask_bytes")}
        (output,) = signature(**columns).values()
        body = json.dumps({"predictions": [{"b64": base64.b64encode(item).decode()}
                                           for item in output.numpy()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serving(tmp_path):
    keras.utils.set_random_seed(0)
    version = export_saved_model(ToyInpainter(image_size=16, width=3), tmp_path / "toy")
    ServingStandIn.signatures = tf.saved_model.load(str(version)).signatures
    server = http.server.HTTPServer(("127.0.0.1", 0), ServingStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/models/toy:predict"
    server.shutdown()
    server.server_close()


def test_serving_client_against_a_rest_stand_in(serving, tmp_path):
    stdout = run_example("serving_client.py", tmp_path, str(CHELSEA), str(CHELSEA_MASK),
                         "-o", "result.png", "--url", serving)
    assert stdout.startswith("wrote result.png")
    expected = ServingStandIn.signatures["inpaint_bytes"](
        image_bytes=tf.constant([CHELSEA.read_bytes()]),
        mask_bytes=tf.constant([CHELSEA_MASK.read_bytes()]))["inpainted_bytes"].numpy()[0]
    assert (tmp_path / "result.png").read_bytes() == expected
    env = subprocess_env()
    missing = subprocess.run(
        [sys.executable, str(EXAMPLES / "serving_client.py"), str(CHELSEA), str(CHELSEA_MASK),
         "-o", "x.png", "--url", serving.replace(":predict", "x:predict")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "answered 404" in missing.stderr
    assert not os.path.exists(tmp_path / "x.png")
