"""The model zoo: one name per paper, preset folders, loading, listing and publishing.

Names (aliases in brackets):

    context_encoder (pathak2016)        Pathak et al., CVPR 2016
    global_local (glcic)                Iizuka et al., SIGGRAPH 2017
    latent_search (yeh2017)             Yeh et al., CVPR 2017
    contextual_attention (deepfill_v1)  Yu et al., CVPR 2018
    partial_conv (pconv)                Liu et al., ECCV 2018
    gated_conv (deepfill_v2)            Yu et al., ICCV 2019
    telea, navier_stokes                classical OpenCV fills (no weights)

**Preset folders** (keras-hub style), ``zoo/<name>/`` in a checkout, installed with the package
as ``keras_inpaint/zoo_presets/<name>/``:

- ``config.json``: ``keras.saving.serialize_keras_object(model)`` (module, class name and
  constructor config; no compile or build state);
- ``model.weights.h5``: the weights (float32; float16 to halve the size, or int8 kernels with
  a scale per channel for a quarter: see `keras_inpaint.weight_storage`; loading restores the
  float32 variables);
- ``metadata.json``: ``sha256`` of the weights file, the training data, steps, image size and
  command, the measured ``scores`` (None until measured) and the creation time;
- ``README.md``: the model card.

`load` refuses weights whose sha256 differs from ``metadata.json``; `publish` turns a training
run (see `keras_inpaint.training`) into such a folder. A zoo name without a preset folder
holding weights has no trained weights yet: `load(name)` raises and ``load(name,
weights=None)`` returns the architecture with random weights, never silently.

Example:
>>> from keras_inpaint import zoo
>>> [entry["name"] for entry in zoo.list()][:2]  # doctest: +SKIP
['context_encoder', 'global_local']
>>> model = zoo.load("deepfill_v2", weights=None)  # doctest: +SKIP
>>> telea = zoo.load("telea")  # doctest: +SKIP
"""

import builtins
import dataclasses
import datetime
import functools
import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path

from keras_inpaint.files import (
    MODEL_FILE,
    RUN_CONFIG_FILE,
    TIMING_FILE,
    VALIDATION_FILE,
    WEIGHTS_FILE,
)
from keras_inpaint.scores import TABLE_SCORES, score_text
from keras_inpaint.weight_storage import check_weights_dtype, readable_copy, write_weights

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
MODEL_CARD_FILE = "README.md"
RUN_FILES = (RUN_CONFIG_FILE, MODEL_FILE, WEIGHTS_FILE)
"""What `publish` needs in a training run directory (written by `keras_inpaint.training`)."""

WEIGHT_SOURCES = ("zoo", None)
FORMATS = ("keras", "saved_model")
CACHE_ENV = "KERAS_INPAINT_CACHE"
"""Environment variable overriding the cache root (default ``~/.cache/keras_inpaint``)."""

SAVED_MODEL_VERSION = 1
"""Version folder of the cached SavedModels (``<cache>/saved_models/<key>/1/``)."""

RANKING_SCORE = "psnr"
"""The score (in ``metadata.json``'s ``scores``) by which `default_model` ranks entries."""

BASELINE_CHECKS = {"psnr": max, "l1_percent": min}
"""Overall scores a network must not lose to any classical fill's on its evaluation pairs to
be a `default_model` candidate, each with the function that picks the better of two values
(PSNR and L1, the scores the README's bar for the zoo compares)."""

CLASSICAL_DEFAULT = "navier_stokes"
"""`default_model` when no network beats the classical fills: of OpenCV's two, Navier-Stokes
scored the higher overall PSNR, lower L1 in every hole-ratio bin and higher SSIM in every bin
on Kodak24 with the 1,200 NVIDIA masks, at 256x256 and at 128x128 (README, *Evaluation*)."""

_HASH_CHUNK_BYTES = 1 << 20
_WRITTEN_BY_PRESET = ("class_name", "parameters", "sha256", "weights_file", "created", "versions")
"""The metadata `write_preset` adds (`repack` takes the rest from its source)."""
_SAFE_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")
_PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One registered name: its paper, its kind and where its preset folder would be.

    Attributes:
        name: canonical name (a key of `keras_inpaint.models.MODELS` for networks).
        aliases: other accepted names.
        paper: short citation ("Yu et al., ICCV 2019").
        title: the paper's title.
        year: publication year.
        classical: True for the OpenCV fills (no weights, nothing to export).
        paper_command: a ``keras-inpaint train`` command at the paper's scale (data, size
            and batch as the authors describe them; ``--steps`` only where the paper states a
            number, GLCIC's 90k + 10k + 500k), quoted in model cards beside the command that
            trained the zoo's smaller weights.
    """

    name: str
    aliases: tuple
    paper: str
    title: str
    year: int
    classical: bool = False
    paper_command: str = None

    @property
    def preset_dir(self):
        """``<zoo root>/<name>`` (it exists only once weights are published)."""
        return zoo_root() / self.name

    def model_class(self):
        """The `keras.Model` subclass (networks only; imports it)."""
        from keras_inpaint.models import get_model_class

        return get_model_class(self.name)

    def build(self, **overrides):
        """A new model with random weights (or a `ClassicalInpainter`) with `overrides`."""
        if self.classical:
            from keras_inpaint.postprocess import ClassicalInpainter

            check_overrides(overrides, ClassicalInpainter(self.name).get_config(), self.name,
                            fixed=("method",))
            return ClassicalInpainter(method=self.name, **overrides)
        model_class = self.model_class()
        check_overrides(overrides, inspect.signature(model_class).parameters, self.name)
        return model_class(**overrides)


def check_overrides(overrides, valid, what, fixed=()):
    """Raise a ValueError naming the keys of `overrides` that are not in `valid` (or are in
    `fixed`): constructor arguments `what` does not take."""
    unknown = [key for key in overrides if key not in valid or key in fixed]
    if unknown:
        choices = sorted(key for key in valid if key not in fixed and key != "kwargs")
        raise ValueError(
            f"{what} has no constructor argument {', '.join(map(repr, unknown))}; "
            f"its arguments: {', '.join(choices)}"
        )


ENTRIES = {
    entry.name: entry
    for entry in (
        ZooEntry("context_encoder", ("pathak2016",), "Pathak et al., CVPR 2016",
                 "Context Encoders: Feature Learning by Inpainting", 2016,
                 paper_command="keras-inpaint train context_encoder --data PARIS_STREETVIEW "
                 "--image-size 128 --batch-size 64 --strategy mirrored"),
        ZooEntry("global_local", ("glcic",), "Iizuka et al., SIGGRAPH 2017",
                 "Globally and Locally Consistent Image Completion", 2017,
                 paper_command="keras-inpaint train global_local --data tfds:places365_small "
                 "--image-size 256 --batch-size 96 --steps 600000 --mixed-precision float16 "
                 "--strategy mirrored"),
        ZooEntry("latent_search", ("yeh2017",), "Yeh et al., CVPR 2017",
                 "Semantic Image Inpainting with Deep Generative Models", 2017,
                 paper_command="keras-inpaint train latent_search --data CELEBA_FOLDER "
                 "--image-size 64 --batch-size 64"),
        ZooEntry("contextual_attention", ("deepfill_v1",), "Yu et al., CVPR 2018",
                 "Generative Image Inpainting with Contextual Attention", 2018,
                 paper_command="keras-inpaint train contextual_attention "
                 "--data tfds:places365_small --image-size 256 --batch-size 16 "
                 "--mixed-precision float16 --strategy mirrored"),
        ZooEntry("partial_conv", ("pconv",), "Liu et al., ECCV 2018",
                 "Image Inpainting for Irregular Holes Using Partial Convolutions", 2018,
                 paper_command="keras-inpaint train partial_conv --data PLACES2_512_FOLDER "
                 "--image-size 512 --batch-size 6 --set vgg_weights=imagenet "
                 "--mixed-precision float16 --strategy mirrored (then --set fine_tune=True "
                 "in a new run from those weights)"),
        ZooEntry("gated_conv", ("deepfill_v2",), "Yu et al., ICCV 2019",
                 "Free-Form Image Inpainting with Gated Convolution", 2019,
                 paper_command="keras-inpaint train gated_conv --data tfds:places365_small "
                 "--image-size 256 --batch-size 16 --mixed-precision float16 "
                 "--strategy mirrored"),
        ZooEntry("telea", (), "Telea, JGT 2004",
                 "An Image Inpainting Technique Based on the Fast Marching Method", 2004,
                 classical=True),
        ZooEntry("navier_stokes", (), "Bertalmio et al., CVPR 2001",
                 "Navier-Stokes, Fluid Dynamics, and Image and Video Inpainting", 2001,
                 classical=True),
    )
}
"""Canonical name -> `ZooEntry`, in the order `list` reports them."""

ALIASES = {alias: entry.name for entry in ENTRIES.values() for alias in entry.aliases}


def _default_zoo_root():
    """The installed ``keras_inpaint.zoo_presets`` folder, else the checkout's ``zoo/``."""
    spec = importlib.util.find_spec("keras_inpaint.zoo_presets")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "zoo"


