"""SavedModel export for TF Serving: layout and signatures, loading the way TF Serving does in
a process that cannot import keras or keras_inpaint (tf.compat.v1 Session with the "serve"
tag), `saved_model_cli run`, the bytes signature with base64 PNG as in the REST API, large
photos filled region by region as `inpaint()` fills them, and a graph free of Python-function
ops and XLA-must-compile functions."""

import base64
import io
import json
import re
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps
from tensorflow.core.protobuf import saved_model_pb2

from keras_inpaint import cli, export, inference, inpaint, zoo
from keras_inpaint.export import export_saved_model
from keras_inpaint.postprocess import ClassicalInpainter
from test_inference import random_boxes
from test_zoo import tiny_preset
from toy_model import ToyInpainter

PYTHON_FUNCTION_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}

# Runs with `python -I` (no PYTHONPATH, no user site) and with keras and keras_inpaint made
# unimportable, as in a TF Serving process: loads the SavedModel through a v1 Session and the
# "serve" tag, feeds the signatures' tensor names and answers a REST-style JSON request.
FRESH_PROCESS = r'''
import base64, importlib.abc, importlib.machinery, json, sys


class NoKeras(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras", "keras_inpaint"):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, NoKeras())
for name in ("keras", "keras_inpaint"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} is importable")

import numpy as np
import tensorflow as tf

version_dir, arrays, request_path, out = sys.argv[1:5]
inputs = np.load(arrays)
with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
    signature = meta_graph.signature_def["serving_default"]
    results = {}
    for key in ("a", "b", "c"):
        feed = {signature.inputs["image"].name: inputs[f"image_{key}"],
                signature.inputs["mask"].name: inputs[f"mask_{key}"]}
        results[key] = session.run(signature.outputs["inpainted"].name, feed)
    # The REST API: {"instances": [{"image_bytes": {"b64": ...}, ...}]} -> bytes tensors [N]
    request = json.load(open(request_path))
    signature = meta_graph.signature_def[request["signature_name"]]
    columns = {name: np.array([base64.b64decode(row[name]["b64"])
                               for row in request["instances"]], dtype=object)
               for name in signature.inputs}
    encoded = session.run(signature.outputs["inpainted_bytes"].name,
                          {signature.inputs[name].name: value for name, value in columns.items()})
    response = {"predictions": [{"b64": base64.b64encode(item).decode()} for item in encoded]}
np.savez(out, **results)
json.dump(response, open(out + ".json", "w"))
print("keras modules:", sorted(m for m in sys.modules if m.split(".")[0] == "keras"))
'''


def uint8_inputs(height, width, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(batch, height, width, 3), dtype=np.uint8)
    mask = np.zeros((batch, height, width, 1), np.uint8)
    mask[0, 2:height // 2, 3:width // 2] = 255
    mask[-1, height // 3:, width // 4:] = 1  # any nonzero value is a hole
    return image, mask


def large_photo(height=90, width=70):
    """More than twice the toy model's 16x16 on both sides, with a colour ramp."""
    rng = np.random.default_rng(2)
    ramp = np.linspace(0, 180, width)[None, :, None]
    return (rng.random((height, width, 3)) * 60 + ramp).astype(np.uint8)


def keras_reference(model, image, mask):
    """What the serving signature must return, from the Keras model."""
    hole = (mask > 0).astype(np.float32)
    output = np.asarray(model({"image": image / np.float32(255) * (1 - hole), "mask": hole}))
    levels = np.rint(np.clip(output, 0, 1) * 255).astype(np.uint8)
    return np.where(mask > 0, levels, image)


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return ToyInpainter(image_size=16, width=3)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    return export_saved_model(model, tmp_path_factory.mktemp("served") / "toy", version=3)


def test_layout_and_signatures(exported):
    assert exported.name == "3" and (exported / "saved_model.pb").is_file()
    assert [p.name for p in exported.parent.iterdir()] == ["3"]  # no temporary folder left
    loaded = tf.saved_model.load(str(exported))
    arrays = loaded.signatures["serving_default"]
    inputs = arrays.structured_input_signature[1]
    assert {k: (v.shape.as_list(), v.dtype) for k, v in inputs.items()} == {
        "image": ([None, None, None, 3], tf.uint8), "mask": ([None, None, None, 1], tf.uint8)}
    assert {k: v.dtype for k, v in arrays.structured_outputs.items()} == {"inpainted": tf.uint8}
    files = loaded.signatures["inpaint_bytes"]
    assert {k: v.dtype for k, v in files.structured_input_signature[1].items()} == {
        "image_bytes": tf.string, "mask_bytes": tf.string}
    assert {k: v.dtype for k, v in files.structured_outputs.items()} == {
        "inpainted_bytes": tf.string}


def test_graph_has_no_python_functions_and_no_xla_must_compile(exported):
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((exported / "saved_model.pb").read_bytes())
    (meta_graph,) = saved_model.meta_graphs
    graph = meta_graph.graph_def
    functions = list(graph.library.function)
    assert len(functions) > 5
    nodes = list(graph.node) + [node for f in functions for node in f.node_def]
    assert not {node.op for node in nodes} & PYTHON_FUNCTION_OPS
    must_compile = [f.signature.name for f in functions
                    if f.attr["_XlaMustCompile"].b] + [
        node.name for node in nodes if node.attr["_XlaMustCompile"].b]
    assert not must_compile


def test_fresh_process_without_keras_matches_the_keras_model(model, exported, tmp_path):
    image_a, mask_a = uint8_inputs(13, 17)
    image_b, mask_b = uint8_inputs(24, 9, batch=1, seed=1)  # dynamic N, H and W
    image_c = large_photo()[None]  # filled in crops around its two hole regions
    mask_c = np.zeros(image_c.shape[:3] + (1,), np.uint8)
    mask_c[0, 5:9, 5:9] = mask_c[0, 60:70, 40:60] = 255
    np.savez(tmp_path / "inputs.npz", image_a=image_a, mask_a=mask_a, image_b=image_b,
             mask_b=mask_b, image_c=image_c, mask_c=mask_c)
    instances = [{"image_bytes": {"b64": base64.b64encode(png_bytes(image)).decode()},
                  "mask_bytes": {"b64": base64.b64encode(png_bytes(mask)).decode()}}
                 for image, mask in zip(image_a, mask_a)]
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"signature_name": "inpaint_bytes", "instances": instances}))
    out = str(tmp_path / "outputs.npz")
    result = subprocess.run(
        [sys.executable, "-I", "-c", FRESH_PROCESS, str(exported), str(tmp_path / "inputs.npz"),
         str(request), out],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "keras modules: []" in result.stdout
    outputs = np.load(out)
    for image, mask, key in ((image_a, mask_a, "a"), (image_b, mask_b, "b")):
        served, expected = outputs[key], keras_reference(model, image, mask)
        assert served.dtype == np.uint8 and served.shape == image.shape
        np.testing.assert_array_equal(served[mask[..., 0] == 0], image[mask[..., 0] == 0])
        assert np.abs(served.astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(outputs["c"][0], inpaint(image_c[0], mask_c[0], model=model))
    predictions = json.loads(Path(out + ".json").read_text())["predictions"]
    for prediction, image, expected in zip(predictions, image_a, outputs["a"]):
        decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(prediction["b64"]))))
        np.testing.assert_array_equal(decoded, expected)


