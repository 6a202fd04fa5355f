"""Inpaint a photo with a model served by TF Serving, through its REST API.

    python examples/serving_client.py IMAGE MASK -o RESULT.png \
        [--url http://localhost:8501/v1/models/gated_conv:predict]

Serve a model exported with ``keras-inpaint export NAME DIR`` first, e.g.

    docker run --rm -p 8501:8501 -v "$PWD/DIR:/models/NAME" -e MODEL_NAME=NAME tensorflow/serving

The client sends the image and mask files (PNG, JPEG, GIF, BMP or WebP; mask white / nonzero
= hole) as base64 strings to the ``inpaint_bytes`` signature and writes the PNG it gets back; TF
Serving returns outputs whose name ends in ``_bytes`` as ``{"b64": ...}``. Standard library
only: it needs neither TensorFlow nor keras_inpaint.
"""

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request

SIGNATURE = "inpaint_bytes"
OUTPUT = "inpainted_bytes"


def predict(url, image_bytes, mask_bytes, timeout=60.0):
    """POST one image and mask to TF Serving's ``:predict`` endpoint; returns PNG bytes."""
    body = {
        "signature_name": SIGNATURE,
        "instances": [{
            "image_bytes": {"b64": base64.b64encode(image_bytes).decode("ascii")},
            "mask_bytes": {"b64": base64.b64encode(mask_bytes).decode("ascii")},
        }],
    }
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.load(response)
    prediction = answer["predictions"][0]
    # With a single output TF Serving leaves out its name: {"predictions": [{"b64": ...}]}.
    value = prediction.get(OUTPUT, prediction)
    return base64.b64decode(value["b64"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("mask")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--url", default="http://localhost:8501/v1/models/gated_conv:predict")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    with open(args.image, "rb") as image, open(args.mask, "rb") as mask:
        image_bytes, mask_bytes = image.read(), mask.read()
    try:
        png = predict(args.url, image_bytes, mask_bytes, args.timeout)
    except urllib.error.HTTPError as error:
        print(f"serving_client: {args.url} answered {error.code}: "
              f"{error.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"serving_client: cannot reach {args.url}: {error.reason}", file=sys.stderr)
        return 1
    with open(args.output, "wb") as f:
        f.write(png)
    print(f"wrote {args.output} ({len(png)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