ZOO_ROOT = _default_zoo_root()
"""Folder holding the preset folders ``<name>/`` of the registered names."""


def zoo_root():
    """`ZOO_ROOT` (a function so that tests and tools can point the module elsewhere)."""
    return Path(ZOO_ROOT)


def cache_root():
    """``$KERAS_INPAINT_CACHE`` or ``~/.cache/keras_inpaint``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "keras_inpaint")


def valid_names():
    """Every accepted name: canonical names and aliases, sorted."""
    return sorted([*ENTRIES, *ALIASES])


def get_entry(name):
    """The `ZooEntry` of a canonical name or alias; ValueError listing the valid names."""
    canonical = ALIASES.get(name, name) if isinstance(name, str) else None
    if canonical not in ENTRIES:
        raise ValueError(f"unknown zoo name {name!r}; valid names: {', '.join(valid_names())}")
    return ENTRIES[canonical]


def has_weights(name):
    """Whether the zoo entry `name` has a published preset with weights."""
    entry = get_entry(name)
    return not entry.classical and (entry.preset_dir / WEIGHTS_FILE).is_file()


def read_metadata(folder):
    """``metadata.json`` of a preset folder as a dict (``{}`` when the folder has none)."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


# ---- listing ---------------------------------------------------------------------------------


def list():  # noqa: A001 (the zoo's public API is zoo.list(), like timm's list_models())
    """One dict per registered name, in registry order.

    Keys: ``name``, ``aliases``, ``paper``, ``title``, ``classical``, ``trained`` (a preset
    with weights exists), ``input_size`` ((height, width) the model was or would be trained
    at; None for the classical fills), ``parameters`` (number of weights, from the preset's
    metadata or by building the default model once per process; 0 for the classical fills;
    None while the model's module is not part of the package), ``training_data``, ``steps``
    and ``scores`` (from ``metadata.json``; None when untrained or unmeasured).

    Building the default models for their parameter counts takes a few seconds the first
    time; nothing is built when the module is imported.
    """
    return [_describe(entry) for entry in ENTRIES.values()]


def _describe(entry):
    metadata = read_metadata(entry.preset_dir) if not entry.classical else {}
    trained = not entry.classical and (entry.preset_dir / WEIGHTS_FILE).is_file()
    if entry.classical:
        input_size, parameters = None, 0
    elif "parameters" in metadata and "image_size" in metadata:
        input_size, parameters = tuple(metadata["image_size"]), metadata["parameters"]
    else:
        input_size, parameters = _default_size_and_parameters(entry.name)
    return {
        "name": entry.name,
        "aliases": entry.aliases,
        "paper": entry.paper,
        "title": entry.title,
        "classical": entry.classical,
        "trained": trained,
        "input_size": input_size,
        "parameters": parameters,
        "training_data": metadata.get("data") if trained else None,
        "steps": metadata.get("steps") if trained else None,
        "scores": metadata.get("scores") if trained else None,
    }


@functools.lru_cache(maxsize=None)
def _default_size_and_parameters(name):
    """(input size, parameter count) of the default model `name`, built once per process.

    ``(None, None)`` while ``keras_inpaint.models.<name>`` is not in the package yet.
    """
    entry = ENTRIES[name]
    try:
        model_class = entry.model_class()
    except ModuleNotFoundError as error:
        if error.name != f"keras_inpaint.models.{name}":
            raise
        return None, None
    default_size = inspect.signature(model_class.__init__).parameters["image_size"].default
    model = model_class()
    size = (default_size, default_size) if isinstance(default_size, int) else tuple(default_size)
    return size, int(model.count_params())