def test_saved_model_cli_run(model, exported, tmp_path):
    image, mask = uint8_inputs(11, 14)
    np.save(tmp_path / "x.npy", image)
    np.save(tmp_path / "m.npy", mask)
    result = subprocess.run(
        ["saved_model_cli", "run", "--dir", str(exported), "--tag_set", "serve",
         "--signature_def", "serving_default",
         "--inputs", f"image={tmp_path / 'x.npy'};mask={tmp_path / 'm.npy'}",
         "--outdir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Output inpainted is saved to" in result.stdout
    served = np.load(tmp_path / "out" / "inpainted.npy")
    assert np.abs(served.astype(int) - keras_reference(model, image, mask)).max() <= 1


def test_bytes_signature_takes_a_scalar_or_a_vector(exported):
    signature = tf.saved_model.load(str(exported)).signatures["inpaint_bytes"]
    image, mask = uint8_inputs(10, 12, batch=1)
    arrays = tf.saved_model.load(str(exported)).signatures["serving_default"]
    expected = arrays(image=image, mask=mask)["inpainted"].numpy()[0]
    single = signature(image_bytes=tf.constant(png_bytes(image[0])),
                       mask_bytes=tf.constant(png_bytes(mask[0])))["inpainted_bytes"]
    assert single.shape == ()
    np.testing.assert_array_equal(tf.io.decode_png(single).numpy(), expected)
    pair = signature(image_bytes=tf.constant([png_bytes(image[0])] * 2),
                     mask_bytes=tf.constant([png_bytes(mask[0])] * 2))["inpainted_bytes"]
    assert pair.shape == (2,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="same shape"):
        signature(image_bytes=tf.constant([png_bytes(image[0])] * 2),
                  mask_bytes=tf.constant(png_bytes(mask[0])))
    with pytest.raises(tf.errors.InvalidArgumentError, match="must have the same N, H and W"):
        signature(image_bytes=tf.constant(png_bytes(image[0])),
                  mask_bytes=tf.constant(png_bytes(mask[0, :5])))


def test_bytes_signature_reads_masks_as_inpaint_does(exported):
    image, _ = uint8_inputs(12, 14, batch=1)
    hole = np.zeros((12, 14), bool)
    hole[3:8, 4:11] = True
    white, opaque = np.full(hole.shape, 255, np.uint8), hole * np.uint8(255)
    masks = {
        "16-bit grey, hole 1": hole.astype(np.uint16),  # 1 / 65535 > 0: 4 kept the top 8 bits
        "grey + alpha, white everywhere": np.dstack([white, opaque]),
        "RGBA, white everywhere": np.dstack([white, white, white, opaque]),
        "RGB, red hole": np.dstack([opaque, np.zeros_like(opaque), np.zeros_like(opaque)]),
    }
    loaded = tf.saved_model.load(str(exported))
    expected = loaded.signatures["serving_default"](
        image=image, mask=hole[None, ..., None].astype(np.uint8))["inpainted"].numpy()[0]
    assert (expected[hole] != image[0][hole]).any()
    for name, mask in masks.items():
        encoded = png_bytes(mask)
        inpaint_hole = inference._hole(Image.open(io.BytesIO(encoded)), 0.0, hole.shape)
        np.testing.assert_array_equal(inpaint_hole, hole, err_msg=name)
        served = loaded.signatures["inpaint_bytes"](image_bytes=tf.constant(png_bytes(image[0])),
                                                    mask_bytes=tf.constant(encoded))
        np.testing.assert_array_equal(tf.io.decode_png(served["inpainted_bytes"]).numpy(),
                                      expected, err_msg=name)


def test_bytes_signature_reads_16_bit_photos_as_inpaint_does(model, exported):
    rng = np.random.default_rng(3)
    colour = rng.integers(0, 65536, size=(10, 12, 3), dtype=np.uint16)
    mask = np.zeros((10, 12), np.uint8)
    mask[2:5, 3:9] = 255
    known = mask == 0
    signature = tf.saved_model.load(str(exported)).signatures["inpaint_bytes"]
    photos = {"grey": png_bytes(colour[..., 0]),  # PIL's I;16: rounded to the nearest level
              "colour": cv2.imencode(".png", colour[..., ::-1])[1].tobytes()}  # PIL: top 8 bits
    for name, encoded in photos.items():
        served = signature(image_bytes=tf.constant(encoded),
                           mask_bytes=tf.constant(png_bytes(mask)))["inpainted_bytes"]
        served = tf.io.decode_png(served).numpy()
        expected = np.asarray(inpaint(Image.open(io.BytesIO(encoded)), mask, model=model))
        np.testing.assert_array_equal(served[known], expected[known], err_msg=name)
    top_bits = (colour[..., 0] >> 8).astype(np.uint8)
    assert (expected[known] != top_bits[known][:, None]).any()  # the grey one was not cut


def test_empty_batch_or_image_is_refused_with_its_shape(exported):
    signature = tf.saved_model.load(str(exported)).signatures["serving_default"]
    for batch, height, width in ((0, 8, 8), (1, 8, 0)):
        message = (r"(?s)at least one image of at least one pixel; received N, H, W.*"
                   rf"\[{batch} {height} {width}\]")
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            signature(image=np.zeros((batch, height, width, 3), np.uint8),
                      mask=np.zeros((batch, height, width, 1), np.uint8))


def big_endian_exif(orientation):
    """EXIF data (``Exif\\0\\0``, a TIFF header in ``MM`` byte order, one directory entry), written
    byte by byte."""
    return big_endian_tiff_exif([(0x0112, 3, 1, orientation.to_bytes(2, "big"))])


def big_endian_tiff_exif(entries, after=b""):
    """EXIF data in ``MM`` byte order whose one directory holds `entries`, ``(tag, TIFF type,
    count, value bytes or offset)``, followed by the bytes `after`."""
    directory = b"".join(struct.pack(">HHI", tag, kind, count) + value.ljust(4, b"\0")
                         for tag, kind, count, value in entries)
    return (b"Exif\0\0MM\0\x2a" + struct.pack(">IH", 8, len(entries)) + directory
            + b"\0" * 4 + after)


def test_exif_orientation_of_every_integer_type_is_read_as_pil_reads_it():
    """PIL takes an orientation stored as a SHORT, LONG, SBYTE, SSHORT, SLONG or IFD (not a BYTE
    or an UNDEFINED), the first of several values (also stored away from the entry), the first
    of two entries (past one of a type it does not read or without values), and no orientation
    from a negative or an out-of-range value: so does the graph. PIL also turns a picture whose
    orientation is a RATIONAL, SRATIONAL, FLOAT, DOUBLE or LONG8 equal to 2-8; the graph reads
    no orientation there (documented in `export._EXIF_ORIENTATION_TYPES`)."""
    short, long_, sshort, slong = (lambda value: struct.pack(">H", value),
                                   lambda value: struct.pack(">I", value),
                                   lambda value: struct.pack(">h", value),
                                   lambda value: struct.pack(">i", value))
    after = 8 + 2 + 12 + 4  # where a lone entry's value stored after the directory starts
    read = [
        ("SHORT", [(0x0112, 3, 1, short(6))]),
        ("LONG", [(0x0112, 4, 1, long_(6))]),
        ("SBYTE", [(0x0112, 6, 1, b"\x07")]),
        ("SSHORT", [(0x0112, 8, 1, sshort(8))]),
        ("SLONG", [(0x0112, 9, 1, slong(5))]),
        ("IFD", [(0x0112, 13, 1, long_(2))]),
        ("negative SBYTE", [(0x0112, 6, 1, b"\xfe")]),
        ("negative SSHORT", [(0x0112, 8, 1, sshort(-2))]),
        ("negative SLONG", [(0x0112, 9, 1, slong(-65530))]),
        ("LONG past 16 bits", [(0x0112, 4, 1, long_(65536 + 6))]),
        ("BYTE", [(0x0112, 1, 1, b"\x06")]),
        ("UNDEFINED", [(0x0112, 7, 1, b"\x06")]),
        ("two SHORTs", [(0x0112, 3, 2, short(3) + short(6))]),
        ("two entries: the first", [(0x0112, 3, 1, short(6)), (0x0112, 4, 1, long_(3))]),
        ("a BYTE entry before a SHORT", [(0x0112, 1, 1, b"\x03"), (0x0112, 3, 1, short(6))]),
        ("an unknown type before a SHORT", [(0x0112, 99, 1, b"\x03"), (0x0112, 3, 1, short(6))]),
        ("no values before a SHORT", [(0x0112, 3, 0, b""), (0x0112, 3, 1, short(6))]),
        ("three SHORTs, stored after the directory",
         [(0x0112, 3, 3, long_(after))], short(5) + short(3) + short(3)),
    ]
    not_read = [
        ("FLOAT", [(0x0112, 11, 1, struct.pack(">f", 6.0))]),
        ("DOUBLE", [(0x0112, 12, 1, long_(after))], struct.pack(">d", 6.0)),
        ("RATIONAL", [(0x0112, 5, 1, long_(after))], long_(6) + long_(1)),
        ("SRATIONAL", [(0x0112, 10, 1, long_(after))], slong(6) + slong(1)),
        ("LONG8", [(0x0112, 16, 1, long_(after))], struct.pack(">Q", 6)),
    ]
    pixels = (np.random.default_rng(0).random((6, 10, 3)) * 255).astype(np.uint8)
    graph = tf.function(export._exif_orientation, reduce_retracing=True)
    for name, *exif in read + not_read:
        encoded = encoded_file(pixels, "PNG", exif=big_endian_tiff_exif(*exif))
        with warnings.catch_warnings(), Image.open(io.BytesIO(encoded)) as opened:
            warnings.simplefilter("ignore")  # PIL warns of the two SHORTs
            value = opened.getexif().get(0x0112, 1)
            upright = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
        turned = value in range(2, 9)  # PIL's lookup: 6, 6.0 and 6/1 alike
        if (name, *exif) in not_read:
            assert turned, name  # PIL turns it; the graph does not
            expected, upright = 1, pixels
        else:
            expected = int(value) if turned else 1
        for read_orientation in (export._exif_orientation, graph):  # eager, and as served
            assert int(read_orientation(tf.constant(encoded), export._png_exif)) == expected, \
                name
        np.testing.assert_array_equal(export._decode_photo(tf.constant(encoded), 0).numpy(),
                                      upright, err_msg=name)


def little_endian_exif(orientation):
    """EXIF data in ``II`` byte order (PIL writes ``MM`` unless told), with a tag before the
    orientation's."""
    exif = Image.Exif()
    exif.endian = "<"
    exif[0x010F], exif[0x0112] = "camera", orientation
    data = exif.tobytes()
    assert data.startswith(b"Exif\0\0II*\0")
    return data


ORIENTED_FILES = {  # stored pixels, save options, the graph's EXIF finder
    "JPEG": ("colour", {"quality": 95}, "_jpeg_exif"),
    "PNG": ("colour", {}, "_png_exif"),
    "PNG 16-bit grey": ("16-bit grey", {}, "_png_exif"),  # a photo's or a mask's: same decoder
    "WEBP": ("colour", {"lossless": True}, "_webp_exif"),
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("name", ORIENTED_FILES)
def test_exif_orientation_is_applied_as_pil_applies_it(name, orientation):
    pixels, options, finder = ORIENTED_FILES[name]
    kind = name.split()[0]
    rng = np.random.default_rng(orientation)
    if pixels == "colour":
        stored = (rng.random((24, 40, 3)) * 255).astype(np.uint8)
    else:  # holes of any 16-bit value, some below 256
        stored = (rng.integers(0, 65536, (24, 40)) * (rng.random((24, 40)) < 0.3)).astype(np.uint16)
        stored[0, :4] = [1, 255, 256, 65535]
    find = getattr(export, finder)
    for data in (little_endian_exif(orientation), big_endian_exif(orientation)):
        encoded = encoded_file(stored, kind, exif=data, **options)
        with Image.open(io.BytesIO(encoded)) as opened:
            upright = ImageOps.exif_transpose(opened)
        assert int(export._exif_orientation(tf.constant(encoded), find)) == orientation
        if pixels == "colour":
            np.testing.assert_array_equal(export._decode_photo(tf.constant(encoded), 0).numpy(),
                                          np.asarray(upright.convert("RGB")))
        else:
            decoded = export._decode(tf.constant(encoded), "mask_bytes", 0).numpy()[..., 0]
            np.testing.assert_array_equal(decoded, np.asarray(upright))
            np.testing.assert_array_equal(export._decode_hole(tf.constant(encoded), 0)[..., 0],
                                          np.asarray(upright) > 0)
    without_exif = encoded_file(stored, kind, **options)
    assert int(export._exif_orientation(tf.constant(without_exif), find)) == 1


def png_chunks(encoded):
    """A PNG file's chunks as ``(type, data)`` pairs."""
    chunks, position = [], 8
    while position < len(encoded):
        size = int.from_bytes(encoded[position:position + 4], "big")
        data = position + 8
        chunks.append((encoded[position + 4:data], encoded[data:data + size]))
        position = data + size + 4
    return chunks


def png_file(chunks):
    """A PNG file of ``(type, data)`` chunks, each with its length and CRC."""
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        for kind, data in chunks)


def webp_chunks(encoded):
    """A WebP file's chunks as ``(FourCC, data)`` pairs."""
    chunks, position = [], 12
    while position < len(encoded):
        size = int.from_bytes(encoded[position + 4:position + 8], "little")
        data = position + 8
        chunks.append((encoded[position:position + 4], encoded[data:data + size]))
        position = data + size + size % 2
    return chunks


def webp_file(chunks, riff_size_less=0):
    """A WebP file of ``(FourCC, data)`` chunks (padded to even lengths), its RIFF size short of
    the chunks' by `riff_size_less` bytes."""
    body = b"WEBP" + b"".join(
        kind + len(data).to_bytes(4, "little") + data + b"\0" * (len(data) % 2)
        for kind, data in chunks)
    return b"RIFF" + (len(body) - riff_size_less).to_bytes(4, "little") + body


def test_exif_is_found_where_pil_finds_it():
    """PIL reads a PNG's eXIf after the image data too (the last one when there are several),
    drops ``Exif\\0\\0`` before PNG and WebP EXIF, reads a WebP's EXIF chunk only where the
    VP8X flags announce it and inside the RIFF size, and a JPEG's in any segment before the
    scan."""
    pixels = (np.random.default_rng(7).random((6, 10, 3)) * 255).astype(np.uint8)
    sideways, half_turn = little_endian_exif(6)[6:], little_endian_exif(3)[6:]
    header, idat, end = png_chunks(encoded_file(pixels, "PNG"))
    idats = [(b"IDAT", idat[1][i:i + 4]) for i in range(0, len(idat[1]), 4)]
    assert len(idats) > 20
    vp8x, image, exif = webp_chunks(encoded_file(pixels, "WEBP", lossless=True, exif=sideways))
    assert exif == (b"EXIF", sideways) and vp8x[0] == b"VP8X" and vp8x[1][0] & 0x08
    unflagged = (b"VP8X", bytes([vp8x[1][0] & ~0x08]) + vp8x[1][1:])
    jpeg = encoded_file(pixels, "JPEG")
    assert jpeg[20:22] == b"\xff\xdb"  # start of image, APP0 (JFIF), then the tables
    comments = (b"\xff\xfe" + (7).to_bytes(2, "big") + b"notes") * 4
    app1 = b"\xff\xe1" + (2 + len(little_endian_exif(6))).to_bytes(2, "big") + little_endian_exif(6)
    prefixed, twice_prefixed = b"Exif\0\0" + sideways, b"Exif\0\0" * 2 + sideways
    files = [
        ("PNG eXIf after many IDAT chunks", 6,
         png_file([header, *idats, (b"eXIf", sideways), end])),
        ("PNG eXIf after Exif\\0\\0", 6, png_file([header, (b"eXIf", prefixed), idat, end])),
        ("PNG two eXIf: the last", 3,
         png_file([header, (b"eXIf", sideways), idat, (b"eXIf", half_turn), end])),
        ("PNG eXIf after IEND", 1, png_file([header, idat, end, (b"eXIf", sideways)])),
        ("WebP EXIF after Exif\\0\\0 twice", 6,
         webp_file([vp8x, image, (b"EXIF", twice_prefixed)])),
        ("WebP EXIF before the image", 6, webp_file([vp8x, exif, image])),
        ("WebP two EXIF: the first", 6, webp_file([vp8x, image, exif, (b"EXIF", half_turn)])),
        ("WebP EXIF the VP8X flags do not announce", 1, webp_file([unflagged, image, exif])),
        ("WebP EXIF in a simple file", 1, webp_file([image, exif])),
        ("WebP EXIF past the RIFF size", 1, webp_file([vp8x, image, exif], 8 + len(sideways))),
        ("JPEG EXIF in the sixth segment", 6, jpeg[:20] + comments + app1 + jpeg[20:]),
    ]
    finders = {"PNG": export._png_exif, "WebP": export._webp_exif, "JPEG": export._jpeg_exif}
    for name, orientation, encoded in files:
        find = finders[name.split()[0]]
        assert int(export._exif_orientation(tf.constant(encoded), find)) == orientation, name
        with Image.open(io.BytesIO(encoded)) as opened:
            expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
        np.testing.assert_array_equal(export._decode_photo(tf.constant(encoded), 0).numpy(),
                                      expected, err_msg=name)


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")
def test_broken_exif_is_read_as_pil_reads_it_or_as_no_orientation(model, exported, tmp_path):
    """Where PIL reads a broken eXIf / EXIF chunk, the graph reads what PIL reads; where PIL
    raises, the graph reads no orientation, as `inpaint()` does. EXIF cut short keeps its
    orientation where PIL keeps it: when the orientation's directory entry is whole, and so are
    the values stored after the directory for the entries before it (PIL stops at the first it
    cannot read)."""
    pixels = (np.random.default_rng(8).random((6, 10, 3)) * 255).astype(np.uint8)
    sideways = little_endian_exif(6)[6:]
    header, idat, end = png_chunks(encoded_file(pixels, "PNG"))
    vp8x, image, _ = webp_chunks(encoded_file(pixels, "WEBP", lossless=True, exif=sideways))
    broken = [
        ("garbage", b"garbage!" * 4, 1),
        ("directory past the end", sideways[:4] + (2**32 - 16).to_bytes(4, "little"), 1),
        ("64 entries said, 2 there", sideways[:8] + (64).to_bytes(2, "little") + sideways[10:], 6),
    ]
    camera_end = sideways.index(b"camera\0") + len(b"camera\0")  # the value of the entry before
    alone = big_endian_exif(6)[6:]  # the orientation's entry alone, ending 22 bytes in
    for order, data, whole in (("II", sideways, camera_end), ("MM", alone, 22)):
        broken += [(f"{order} cut to {size} bytes", data[:size], 6 if size >= whole else 1)
                   for size in range(len(data))]
    for name, data, orientation in broken:
        for kind, encoded, find in (
                ("PNG", png_file([header, (b"eXIf", data), idat, end]), export._png_exif),
                ("WebP", webp_file([vp8x, image, (b"EXIF", data)]), export._webp_exif)):
            message = f"{kind} {name}"
            assert int(export._exif_orientation(tf.constant(encoded), find)) == orientation, message
            try:
                with Image.open(io.BytesIO(encoded)) as opened:
                    expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
            except (SyntaxError, struct.error):  # "not a TIFF file", "unpack requires a buffer"
                expected = pixels
                assert orientation == 1, message
            np.testing.assert_array_equal(export._decode_photo(tf.constant(encoded), 0).numpy(),
                                          expected, err_msg=message)
    jpeg_cut_short = tf.constant(b"\xff\xd8\xff\xe1\0")
    assert int(export._exif_orientation(jpeg_cut_short, export._jpeg_exif)) == 1
    # served as it is stored, as `inpaint()` reads it (PIL finds no byte order in its EXIF)
    garbage = png_file([header, (b"eXIf", b"garbage!" * 4), idat, end])
    mask = np.zeros((6, 10), np.uint8)
    mask[1:4, 2:7] = 255
    signature = tf.saved_model.load(str(exported)).signatures["inpaint_bytes"]
    served = signature(image_bytes=tf.constant(garbage), mask_bytes=tf.constant(png_bytes(mask)))
    photo = tmp_path / "garbage_exif.png"
    photo.write_bytes(garbage)
    with pytest.warns(UserWarning, match="EXIF data cannot be read"):
        expected = inpaint(photo, mask, model=model)
    np.testing.assert_array_equal(tf.io.decode_png(served["inpainted_bytes"]).numpy(), expected)
    np.testing.assert_array_equal(expected, inpaint(pixels, mask, model=model))


@pytest.mark.parametrize("photo_kind, mask_orientation", [("JPEG", 1), ("PNG", 1), ("WEBP", 8)])
def test_sideways_phone_photo_is_served_upright_as_inpaint_reads_it(
        model, exported, tmp_path, photo_kind, mask_orientation):
    """A photo stored sideways (EXIF orientation 6) with a mask drawn on it as shown: stored
    upright, or itself stored sideways (orientation 8)."""
    stored = (np.random.default_rng(6).random((12, 10, 3)) * 255).astype(np.uint8)
    photo = tmp_path / f"photo.{photo_kind.lower()}"  # stored 12 high, 10 wide; shown 10 x 12
    photo.write_bytes(encoded_file(stored, photo_kind, exif=little_endian_exif(6),
                                   **ORIENTED_FILES[photo_kind][1]))
    mask = np.zeros((10, 12, 1), np.uint8)
    mask[2:6, 3:9] = 255  # drawn on the photo as shown
    # stored so that turning it by its orientation (8: a quarter turn to the left) gives `mask`
    stored_mask = mask if mask_orientation == 1 else np.rot90(mask, -1)
    mask_path = tmp_path / "mask.png"
    mask_path.write_bytes(encoded_file(stored_mask, "PNG",
                                       exif=little_endian_exif(mask_orientation)))
    with Image.open(mask_path) as opened:
        np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(opened)), mask[..., 0])
    signature = tf.saved_model.load(str(exported)).signatures["inpaint_bytes"]
    served = signature(image_bytes=tf.constant(photo.read_bytes()),
                       mask_bytes=tf.constant(mask_path.read_bytes()))
    expected = inpaint(photo, mask_path, model=model)
    np.testing.assert_array_equal(tf.io.decode_png(served["inpainted_bytes"]).numpy(), expected)
    with pytest.raises(tf.errors.InvalidArgumentError, match="needs at least one file"):
        signature(image_bytes=tf.constant([], tf.string), mask_bytes=tf.constant([], tf.string))


