"""What converting either DeepFill release needs: reading a TF1 checkpoint, matching its
variables to a model's and writing the preset folder (``keras-inpaint convert`` is in
`keras_inpaint.cli_commands`).

TensorFlow and Keras are imported inside the functions (`keras_inpaint.zoo` is light), so
that building the command-line parser stays fast.
"""

import importlib
import os
import re
from pathlib import Path

from keras_inpaint import zoo

VERSIONS = {
    "deepfill_v1": "keras_inpaint.convert.deepfill_v1",
    "deepfill_v2": "keras_inpaint.convert.deepfill_v2",
}
"""Release name (the zoo alias of the model it converts to) -> module doing the mapping.

Each module defines ``MODEL_NAME`` (the zoo / model-registry name), ``TITLE`` (a one-line
description), ``build_model()`` (the model configured like the release, with
``reference_compatibility=True``), ``checkpoint_variables(model)`` (two dicts, checkpoint name
-> Keras variable: every generator variable, every discriminator variable) and
``prepare_values(values)`` (the checkpoint arrays as the model's variables expect them).
"""

GENERATOR_SCOPE = "inpaint_net"
"""The authors' variable scope of the generator (v1 and v2)."""

UPSAMPLE_CONV = re.compile(r"^(?P<scope>.+_upsample)_conv$")
"""Our ``<stage>NN_upsample_conv`` is their ``<stage>NN_upsample/<stage>NN_upsample_conv``."""

IGNORED_VARIABLES = (
    (re.compile(r"(^|/)Adam(_\d+)?$"), "Adam's moment estimates (optimizer slots) of a variable"),
    (re.compile(r"(^|/)beta[12]_power(_\d+)?$"), "Adam's running powers of beta_1 and beta_2"),
    (re.compile(r"(^|/)global_step$"), "the training step counter"),
)
"""Checkpoint variables that are training state rather than weights: (pattern, reason).

The authors' trainer (neuralgym, TF1 Adam) may save them next to the weights; converted
models start fine-tuning with fresh optimizers, so they are skipped and listed in the preset's
metadata. Any other variable that the model has no place for is an error.
"""

MISSING_DISCRIMINATOR_HINT = (
    "the checkpoint holds no discriminator variable (the authors published some models with "
    "the generator only): allow_missing_discriminator=True (--allow-missing-discriminator) "
    "converts the generator and leaves the discriminator randomly initialised"
)
"""Added to the mismatch error when every discriminator variable is missing."""

DISCRIMINATOR_ABSENT = "not in the checkpoint: randomly initialised"
"""``metadata["source"]["discriminator"]`` of a generator-only conversion (else "converted")."""

LICENSE = "CC BY-NC 4.0"
"""Licence of the authors' released weights (their repository's README): never redistribute."""

SOURCE_REPOSITORY = "https://github.com/JiahuiYu/generative_inpainting"