def default_model():
    """The best zoo name to inpaint with: a trained network, else `CLASSICAL_DEFAULT`.

    Among the entries with published weights, the one with the highest measured
    ``scores["psnr"]`` (`RANKING_SCORE`) wins; entries without that score rank below those with
    it, and ties go to the more recent paper. An entry whose evaluation (see `publish`) shows
    a classical fill scoring a higher overall PSNR or a lower overall L1 on the same pairs
    (`BASELINE_CHECKS`) is not a candidate: a network worse than a classical fill in either
    is not the best model. With no candidate, the better
    of OpenCV's two classical fills (`CLASSICAL_DEFAULT`, Navier-Stokes) is the best model
    available.
    """
    metadata = {entry.name: read_metadata(entry.preset_dir)
                for entry in ENTRIES.values() if has_weights(entry.name)}
    candidates = [entry for entry in ENTRIES.values()
                  if entry.name in metadata and not _beaten_by_a_baseline(metadata[entry.name])]
    if not candidates:
        return CLASSICAL_DEFAULT

    def rank(entry):
        score = (metadata[entry.name].get("scores") or {}).get(RANKING_SCORE)
        return (score is not None, -math.inf if score is None else score, entry.year)

    return max(candidates, key=rank).name


def _beaten_by_a_baseline(metadata):
    """Whether a classical fill in the preset `metadata`'s evaluation scored better overall
    than the network in one of `BASELINE_CHECKS`."""
    scores = metadata.get("scores") or {}
    baselines = (metadata.get("evaluation") or {}).get("baselines") or {}
    return any(
        row["bin"] == "all" and key in scores and key in row
        and better(row[key], scores[key]) != scores[key]
        for rows in baselines.values() for row in rows
        for key, better in BASELINE_CHECKS.items()
    )


# ---- loading ---------------------------------------------------------------------------------


def load(name_or_path, weights="zoo", format="keras", **overrides):  # noqa: A002
    """Load a zoo model by name or alias, a preset folder or a ``.keras`` file.

    Args:
        name_or_path: a registered name or alias (see `valid_names`), a preset folder (with
            ``config.json``, e.g. written by `publish`) or a ``.keras`` file (loaded with
            Keras' ``safe_mode=True``). Names never address files: only the registered names
            map to ``<zoo root>/<name>``; anything else must be an existing folder or file.
        weights: ``"zoo"`` loads the preset's weights (checked against the sha256 in its
            ``metadata.json``); None returns the architecture with random weights.
        format: ``"keras"`` returns the `keras.Model` (ready for inference or fine-tuning),
            ``"saved_model"`` the TF Serving artifact (see `keras_inpaint.export`), exported once
            into ``<cache>/saved_models/<name>-<digest[:12]>-g<export.GRAPH_VERSION>/`` (cache
            root `cache_root`; the digest covers the ``.keras`` file, or the preset's weights,
            ``config.json`` and weight storage, so an edited preset is exported afresh) and
            returned as ``tf.saved_model.load`` of its version folder.
        **overrides: constructor arguments replacing the preset's (e.g. ``search_steps`` of
            latent_search); for ``telea`` / ``navier_stokes``, ``radius``.

    Returns:
        A `keras.Model`, a `keras_inpaint.postprocess.ClassicalInpainter` (``telea``,
        ``navier_stokes``) or a loaded SavedModel.

    Raises:
        ValueError: unknown name (the message lists the valid ones), an entry without trained
            weights and ``weights="zoo"``, a weights file whose sha256 differs from the
            metadata, a folder that is not a preset, a classical fill with
            ``format="saved_model"``.

    Example:
    >>> model = load("deepfill_v2")  # doctest: +SKIP
    >>> untrained = load("pconv", weights=None, image_size=256)  # doctest: +SKIP
    >>> mine = load("runs/gc/model.keras")  # doctest: +SKIP
    >>> served = load("gated_conv", format="saved_model")  # doctest: +SKIP
    >>> served.signatures["serving_default"]  # doctest: +SKIP
    """
    if weights not in WEIGHT_SOURCES:
        raise ValueError(f"weights must be 'zoo' or None, received {weights!r}")
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, received {format!r}")
    source = _resolve_source(name_or_path)
    if source.entry is not None and source.entry.classical:
        if format == "saved_model":
            raise ValueError(
                f"{source.entry.name!r} is a classical OpenCV fill: it has no graph to export "
                "as a SavedModel (use it from Python or the command line)"
            )
        return source.entry.build(**overrides)
    if format == "saved_model":
        return _load_saved_model(source, weights, overrides)
    return _load_keras(source, weights, overrides)


@dataclasses.dataclass(frozen=True)
class _Source:
    """What `load` was asked for: a zoo entry, a preset folder or a .keras file."""

    label: str
    entry: ZooEntry = None
    folder: Path = None
    keras_file: Path = None


def _resolve_source(name_or_path):
    if isinstance(name_or_path, str) and (name_or_path in ENTRIES or name_or_path in ALIASES):
        entry = get_entry(name_or_path)
        return _Source(label=entry.name, entry=entry, folder=entry.preset_dir)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ValueError(
            "expected a zoo name, a preset folder or a .keras file, received "
            f"{type(name_or_path).__name__}"
        )
    path = Path(name_or_path)
    label = _SAFE_LABEL.sub("_", path.stem or "model")
    if path.is_dir():
        return _Source(label=label, folder=path)
    if path.is_file() and path.suffix == ".keras":
        return _Source(label=label, keras_file=path)
    raise ValueError(
        f"{os.fspath(name_or_path)!r} is neither a zoo name (valid names: "
        f"{', '.join(valid_names())}) nor an existing preset folder or .keras file"
    )


def _load_keras(source, weights, overrides):
    if source.keras_file is not None:
        if weights is None or overrides:
            raise ValueError(
                f"{os.fspath(source.keras_file)!r} is a .keras file, which holds its own "
                "architecture and weights: weights=None and constructor overrides apply to zoo "
                "names and preset folders only"
            )
        return _load_keras_file(source.keras_file)
    folder = source.folder
    if source.entry is not None and not (folder / WEIGHTS_FILE).is_file():
        if weights == "zoo":
            _raise_untrained(source.entry)
        if not (folder / CONFIG_FILE).is_file():
            return source.entry.build(**overrides)
    model = _build_from_preset(folder, overrides)
    if weights == "zoo":
        metadata = read_metadata(folder)
        weights_file = verified_weights(folder)
        target = model.generator if metadata.get("weights_of") == "generator" else model
        with tempfile.TemporaryDirectory(prefix="keras_inpaint-weights-") as scratch:
            readable = readable_copy(weights_file, _stored_as(metadata), scratch)
            try:
                target.load_weights(readable)
            except ValueError as error:
                remedy = (f"an argument that changes the architecture (such as width) needs "
                          f"weights=None, which gives random weights" if overrides else
                          f"the preset's {CONFIG_FILE} and weights disagree")
                raise ValueError(f"the trained weights of {source.label!r} do not fit the "
                                 f"model built with {overrides}: {remedy}") from error
    return model