def encoded_file(array, kind, **options):
    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(buffer, kind,
                                                                               **options)
    return buffer.getvalue()


CUT_SHORT_PROBLEMS = [
    ("PNG", {}, "a PNG file without its IEND chunk"),
    ("JPEG", {}, "a JPEG file without an end-of-image marker after its last scan"),
    ("JPEG", {"progressive": True}, "a JPEG file without an end-of-image marker"),
    ("BMP", {}, "a BMP file shorter than its pixel rows"),
    ("WEBP", {"lossless": True}, "a WebP file shorter than its RIFF header says"),
]


@pytest.mark.parametrize("name", ["image_bytes", "mask_bytes"])
def test_files_cut_short_are_refused_with_their_index(exported, name):
    signature = tf.saved_model.load(str(exported)).signatures["inpaint_bytes"]
    image, mask = uint8_inputs(8, 8, batch=3)
    for kind, options, problem in CUT_SHORT_PROBLEMS:
        files = {"image_bytes": [encoded_file(photo, kind, **options) for photo in image],
                 "mask_bytes": [encoded_file(hole, kind, **options) for hole in mask]}
        whole = files[name][2]
        for cut in (1, 12, len(whole) // 2):
            batch = {**files, name: files[name][:2] + [whole[:-cut]]}
            message = rf"{name}\[2\] is {re.escape(problem)}.*\({len(whole) - cut} bytes"
            with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                signature(**{key: tf.constant(value) for key, value in batch.items()})


def test_bmp_files_tensorflow_would_misread_are_refused(exported):
    signature = tf.saved_model.load(str(exported)).signatures["inpaint_bytes"]
    image, mask = uint8_inputs(8, 8, batch=1)
    grey = image[0, ..., 0]
    palette = Image.fromarray(image[0]).convert("P", palette=Image.ADAPTIVE, colors=256)
    files = {
        "an 8-bit BMP file with a colour palette": encoded_file(np.asarray(palette), "BMP"),
        "a BMP file of 1 bits per pixel": encoded_file(grey > 127, "BMP"),
    }
    buffer = io.BytesIO()
    palette.save(buffer, "BMP")  # PIL keeps the palette: 8 bits, colours looked up
    files["an 8-bit BMP file with a colour palette"] = buffer.getvalue()
    for problem, encoded in files.items():
        with pytest.raises(tf.errors.InvalidArgumentError, match=rf"image_bytes\[0\] is {problem}"):
            signature(image_bytes=tf.constant(encoded), mask_bytes=tf.constant(png_bytes(mask[0])))
    # a grey 8-bit BMP (PIL writes the grey palette) is read as inpaint() reads it
    served = signature(image_bytes=tf.constant(encoded_file(grey, "BMP")),
                       mask_bytes=tf.constant(png_bytes(mask[0])))["inpainted_bytes"]
    assert tf.io.decode_png(served).shape == (8, 8, 3)


def test_other_decode_errors_name_the_input(exported):
    signature = tf.saved_model.load(str(exported)).signatures["inpaint_bytes"]
    image, mask = uint8_inputs(8, 8, batch=1)
    files = {"image_bytes": encoded_file(image[0], "GIF"), "mask_bytes": png_bytes(mask[0])}
    files["mask_bytes"] = encoded_file(mask[0], "GIF")
    for name, encoded in files.items():  # a GIF cut short: the decoder's node is named
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"{name}/DecodeImage"):
            signature(**{key: tf.constant(value)
                         for key, value in {**files, name: encoded[:-12]}.items()})