def convert_deepfill(
    version,
    checkpoint_prefix,
    output_dir,
    name=None,
    training_data=None,
    allow_missing_discriminator=False,
    overwrite=False,
):
    """Convert the authors' released DeepFill v1 or v2 checkpoint into a preset folder.

    Reads the TF1 checkpoint with `tf.train.load_checkpoint`, builds our model configured like
    the release (``GatedConvInpainter(width=48, reference_compatibility=True)`` for v2,
    ``ContextualAttentionInpainter(width=32, padding="same", reference_compatibility=True)`` for
    v1, both at 256x256), copies EVERY generator and discriminator (v1: both critics)
    variable into it, and writes ``config.json``, ``model.weights.h5``, ``metadata.json``
    (the weights' sha256, the source checkpoint's file names and their sha256, the ignored
    optimizer variables, the licence) and a ``README.md`` model card. ``zoo.load(output_dir)``
    then returns the model, which reproduces the authors' outputs (see
    ``reference_compatibility`` in the model docs) and can be fine-tuned or exported for TF
    Serving like any zoo model.

    The released weights are licensed CC BY-NC 4.0 by their authors: convert them from your own
    download and do not redistribute the preset. Some releases hold the generator only (the
    authors said so of their Places2 models, generative_inpainting issues 11 and 277):
    converting them needs `allow_missing_discriminator`, and the preset's metadata and model
    card then say that the discriminator is randomly initialised.

    Args:
        version: ``"deepfill_v1"`` or ``"deepfill_v2"``.
        checkpoint_prefix: the checkpoint prefix (the path without ``.index``, e.g.
            ``model_logs/release_places2_256/snap-0``), its ``.index`` file, or the folder
            holding exactly one checkpoint.
        output_dir: the preset folder to create.
        name: the preset's name (default: the last component of `output_dir`).
        training_data: what the authors trained the checkpoint on (e.g. ``"Places2"``), for
            the metadata and the model card; the checkpoint itself does not say.
        allow_missing_discriminator: accept a checkpoint without any discriminator variable
            (the discriminator keeps its random initialisation); a checkpoint with some of
            them must still have all of them.
        overwrite: replace an existing `output_dir` (otherwise it is an error).

    Returns:
        The preset folder as a `Path`.

    Raises:
        ValueError: an unknown `version`; no checkpoint at `checkpoint_prefix`; a checkpoint
            whose variables do not match the model (the message lists every missing,
            unexpected and mis-shaped variable, and says when the whole discriminator is
            missing); an existing `output_dir` without `overwrite`.

    Example:
    >>> path = convert_deepfill(  # doctest: +SKIP
    ...     "deepfill_v2", "model_logs/release_places2_256", "presets/deepfill_v2_places2",
    ...     training_data="Places2")
    >>> model = zoo.load(path)  # doctest: +SKIP
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {sorted(VERSIONS)}, received {version!r}")
    output_dir = Path(output_dir)
    name = output_dir.name if name is None else name
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, received {name!r}")
    zoo.check_destination(output_dir, overwrite)
    release = importlib.import_module(VERSIONS[version])
    prefix = resolve_checkpoint(checkpoint_prefix)
    model = release.build_model()
    generator, discriminator = release.checkpoint_variables(model)
    ignored, discriminator_converted = load_checkpoint_into(
        prefix,
        generator,
        discriminator,
        release.prepare_values,
        release.TITLE,
        allow_missing_discriminator,
    )
    source = {
        "release": version,
        "checkpoint": f"{Path(prefix).parent.name}/{Path(prefix).name}",
        "files": {path.name: zoo.sha256_of(path) for path in checkpoint_files(prefix)},
        "discriminator": "converted" if discriminator_converted else DISCRIMINATOR_ABSENT,
        "ignored_variables": ignored,
        "license": LICENSE,
        "repository": SOURCE_REPOSITORY,
    }
    command = f"keras-inpaint convert {version} {source['checkpoint']} OUT_DIR"
    if training_data is not None:
        command += f" --training-data {training_data!r}"
    if allow_missing_discriminator:
        command += " --allow-missing-discriminator"
    return write_preset(model, output_dir, name, release.MODEL_NAME, source, training_data, command)


def resolve_checkpoint(path):
    """The checkpoint prefix for a prefix, its ``.index`` file or a folder holding one."""
    path = os.fspath(path)
    if os.path.isdir(path):
        indexes = sorted(Path(path).glob("*.index"))
        if len(indexes) != 1:
            found = ", ".join(index.name for index in indexes) or "none"
            raise ValueError(
                f"{path!r} must hold exactly one checkpoint (a *.index file), found {found}; "
                "pass the checkpoint prefix instead"
            )
        path = os.fspath(indexes[0])
    if path.endswith(".index"):
        path = path[: -len(".index")]
    if not os.path.isfile(path + ".index"):
        raise ValueError(
            f"no TensorFlow checkpoint at {path!r}: expected {path + '.index'!r} and its "
            ".data-* files (the authors' folders hold e.g. snap-0.index; Google Drive names "
            "the 'checkpoint' file checkpoint.txt, which is not needed here)"
        )
    return path


def checkpoint_files(prefix):
    """The ``.index`` and ``.data-*`` files of a checkpoint prefix."""
    prefix = Path(prefix)
    return [Path(f"{prefix}.index"), *sorted(prefix.parent.glob(f"{prefix.name}.data-*"))]


def ignored_reason(name):
    """Why a checkpoint variable is not a weight (see `IGNORED_VARIABLES`), or None."""
    for pattern, reason in IGNORED_VARIABLES:
        if pattern.search(name):
            return reason
    return None


def load_checkpoint_into(
    prefix, generator, discriminator, prepare_values, description, allow_missing_discriminator
):
    """Assign the checkpoint's arrays to the model's variables.

    `generator` and `discriminator` map checkpoint names to Keras variables. Every variable
    must be found with its shape (the discriminator's may all be absent with
    `allow_missing_discriminator`) and every checkpoint variable must have a place, apart from
    the optimizer state of `IGNORED_VARIABLES`; otherwise ValueError lists all missing,
    unexpected and mis-shaped names. `prepare_values` maps {name: array} to the arrays to
    assign (e.g. v2's spectral-normalisation vectors).

    Returns:
        ({ignored checkpoint variable: reason}, whether the discriminator was converted).
    """
    import numpy as np
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    ignored = {name: reason for name in sorted(shapes) if (reason := ignored_reason(name))}
    discriminator_absent = not set(discriminator) & set(shapes)
    skip_discriminator = discriminator_absent and allow_missing_discriminator
    variables = generator if skip_discriminator else {**generator, **discriminator}
    missing = sorted(set(variables) - set(shapes))
    unexpected = sorted(set(shapes) - set(variables) - set(ignored))
    mismatched = sorted(
        f"{name}: checkpoint {tuple(shapes[name])}, model {tuple(variable.shape)}"
        for name, variable in variables.items()
        if name in shapes and tuple(shapes[name]) != tuple(variable.shape)
    )
    if missing or unexpected or mismatched:
        problems = [
            f"{label} ({len(names)}): {', '.join(names)}"
            for label, names in (
                ("missing variables", missing),
                ("unexpected variables", unexpected),
                ("shape mismatches", mismatched),
            )
            if names
        ]
        if discriminator_absent and not allow_missing_discriminator:
            problems.append(MISSING_DISCRIMINATOR_HINT)
        raise ValueError(
            f"checkpoint {prefix!r} does not match {description}: " + "; ".join(problems)
        )
    values = prepare_values({name: reader.get_tensor(name) for name in variables})
    for name, variable in variables.items():
        variable.assign(np.asarray(values[name], dtype=variable.dtype))
    return ignored, not skip_discriminator


def layer_variables(network, scope_of, weight_names=None):
    """{checkpoint name: variable} for every weight of the layers of a functional `network`.

    A weight is named ``f"{scope_of(layer.name)}/{weight_names.get(w.name, w.name)}"``, e.g.
    ``inpaint_net/conv1/kernel``.
    """
    weight_names = weight_names or {}
    variables = {}
    for layer in network.layers:
        for weight in layer.weights:
            name = f"{scope_of(layer.name)}/{weight_names.get(weight.name, weight.name)}"
            if name in variables:
                raise ValueError(f"two weights of {network.name!r} map to {name!r}")
            variables[name] = weight
    return variables


def generator_scope(layer_name):
    """The authors' scope of our generator layer (v1 and v2 share the names)."""
    match = UPSAMPLE_CONV.match(layer_name)
    if match:
        return f"{GENERATOR_SCOPE}/{match['scope']}/{layer_name}"
    return f"{GENERATOR_SCOPE}/{layer_name}"


def generator_variables(generator):
    """{checkpoint name: variable} of the generator (``inpaint_net/...``)."""
    return layer_variables(generator, generator_scope)


def write_preset(model, output_dir, name, model_name, source, training_data, command):
    """Write a converted model's preset folder with `keras_inpaint.zoo.write_preset` (float32
    weights, the release's `source` in the metadata, `converted_model_card` as the card)."""
    entry = zoo.get_entry(model_name)
    metadata = {
        "name": name,
        "paper": entry.paper,
        "weights_dtype": "float32",
        "image_size": [int(side) for side in model.image_size],
        "data": training_data,
        "steps": None,
        "command": command,
        "scores": None,
        "source": source,
    }
    return zoo.write_preset(
        output_dir,
        model,
        model.save_weights,
        metadata,
        lambda complete: converted_model_card(complete, entry),
    )


def converted_model_card(metadata, entry):
    """The ``README.md`` of a converted preset, from its metadata (nothing invented)."""
    source = metadata["source"]
    height, width = metadata["image_size"]
    files = [f"  - `{file}`: sha256 `{digest}`" for file, digest in source["files"].items()]
    ignored = [f"  - `{var}`: {reason}" for var, reason in source["ignored_variables"].items()]
    lines = [
        f"# {metadata['name']}",
        "",
        f"The authors' released {source['release'].replace('deepfill_', 'DeepFill ')} weights "
        f"(Yu et al., {source['repository']}), converted to keras_inpaint.",
        "",
        f"- Architecture: `{metadata['class_name']}` ({metadata['parameters']:,} parameters), "
        "`reference_compatibility=True`",
        f"- Paper: {entry.paper}, \"{entry.title}\"",
        f"- Trained by the authors on: {metadata['data'] or 'not recorded (see their README)'}, "
        f"at {height}x{width}",
        f"- Source checkpoint: `{source['checkpoint']}`",
        *files,
        f"- Discriminator: {source['discriminator']}",
        f"- Converted with: `{metadata['command']}`",
        f"- Weights: `{metadata['weights_file']}` ({metadata['weights_dtype']}), sha256 "
        f"`{metadata['sha256']}`",
        f"- Created: {metadata['created']} with "
        + ", ".join(f"{key} {value}" for key, value in metadata["versions"].items()),
        "",
        "## Licence",
        "",
        f"The weights are the authors' and licensed {source['license']} (non-commercial use "
        "only, with attribution): do not redistribute this folder; convert your own download.",
        "",
        "## What the conversion keeps",
        "",
        "Every weight of the checkpoint (the discriminator's too when present); the model's "
        "`reference_compatibility` setting reproduces the authors' TF1 nearest-neighbour "
        "resizes, attention normalisation and spectral normalisation, so the outputs match "
        "theirs. Optimizer state was skipped:",
        "",
        *(ignored or ["  - none present"]),
        "",
        *zoo.card_usage_lines('"path/to/this/folder"'),
        "",
        "Serve it with `keras-inpaint export path/to/this/folder models/NAME` and TF Serving.",
        "",
        "## Limitations",
        "",
        f"The authors trained at {height}x{width} with holes up to 128x128 pixels; larger "
        "holes give weaker fills. No scores were measured by this conversion.",
        "",
    ]
    return "\n".join(lines)