def _raise_untrained(entry):
    raise ValueError(
        f"the zoo entry {entry.name!r} has no trained weights yet; "
        f"zoo.load({entry.name!r}, weights=None) (or --weights none) gives the architecture "
        "with randomly initialised weights"
    )


def _preset_config(folder):
    """The serialized model of a preset folder (its ``config.json``)."""
    config_path = Path(folder) / CONFIG_FILE
    if not config_path.is_file():
        raise ValueError(
            f"{os.fspath(folder)!r} is not a preset folder: it has no {CONFIG_FILE} (see "
            "`keras-inpaint publish`)"
        )
    return json.loads(config_path.read_text(encoding="utf-8"))


def _build_from_preset(folder, overrides):
    import keras

    config = _preset_config(folder)
    check_overrides(overrides, config["config"], f"the preset {os.fspath(folder)!r}")
    config["config"] = {**config["config"], **overrides}
    _import_defining_module(config)
    return keras.saving.deserialize_keras_object(config, safe_mode=True)


def _load_keras_file(path):
    """``keras.saving.load_model(path, safe_mode=True)`` after importing the package module
    that defines the model (`_import_defining_module`)."""
    import keras

    with zipfile.ZipFile(path) as archive:
        _import_defining_module(json.loads(archive.read("config.json")))
    return keras.saving.load_model(path, safe_mode=True)


def _import_defining_module(config):
    """Import every `keras_inpaint` module a serialized model names (the model's own and those
    of the layers inside it, e.g. a functional model built from `PartialConv2D`), so that Keras
    finds their registered classes in a fresh process. Other modules are never imported because
    a file names them: import the module of your own classes before loading them."""
    if isinstance(config, dict):
        module = config.get("module")
        if isinstance(module, str) and (
            module == "keras_inpaint" or module.startswith("keras_inpaint.")
        ):
            importlib.import_module(module)
        children = config.values()
    elif isinstance(config, builtins.list):
        children = config
    else:
        return
    for child in children:
        _import_defining_module(child)


def sha256_of(path):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stored_as(metadata):
    """How a preset's weights file stores its weights (`weight_storage.WEIGHT_DTYPES`)."""
    return metadata.get("weights_dtype", "float32")


def verified_weights(folder):
    """Path of a preset's weights file after checking its sha256 against ``metadata.json``."""
    folder = Path(folder)
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise ValueError(f"preset folder {os.fspath(folder)!r} has no {WEIGHTS_FILE}")
    expected = read_metadata(folder).get("sha256")
    if not expected:
        raise ValueError(
            f"preset folder {os.fspath(folder)!r} has no sha256 in {METADATA_FILE}: its weights "
            "cannot be verified"
        )
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(
            f"refusing {os.fspath(path)!r}: its sha256 is {actual} but {METADATA_FILE} "
            f"records {expected} (corrupted or replaced file)"
        )
    return path


def _load_saved_model(source, weights, overrides):
    if weights is None or overrides:
        raise ValueError(
            "format='saved_model' serves published weights: weights=None and constructor "
            "overrides are not supported (export such a model with "
            "keras_inpaint.export.export_saved_model)"
        )
    if source.keras_file is not None:
        digest = sha256_of(source.keras_file)
    else:
        if source.entry is not None and not (source.folder / WEIGHTS_FILE).is_file():
            _raise_untrained(source.entry)
        digest = _preset_digest(source.folder)
    from keras_inpaint.export import GRAPH_VERSION

    # A new serving graph gets a new folder: exports cached by an older version are not reused.
    target = cache_root() / "saved_models" / f"{source.label}-{digest[:12]}-g{GRAPH_VERSION}"
    if not (target / str(SAVED_MODEL_VERSION) / "saved_model.pb").is_file():
        _export_into_cache(_load_keras(source, weights, overrides), target)
    import tensorflow as tf

    return tf.saved_model.load(str(target / str(SAVED_MODEL_VERSION)))


def _preset_digest(folder):
    """Hex sha256 of what a preset's served graph is made from: its verified weights, its
    ``config.json`` and the metadata `_load_keras` reads (how the weights are stored, and whether
    they are the generator's), so that editing any of them exports afresh."""
    metadata = read_metadata(folder)
    made_from = {
        "weights": sha256_of(verified_weights(folder)),
        "config": sha256_of(Path(folder) / CONFIG_FILE),
        "weights_dtype": _stored_as(metadata),
        "weights_of": metadata.get("weights_of"),
    }
    return hashlib.sha256(json.dumps(made_from, sort_keys=True).encode()).hexdigest()


def _export_into_cache(model, target):
    """Export into a temporary sibling of `target`, then rename it into place."""
    from keras_inpaint.export import export_saved_model

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_directory(target)
    try:
        export_saved_model(model, staging, version=SAVED_MODEL_VERSION)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # not a concurrent export that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---- publishing ------------------------------------------------------------------------------