@pytest.mark.parametrize("name", ["image_bytes", "mask_bytes"])
def test_strings_of_no_image_format_are_refused_with_their_index(exported, name):
    signature = tf.saved_model.load(str(exported)).signatures["inpaint_bytes"]
    image, mask = uint8_inputs(8, 8, batch=3)
    files = {"image_bytes": [png_bytes(photo) for photo in image],
             "mask_bytes": [png_bytes(hole) for hole in mask]}
    for index, broken in ((1, base64.b64encode(files[name][1])), (2, b"RIFF"), (0, b"")):
        batch = {**files, name: [broken if i == index else f for i, f in enumerate(files[name])]}
        message = (rf"{name}\[{index}\] is not a PNG, JPEG, GIF, BMP or WebP file .*"
                   rf"its first bytes: {re.escape(broken[:16].decode())}")
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            signature(**{key: tf.constant(value) for key, value in batch.items()})


def test_files_are_served_as_inpaint_reads_them(model, exported):
    """WebP and GIF; and PNG, JPEG, BMP and WebP followed by other bytes, which PIL ignores
    (TensorFlow's BMP decoder alone refuses them: the served graph drops the bytes past a
    BMP's pixel rows)."""
    signature = tf.saved_model.load(str(exported)).signatures["inpaint_bytes"]
    image, mask = uint8_inputs(10, 12, batch=1)
    cases = [(kind, options, b"") for kind, options in (("WEBP", {"lossless": True}),
                                                         ("GIF", {}))]
    cases += [(kind, {}, b"\0trailing bytes") for kind in ("PNG", "JPEG", "BMP", "WEBP")]
    for kind, options, trailing in cases:
        encoded = [encoded_file(array[0], kind, **options) + trailing for array in (image, mask)]
        served = signature(image_bytes=tf.constant(encoded[0]),
                           mask_bytes=tf.constant(encoded[1]))["inpainted_bytes"]
        expected = inpaint(Image.open(io.BytesIO(encoded[0])),
                           Image.open(io.BytesIO(encoded[1])), model=model)
        np.testing.assert_array_equal(tf.io.decode_png(served).numpy(), np.asarray(expected),
                                      err_msg=f"{kind} {trailing}")


