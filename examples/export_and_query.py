"""Export a zoo model for TF Serving and query the SavedModel the way the server runs it.

    python examples/export_and_query.py [--model gated_conv] [--weights zoo|none]
                                        [--output-dir DIR] [--fast]

1. `keras_inpaint.export.export_saved_model` writes ``DIR/<name>/1/`` (TF Serving's layout).
2. The SavedModel is loaded with plain TensorFlow (`tf.saved_model.load`; no keras needed) and
   called through its two signatures: ``serving_default`` (uint8 image and mask arrays) and
   ``inpaint_bytes`` (PNG files as strings), on the bundled photo.
3. It writes ``request.json``, a REST request for ``inpaint_bytes``, and prints the commands
   that serve the model with Docker and send the request (``examples/serving_client.py`` does
   the same from Python).

``--fast`` (or ``KERAS_INPAINT_FAST=1``): a small context encoder with random weights.
"""

import argparse
import base64
import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from keras_inpaint import zoo
from keras_inpaint.export import export_saved_model

DATA = Path(__file__).resolve().parent / "data"
FAST_MODEL = ("context_encoder", {"image_size": 32, "width": 8})
"""Fast mode: a context encoder small enough to export in seconds."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gated_conv", help="zoo name, preset or .keras")
    parser.add_argument("--weights", choices=("zoo", "none"), default="zoo")
    parser.add_argument("--output-dir", default=".")
    parser.add_argument("--fast", action="store_true",
                        default=os.environ.get("KERAS_INPAINT_FAST") == "1")
    args = parser.parse_args()
    if args.fast:
        name, overrides = FAST_MODEL
        model = zoo.load(name, weights=None, **overrides)
    else:
        name = args.model
        try:
            model = zoo.load(name, weights=None if args.weights == "none" else "zoo")
        except ValueError as error:  # e.g. no trained weights yet: --weights none
            parser.error(str(error))
    output = Path(args.output_dir)
    base = output / "models" / name
    version = export_saved_model(model, base, version=1)

    served = tf.saved_model.load(str(version))
    image_file, mask_file = DATA / "chelsea.png", DATA / "chelsea_mask.png"
    image = np.asarray(Image.open(image_file).convert("RGB"))[np.newaxis]
    mask = np.asarray(Image.open(mask_file).convert("L"))[np.newaxis, ..., np.newaxis]
    arrays = served.signatures["serving_default"](image=image, mask=mask)["inpainted"].numpy()
    files = served.signatures["inpaint_bytes"](
        image_bytes=tf.constant([image_file.read_bytes()]),
        mask_bytes=tf.constant([mask_file.read_bytes()]),
    )["inpainted_bytes"].numpy()
    (output / "chelsea_served.png").write_bytes(files[0])
    known = mask[0, ..., 0] == 0
    assert np.array_equal(arrays[0][known], image[0][known])
    assert np.array_equal(np.asarray(Image.open(output / "chelsea_served.png")), arrays[0])

    request = {
        "signature_name": "inpaint_bytes",
        "instances": [{
            "image_bytes": {"b64": base64.b64encode(image_file.read_bytes()).decode()},
            "mask_bytes": {"b64": base64.b64encode(mask_file.read_bytes()).decode()},
        }],
    }
    (output / "request.json").write_text(json.dumps(request))
    print(f"exported {version}; both signatures answered, wrote {output / 'chelsea_served.png'}")
    print("Serve it and send the request:")
    print(f'  docker run --rm -p 8501:8501 -v "{base.resolve()}:/models/{name}" '
          f"-e MODEL_NAME={name} tensorflow/serving")
    print(f"  curl -s -d @{output / 'request.json'} "
          f"http://localhost:8501/v1/models/{name}:predict")
    print(f"  python examples/serving_client.py {image_file} {mask_file} -o result.png "
          f"--url http://localhost:8501/v1/models/{name}:predict")


if __name__ == "__main__":
    main()