def check_destination(folder, overwrite, sources=()):
    """Refuse to write a preset into an existing `folder` unless `overwrite`, and even then
    unless it is a preset (it holds ``metadata.json``) or empty, and holds none of `sources`
    (the run being published): replacing the folder deletes what it holds."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not overwrite:
        raise ValueError(
            f"{os.fspath(folder)!r} already exists; pass overwrite=True (--overwrite on the "
            "command line) to replace it"
        )
    if not folder.is_dir() or not ((folder / METADATA_FILE).is_file() or
                                    not any(folder.iterdir())):
        raise ValueError(
            f"refusing to replace {os.fspath(folder)!r}: it is not a preset folder (no "
            f"{METADATA_FILE}) and replacing it would delete what it holds"
        )
    for source in sources:
        source = Path(source).resolve()
        if source == folder.resolve() or folder.resolve() in source.parents:
            raise ValueError(
                f"refusing to replace {os.fspath(folder)!r}: it holds {os.fspath(source)!r}, "
                "which this command reads; write the preset elsewhere"
            )


def publish(run_dir, dest_dir, name=None, scores=None, weights_dtype="float32", overwrite=False,
            evaluation=None, notes=None, generator_only=False):
    """Turn a training run directory into a preset folder (a zoo entry).

    Reads ``run.json``, ``model.keras`` and ``model.weights.h5`` from `run_dir` (as
    `keras_inpaint.training.train` writes them; ``timing.json`` too when present) and writes
    ``config.json``, ``model.weights.h5``, ``metadata.json`` (sha256 of the weights, the run's
    data, steps, image size, wall time and the equivalent ``keras-inpaint train`` command,
    the paper-scale command, `scores`, the evaluation, creation time, library versions) and a
    ``README.md`` model card filled with what is known: no score appears unless measured. The
    folder is assembled in a temporary sibling and renamed into place, so `dest_dir` is either
    complete or absent.

    Args:
        run_dir: the training run directory.
        dest_dir: the preset folder to create (``zoo/<name>`` for a zoo entry).
        name: the preset's name (default: the last component of `dest_dir`).
        scores: measured scores, ``{"psnr": 24.1, "ssim": 0.87, ...}`` (finite numbers), or
            None when not measured.
        weights_dtype: how to store the weights: ``"float32"``, ``"float16"`` (half the size,
            values rounded to float16's 11-bit mantissa) or ``"int8"`` (kernels as 8-bit
            integers with a scale per channel, a quarter of the size; see
            `keras_inpaint.weight_storage`); loading restores float32 variables.
        overwrite: replace an existing `dest_dir` (otherwise it is an error).
        evaluation: a ``keras-inpaint evaluate --json`` report (path or dict) with a column
            labelled `name`: its per-bin rows become ``metadata["evaluation"]`` (with the
            protocol and the classical fills' rows from the same report as baselines), its
            ``all`` row the `scores` (explicit `scores` win), and the card shows the table and
            says, with the numbers, on which bins the model does not beat the baselines.
        notes: Markdown added to the card under "Notes" (e.g. how training deviated from
            the paper).
        generator_only: ship ``model.generator``'s weights alone (``metadata["weights_of"]``
            is then ``"generator"``): the discriminators serve only adversarial training, and
            are most of some models' size (GLCIC's two are 84 % of its weights). `load` gives
            them fresh random weights, which fine-tuning must train again. Refused for models
            whose inference needs more than the generator (the latent search).

    Returns:
        The preset folder as a `Path`.

    Example:
    >>> publish("runs/gc", "zoo/gated_conv", scores={"psnr": 24.1})  # doctest: +SKIP
    PosixPath('zoo/gated_conv')
    """
    import keras

    check_weights_dtype(weights_dtype)
    run_dir, dest_dir = Path(run_dir), Path(dest_dir)
    missing = [file for file in RUN_FILES if not (run_dir / file).is_file()]
    if missing:
        raise ValueError(
            f"{os.fspath(run_dir)!r} is not a finished training run: missing "
            f"{', '.join(missing)} (expected {', '.join(RUN_FILES)})"
        )
    name = dest_dir.name if name is None else name
    if not _PRESET_NAME.match(name):
        raise ValueError(
            f"preset name must be letters, digits, '_', '-' or '.', received {name!r}"
        )
    check_destination(dest_dir, overwrite, sources=[run_dir])
    evaluation = _model_evaluation(evaluation, name)
    scores = _check_scores({**(evaluation or {}).get("scores", {}), **(scores or {})} or None)
    run, timing = _run_record(run_dir)
    model = _load_keras_file(run_dir / MODEL_FILE)
    if generator_only and (getattr(model, "generator", None) is None
                           or getattr(model, "inference_needs_discriminator", True)):
        raise ValueError(
            f"generator_only: {type(model).__name__} needs more than a generator for "
            "inference (or has none); publish all its weights"
        )
    entry = ENTRIES.get(ALIASES.get(name, name))
    steps = _trained_steps(model, run)
    metadata = {
        "name": name,
        "paper": None if entry is None else entry.paper,
        "weights_dtype": weights_dtype,
        "weights_of": "generator" if generator_only else "model",
        "image_size": [int(side) for side in run["image_size"]],
        "data": run["data"],
        "steps": steps,
        "command": train_command(run),
        "paper_command": None if entry is None else entry.paper_command,
        "training_time": _sessions_before(timing, steps),
        "initialised_from": _initialisation(run),
        "scores": scores,
        "evaluation": None if evaluation is None else evaluation["evaluation"],
        "validation": _validation_record(run_dir, steps),
        "notes": notes,
        "run": {key: value for key, value in run.items() if key != "initialised_from"},
    }
    return write_preset(
        dest_dir,
        model,
        functools.partial(write_weights, run_dir / WEIGHTS_FILE, weights_dtype=weights_dtype,
                          group="generator" if generator_only else None),
        metadata,
        lambda complete: model_card(complete, entry),
    )


def repack(source, dest_dir, weights_dtype, evaluation=None, notes=None, overwrite=False):
    """Write a preset folder with `source`'s weights stored as `weights_dtype`.

    For presets whose training run is gone (`publish` needs the run): the new folder keeps
    the source's configuration and metadata (data, steps, command, notes, ...), so its card
    tells the same training story, with these changes: ``weights_dtype``, the ``sha256`` of
    the new file, ``repacked_from`` (the source's storage type, sha256 and creation time),
    and the scores and evaluation, which were measured on the old weights: they are dropped
    (the card says "not measured") unless `evaluation` gives new ones, a ``keras-inpaint
    evaluate --json`` report with a column named like the preset, measured on the repacked
    weights. Hence two steps: repack to a scratch folder, evaluate it, repack again with the
    report (`dest_dir` may be `source` itself with `overwrite`). int8 sources are expanded to
    float32 first, so each repack rounds the trained values at most once more.

    Args:
        source: a zoo name or a preset folder.
        dest_dir: the preset folder to write (atomically, as `publish`).
        weights_dtype: ``"float32"``, ``"float16"`` or ``"int8"`` (see `publish`).
        evaluation: a report (path or dict), as `publish`'s.
        notes: Markdown replacing the card's notes (default: the source's, which may quote
            scores of the old weights).
        overwrite: replace an existing `dest_dir`.

    Returns:
        The preset folder as a `Path`.

    Example:
    >>> repack("partial_conv", "/tmp/pc", "int8")  # doctest: +SKIP
    PosixPath('/tmp/pc')
    """
    check_weights_dtype(weights_dtype)
    folder = _resolve_source(source).folder
    if folder is None or not (folder / WEIGHTS_FILE).is_file() or not (
        folder / METADATA_FILE
    ).is_file():
        raise ValueError(
            f"{os.fspath(source)!r} is not a preset folder with trained weights (a training "
            "run is made a preset with publish)"
        )
    old = read_metadata(folder)
    check_destination(Path(dest_dir), overwrite)
    evaluation = _model_evaluation(evaluation, old["name"])
    metadata = {key: value for key, value in old.items() if key not in _WRITTEN_BY_PRESET}
    metadata.update(
        weights_dtype=weights_dtype,
        repacked_from={key: old.get(key) for key in ("weights_dtype", "sha256", "created")},
        scores=None if evaluation is None else _check_scores(evaluation["scores"]),
        evaluation=None if evaluation is None else evaluation["evaluation"],
        notes=old.get("notes") if notes is None else notes,
    )
    entry = ENTRIES.get(ALIASES.get(old["name"], old["name"]))
    with tempfile.TemporaryDirectory(prefix="keras_inpaint-repack-") as scratch:
        weights = readable_copy(verified_weights(folder), _stored_as(old), scratch)
        return write_preset(
            dest_dir,
            _build_from_preset(folder, {}),
            functools.partial(write_weights, weights, weights_dtype=weights_dtype),
            metadata,
            lambda complete: model_card(complete, entry),
        )


def write_preset(dest_dir, model, write_weights, metadata, make_card):
    """Write a preset folder (the layout `load` reads) atomically.

    ``config.json`` (the serialised `model` without build or compile state), the weights
    (``model.weights.h5``, written by `write_weights`), ``metadata.json`` and ``README.md``
    (`make_card`) are written into a temporary sibling of `dest_dir`, which then replaces
    `dest_dir`, so the folder is either complete or absent. Used by `publish` and by the
    checkpoint converters (`keras_inpaint.convert`).

    Args:
        dest_dir: the preset folder (its parent is created if needed).
        model: the model whose configuration the preset stores.
        write_weights: ``write_weights(path)`` writes the weights file at `path`.
        metadata: the preset's own metadata (``name``, ``paper``, ``weights_dtype``,
            ``image_size``, ``data``, ``steps``, ``command``, ``scores`` and where the weights
            came from); ``class_name``, ``parameters``, ``sha256``, ``weights_file``,
            ``created`` and ``versions`` are added here.
        make_card: ``make_card(metadata)`` returns the model card's text from the completed
            metadata.

    Returns:
        `dest_dir` as a `Path`.
    """
    import keras

    dest_dir = Path(dest_dir)
    config = {
        key: value
        for key, value in keras.saving.serialize_keras_object(model).items()
        if key not in ("build_config", "compile_config")
    }
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_directory(dest_dir)
    try:
        weights = staging / WEIGHTS_FILE
        write_weights(weights)
        metadata = {
            **metadata,  # then the keys of _WRITTEN_BY_PRESET
            "class_name": config["class_name"],
            "parameters": int(model.count_params()),
            "sha256": sha256_of(weights),
            "weights_file": WEIGHTS_FILE,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": library_versions(),
        }
        write_json(staging / CONFIG_FILE, config)
        write_json(staging / METADATA_FILE, metadata)
        (staging / MODEL_CARD_FILE).write_text(make_card(metadata), encoding="utf-8")
        move_into_place(staging, dest_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest_dir


def _model_evaluation(report, name):
    """``{"scores": all-row scores, "evaluation": {...}}`` of `name` in an evaluate report."""
    if report is None:
        return None
    if not isinstance(report, dict):
        report = json.loads(Path(report).read_text(encoding="utf-8"))
    methods = report.get("methods") or {}
    if name not in methods:
        raise ValueError(
            f"the evaluation report has no column {name!r} (it has {', '.join(methods) or 'none'}"
            f"); evaluate the run as {name}=RUN_DIR/model.keras"
        )
    protocol = report.get("protocol") or {}
    postprocessed = protocol.get("postprocess") or {}
    for option, done in (("--postprocess", postprocessed), ("--flips", protocol.get("flips") or {})):
        if name in done:
            raise ValueError(
                f"the evaluation report's column {name!r} was scored with {option} "
                f"{name}={done[name]}; a preset's scores are of the model's own output: "
                f"evaluate it without {option} {name}=..."
            )
    rows = methods[name]
    overall = next(row for row in rows if row["bin"] == "all")
    baselines = {label: table for label, table in methods.items()
                 if label in ENTRIES and ENTRIES[label].classical and label not in postprocessed}
    return {
        "scores": {key: value for key, value in overall.items() if key not in ("bin", "count")},
        "evaluation": {"protocol": report.get("protocol"), "bins": rows, "baselines": baselines},
    }


def _check_scores(scores):
    if scores is None:
        return None
    if not isinstance(scores, dict) or not all(
        isinstance(key, str)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        for key, value in scores.items()
    ):
        raise ValueError(f"scores must map names to finite numbers, received {scores!r}")
    return {key: float(value) for key, value in scores.items()}


def _initialisation(run):
    """Where a fine-tuning run started: the record `keras_inpaint.training.train` wrote into its
    ``run.json`` when the run began (``initialised_from``), or, for runs older than that
    record, `initialisation_record` of its ``init_from`` as it stands now."""
    if "initialised_from" in run:
        return run["initialised_from"]
    return initialisation_record(run.get("init_from"))


def trained_model_file(source):
    """`source` for `load`, with a training run directory replaced by its ``model.keras``
    (names stay names, paths become strings).

    Raises:
        ValueError: `source` is a run directory without ``model.keras`` (not finished).
    """
    source = os.fspath(source)
    if not (Path(source) / RUN_CONFIG_FILE).is_file():
        return source
    model_file = Path(source) / MODEL_FILE
    if not model_file.is_file():
        raise ValueError(f"{source!r} is a run that has not finished (no model.keras); "
                         "finish it with --resume first")
    return str(model_file)


def source_config(source):
    """``(class name, constructor arguments)`` of the model `load` would give for `source` (a
    zoo name, a preset folder, a ``.keras`` file or a finished run directory), read from its
    configuration without loading weights; ``(None, {})`` for an entry without one (a
    classical fill, an architecture without a preset).

    Raises:
        ValueError: as `load` and `trained_model_file` for a source they refuse.
    """
    resolved = _resolve_source(trained_model_file(source))
    if resolved.keras_file is not None:
        with zipfile.ZipFile(resolved.keras_file) as archive:
            config = json.loads(archive.read("config.json"))
    elif resolved.entry is not None and not (resolved.folder / CONFIG_FILE).is_file():
        return None, {}
    else:
        config = _preset_config(resolved.folder)
    return config.get("class_name"), config.get("config", {})


def initialisation_record(source, steps=None):
    """Where a fine-tuning run (``init_from``, see `keras_inpaint.training.train`) starts from
    `source`: for a run directory (or its ``model.keras``) the source run's command, steps,
    training time and own initialisation, followed back; for a zoo name or a preset folder the
    same from the preset's metadata, with its weights' sha256; for a ``.keras`` file the
    record written beside it as ``FILE.keras.json`` (``{"command", "initialised_from"}``, e.g.
    by ``docs/training/widen_gated_conv.py``), else just the source; None for None. `train` records it when a run begins, because a name's
    preset (or a run) may change before the new run is published.

    `steps` is the step counter of the source's weights when the caller has read it (`train`
    has, having loaded them): a run resumed after writing its ``model.keras`` and stopped before
    writing the next one has a ``run.json`` target and sessions beyond those weights, so the
    record then counts `steps` and only the sessions that started before them."""
    if source is None:
        return None
    source = str(source)
    if source in ENTRIES or source in ALIASES:
        folder = get_entry(source).preset_dir
    else:
        folder = Path(source).parent if Path(source).name == MODEL_FILE else Path(source)
    beside = Path(source + ".json")
    if not (folder / RUN_CONFIG_FILE).is_file() and beside.is_file():
        return {"source": source, **json.loads(beside.read_text(encoding="utf-8"))}
    if not (folder / RUN_CONFIG_FILE).is_file():
        preset = read_metadata(folder)
        if "command" not in preset:
            return {"source": source}
        return {
            "source": source,
            "sha256": preset.get("sha256"),
            **{key: preset.get(key) for key in ("command", "steps", "training_time")},
            "initialised_from": preset.get("initialised_from"),
        }
    source_run, timing = _run_record(folder)
    steps = int(source_run["steps"]) if steps is None else steps
    return {
        "source": source,
        "command": train_command(source_run),
        "steps": steps,
        "training_time": _sessions_before(timing, steps),
        "initialised_from": _initialisation(source_run),
    }


def _validation_record(run_dir, steps):
    """The run's validation curve (``validation.json``, `keras_inpaint.validation`) up to the
    published weights' step: ``{"protocol", "steps": [{"step", <scores of the all row>}]}``;
    None when the run was not validated."""
    path = run_dir / VALIDATION_FILE
    if not path.is_file():
        return None
    log = json.loads(path.read_text(encoding="utf-8"))
    points = []
    for entry in log["steps"]:
        if entry["step"] <= steps:
            overall = entry["scores"][-1]
            points.append({"step": entry["step"],
                           **{key: overall[key] for key, _, _ in TABLE_SCORES}})
    return {"protocol": log["protocol"], "steps": points}


def _validation_lines(validation):
    """Card section: the validation curve as a table, a row per validated step."""
    if not validation:
        return []
    protocol = validation["protocol"]
    lines = [
        "## Validation during training",
        "",
        f"Held-out photos `{protocol['images']}` with the masks of `{protocol['masks']}` "
        f"({protocol['pairs']} pairs at {protocol['size']}x{protocol['size']}), scored as "
        "`keras-inpaint evaluate` scores them, at these steps of the run:",
        "",
        "| step | " + " | ".join(label for _, label, _ in TABLE_SCORES) + " |",
        "|" + " --- |" * (len(TABLE_SCORES) + 1),
    ]
    lines += [f"| {point['step']} | "
              + " | ".join(score_text(key, point[key]) for key, _, _ in TABLE_SCORES) + " |"
              for point in validation["steps"]]
    return [*lines, ""]


def _sessions_before(timing, steps):
    """``timing.json``'s record cut to the sessions that started before step `steps`: those
    that made weights of `steps` steps (a run resumed after writing its ``model.keras`` and
    stopped before writing the next has later sessions); None for None."""
    if timing is None:
        return None
    sessions = [session for session in timing["sessions"] if session["from_step"] < steps]
    return {"seconds": round(sum(s["seconds"] for s in sessions), 1), "sessions": sessions}


def _run_record(run_dir):
    """A run directory's ``run.json`` and ``timing.json`` (None when absent) as dicts."""
    timing_path = run_dir / TIMING_FILE
    timing = json.loads(timing_path.read_text(encoding="utf-8")) if timing_path.is_file() else None
    return json.loads((run_dir / RUN_CONFIG_FILE).read_text(encoding="utf-8")), timing