def test_large_photo_is_served_like_inpaint_fills_it(model, exported):
    image = large_photo()
    mask = np.zeros(image.shape[:2] + (1,), np.uint8)
    mask[30:47, 35:45] = 255  # one hole region: inpaint() takes one crop around it
    signature = tf.saved_model.load(str(exported)).signatures["serving_default"]
    served = signature(image=image[None], mask=mask[None])["inpainted"].numpy()[0]
    np.testing.assert_array_equal(served, inpaint(image, mask, model=model))
    hole = mask[..., 0] > 0
    assert (served[hole] != image[hole]).any(axis=-1).mean() > 0.9
    # ... which is not what the network gives for the whole photo at once
    assert np.abs(keras_reference(model, image[None], mask[None])[0].astype(int) - served).max() > 8


def test_large_photos_with_separate_hole_regions_or_none(model, exported):
    image = large_photo()
    regions = np.zeros(image.shape[:2] + (1,), np.uint8)
    regions[2:6, 2:6] = 255  # three regions: a crop each, in inpaint() and in the graph
    regions[-8:-3, -9:-2] = 255
    regions[40:44, 10:60] = 255
    masks = np.stack([regions, np.zeros_like(regions)])
    signature = tf.saved_model.load(str(exported)).signatures["serving_default"]
    served = signature(image=np.stack([image, image]), mask=masks)["inpainted"].numpy()
    np.testing.assert_array_equal(served[0], inpaint(image, regions, model=model))
    np.testing.assert_array_equal(served[1], image)