def _initialisation_lines(initialised_from):
    """Card lines, one per earlier stage: "- Fine-tuned from: `command` (N steps, in ...)";
    "- Made with: `command`" for a stage that was not training (a record with a command and no
    steps, e.g. the widening of `docs/training/widen_gated_conv.py`)."""
    lines = []
    while initialised_from:
        if "command" in initialised_from and "steps" not in initialised_from:
            lines.append(f"- Made with: `{initialised_from['command']}`")
        elif "command" in initialised_from:
            lines.append(
                f"- Fine-tuned from: `{initialised_from['command']}` ({initialised_from['steps']}"
                f" steps{_training_time_text(initialised_from.get('training_time'))})"
            )
        else:
            lines.append(f"- Fine-tuned from: `{initialised_from['source']}`")
        initialised_from = initialised_from.get("initialised_from")
    return lines


def _trained_steps(model, run):
    """Optimisation steps actually taken (the model's counter), else the run's target."""
    counter = getattr(model, "train_steps", None)
    return int(counter.numpy()) if counter is not None else int(run["steps"])


def train_command(run):
    """The command that made a ``run.json``: as recorded, or an equivalent one rebuilt from
    its settings (runs started from Python record no command line)."""
    if run.get("command"):
        return run["command"]
    height, width = run["image_size"]
    parts = [
        "keras-inpaint train", run["model"], "--data", run["data"], "--output", "RUN_DIR",
        "--image-size", str(height) if height == width else f"{height}x{width}",
        "--batch-size", str(run["batch_size"]), "--steps", str(run["steps"]),
        "--masks", run["masks"], "--seed", str(run["seed"]),
    ]
    if run.get("mixed_precision"):
        parts += ["--mixed-precision", run["mixed_precision"]]
    if run.get("init_from"):
        parts += ["--init-from", run["init_from"]]
    for key, value in sorted((run.get("overrides") or {}).items()):
        parts += ["--set", f"{key}={_literal(value)}"]
    return " ".join(parts)