def test_graph_crops_are_inference_crops():
    for top, left, height, width, model_size, image_size in random_boxes(1, 60, 2000, 200):
        rows, columns, scale = inference._context_window(
            top, left, height, width, model_size, image_size)
        box = [(tf.constant(top, tf.int64), tf.constant(top + height, tf.int64)),
               (tf.constant(left, tf.int64), tf.constant(left + width, tf.int64))]
        firsts, sides, graph_scale = export._context_window(
            box, model_size, tf.constant(image_size, tf.int64))
        assert [int(first) for first in firsts] == [rows.start, columns.start]
        assert [int(side) for side in sides] == [crop.stop - crop.start for crop in (rows, columns)]
        assert float(graph_scale) == pytest.approx(scale, rel=1e-12)


def test_thin_crop_of_a_long_photo_is_served_like_inpaint_fills_it(model, exported):
    # The crop is clipped to the photo's 40 rows: scaled down by 40 / 8, not 228 / 16, so that
    # it reaches the model 8 rows high (half its size), as in inpaint().
    image = large_photo(40, 300)
    mask = np.zeros(image.shape[:2] + (1,), np.uint8)
    mask[16:24, 100:160] = 255
    signature = tf.saved_model.load(str(exported)).signatures["serving_default"]
    served = signature(image=image[None], mask=mask[None])["inpainted"].numpy()[0]
    np.testing.assert_array_equal(served, inpaint(image, mask, model=model))