def _literal(value):
    if isinstance(value, (builtins.list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def library_versions():
    import keras
    import tensorflow as tf

    from keras_inpaint import __version__

    return {"keras_inpaint": __version__, "keras": keras.__version__, "tensorflow": tf.__version__}


def write_json(path, value):
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def staging_directory(target):
    """A new empty sibling of `target` to assemble it in, made with `mkdir`, so with the
    permissions the umask gives (``mkdtemp`` makes folders private, 0o700, which would leave a
    published preset unreadable to other users)."""
    while True:
        staging = target.parent / f".{target.name}-{uuid.uuid4().hex[:12]}"
        try:
            staging.mkdir()
        except FileExistsError:
            continue
        return staging


def move_into_place(staging, dest_dir):
    """Rename the finished `staging` folder to `dest_dir`, replacing an existing one."""
    if not dest_dir.exists():
        os.rename(staging, dest_dir)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}-old-", dir=dest_dir.parent))
    os.rename(dest_dir, retired / dest_dir.name)
    os.rename(staging, dest_dir)
    shutil.rmtree(retired, ignore_errors=True)


def model_card(metadata, entry=None):
    """The ``README.md`` model card of a preset, from its metadata (nothing invented)."""
    scores = metadata.get("scores")
    if scores:
        score_lines = ["| score | value |", "| --- | --- |"]
        score_lines += [f"| {key} | {score_text(key, value)} |"
                        for key, value in sorted(scores.items())]
    else:
        score_lines = ["Not measured yet (`keras-inpaint evaluate` measures them)."]
    height, width = metadata["image_size"]
    paper = "unknown" if entry is None else f"{entry.paper}, \"{entry.title}\""
    lines = [
        f"# {metadata['name']}",
        "",
        f"- Architecture: `{metadata['class_name']}` ({metadata['parameters']:,} parameters)",
        f"- Paper: {paper}",
        f"- Trained on: `{metadata['data']}` for {metadata['steps']} steps at {height}x{width}"
        + _training_time_text(metadata.get("training_time")),
        f"- Command: `{metadata['command']}`",
        *_initialisation_lines(metadata.get("initialised_from")),
        *([f"- At the paper's scale: `{metadata['paper_command']}`"]
          if metadata.get("paper_command") else []),
        f"- Weights: `{metadata['weights_file']}` ({metadata['weights_dtype']}), sha256 "
        f"`{metadata['sha256']}`",
        *(["- The generator's weights only: the discriminators (used only in adversarial "
           "training) are not shipped; loading gives them random weights, so fine-tuning "
           "trains them from scratch."]
          if metadata.get("weights_of") == "generator" else []),
        f"- Created: {metadata['created']} with "
        + ", ".join(f"{key} {value}" for key, value in metadata["versions"].items()),
        "",
        "## Scores",
        "",
        *score_lines,
        "",
        *_evaluation_lines(metadata["name"], metadata.get("evaluation")),
        *_validation_lines(metadata.get("validation")),
        *(["## Notes", "", metadata["notes"].strip(), ""] if metadata.get("notes") else []),
        *card_usage_lines(repr(metadata["name"]), comment="or the path of this folder"),
        "",
        "## Limitations",
        "",
        f"Trained only on `{metadata['data']}`: expect weaker fills on other kinds of images. "
        "The model sees images at its training resolution; larger images are filled in crops "
        "around each hole (`keras_inpaint.inference`). Check the licence of the training data "
        "before using the weights.",
        "",
    ]
    return "\n".join(lines)


def _training_time_text(timing):
    """", in 1 h 05 min of wall time on 1 CPU" from a run's ``timing.json`` ('' without)."""
    if not timing:
        return ""
    minutes = round(timing["seconds"] / 60)
    cpus = sorted({session["cpus"] for session in timing["sessions"]})
    accelerators = sorted({name for session in timing["sessions"]
                           for name in session.get("accelerators", [])})
    where = ", ".join(accelerators) if accelerators else (
        f"{'/'.join(map(str, cpus))} CPU core{'s' if cpus != [1] else ''}")
    return (f", in {minutes // 60} h {minutes % 60:02d} min of wall time on {where} "
            f"({len(timing['sessions'])} session{'s' if len(timing['sessions']) > 1 else ''})")


def _protocol_extras(protocol):
    """" Also: stride=10, ..." for the protocol's settings beyond images, masks and size."""
    extras = {key: value for key, value in protocol.items()
              if key not in ("images", "masks", "size") and value not in (None, 1)}
    if not extras:
        return ""
    return " Also: " + ", ".join(f"`{key}={json.dumps(value)}`" for key, value in extras.items())


def _evaluation_lines(name, evaluation):
    """The card's "Evaluation" section: the per-bin tables and, in words and numbers, where
    the model does not beat the classical fills (PSNR higher and L1 lower is "beats")."""
    if not evaluation:
        return []
    from keras_inpaint.evaluation import comparison_markdown

    protocol = evaluation.get("protocol") or {}
    baselines = evaluation.get("baselines") or {}
    lines = [
        "## Evaluation",
        "",
        f"`keras-inpaint evaluate` on `{protocol.get('images')}` with the masks of "
        f"`{protocol.get('masks')}` at {protocol.get('size')}x{protocol.get('size')}: composited "
        "outputs, scores per hole-ratio bin, the classical fills on the same pairs."
        + _protocol_extras(protocol),
        "",
        comparison_markdown({name: evaluation["bins"], **baselines}),
        "",
    ]
    shortfalls = []
    for row in evaluation["bins"]:
        for label, rows in baselines.items():
            other = next((r for r in rows if r["bin"] == row["bin"]), None)
            if other is None or row["bin"] == "all" or not (row["count"] and other["count"]):
                continue
            if row["psnr"] <= other["psnr"] or row["l1_percent"] >= other["l1_percent"]:
                shortfalls.append(
                    f"- {row['bin']}: PSNR {row['psnr']:.2f} vs {label} {other['psnr']:.2f} dB, "
                    f"L1 {row['l1_percent']:.3f} vs {other['l1_percent']:.3f} %"
                )
    if not baselines:
        return lines
    if shortfalls:
        lines += ["Where this model does not beat a classical fill (in PSNR or L1):", "",
                  *shortfalls, ""]
    else:
        lines += ["It beats every classical fill in PSNR and L1 on every bin.", ""]
    return lines


def card_usage_lines(model_argument, comment=None):
    """The "## Use" section of a model card (Markdown lines): load the preset with
    ``zoo.load(<model_argument>)`` (Python source, e.g. ``"'gated_conv'"``), followed by
    `comment` if given, and inpaint a photo with it."""
    load = f"model = zoo.load({model_argument})" + (f"  # {comment}" if comment else "")
    return [
        "## Use",
        "",
        "```python",
        "from keras_inpaint import zoo, inpaint",
        load,
        "result = inpaint(\"photo.png\", \"mask.png\", model=model)  # mask: white = hole",
        "```",
    ]