def test_hole_regions_join_holes_closer_than_the_merge_radius():
    hole = np.zeros((120, 100), bool)
    hole[10:20, 10:20] = True
    hole[10:20, 30:40] = True  # 10 pixels from the first: the same region
    hole[90:100, 10:20] = True  # far from both: a region of its own
    hole[60, 95:100] = True  # touching the border: a third
    regions, count = export._hole_regions(tf.constant(hole))
    regions = regions.numpy()
    assert count == 3
    assert (regions[~hole] == -1).all() and set(np.unique(regions[hole])) == {0, 1, 2}
    assert len({regions[15, 15], regions[15, 35]}) == 1
    assert len({regions[15, 15], regions[95, 15], regions[60, 97]}) == 3
    none, zero = export._hole_regions(tf.zeros((40, 30), tf.bool))
    assert zero == 0 and (none.numpy() == -1).all()


def test_mixed_precision_model_serves_uint8(tmp_path):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = ToyInpainter(image_size=16, width=3)
    finally:
        keras.config.set_dtype_policy(previous)
    path = export_saved_model(model, tmp_path / "mixed")
    image, mask = uint8_inputs(8, 8)
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    served = signature(image=image, mask=mask)["inpainted"].numpy()
    assert served.dtype == np.uint8
    assert np.abs(served.astype(int) - keras_reference(model, image, mask)).max() <= 1


def test_export_errors(model, exported):
    with pytest.raises(ValueError, match="already exists; TF Serving versions are immutable"):
        export_saved_model(model, exported.parent, version=3)
    with pytest.raises(ValueError, match="'telea' is a classical OpenCV fill"):
        export_saved_model(ClassicalInpainter("telea"), exported.parent)
    with pytest.raises(ValueError, match="model must be a keras.Model"):
        export_saved_model(lambda batch: batch["image"], exported.parent)
    with pytest.raises(ValueError, match="version must be a positive int"):
        export_saved_model(model, exported.parent, version=0)


def test_cli_export(tmp_path_factory, photo_folder, tmp_path, monkeypatch, capsys):
    preset = tiny_preset(tmp_path_factory, photo_folder)
    assert cli.main(["export", str(preset), str(tmp_path / "served"), "--version", "2"]) == 0
    assert (tmp_path / "served" / "2" / "saved_model.pb").is_file()
    monkeypatch.setattr(zoo, "ZOO_ROOT", tmp_path / "empty_zoo")
    capsys.readouterr()
    assert cli.main(["export", "telea", str(tmp_path / "t")]) == 2
    assert "classical OpenCV fill" in capsys.readouterr().err
    assert cli.main(["export", "gated_conv", str(tmp_path / "g")]) == 2
    assert "no trained weights yet" in capsys.readouterr().err
    assert not (tmp_path / "t").exists() and not (tmp_path / "g").exists()


def test_cli_export_of_a_paper_model_with_random_weights(tmp_path):
    assert cli.main(["export", "pathak2016", str(tmp_path / "ce"), "--weights", "none"]) == 0
    signature = tf.saved_model.load(str(tmp_path / "ce" / "1")).signatures["serving_default"]
    image, mask = uint8_inputs(40, 56, batch=1)  # not the model's 128x128: resized inside
    served = signature(image=image, mask=mask)["inpainted"].numpy()
    known = mask[..., 0] == 0
    np.testing.assert_array_equal(served[known], image[known])
    assert (served[~known] != image[~known]).any()
