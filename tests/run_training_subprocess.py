"""Scripts the training tests run in fresh processes (TensorFlow's device split must come first).

    python run_training_subprocess.py mirrored OUT.npz    one step on 1 and on 2 logical CPUs
    python run_training_subprocess.py worker INDEX PORT0 PORT1 OUT_DIR DATA   one multi-worker task
    python run_training_subprocess.py cli [--two-cpus] [--mock-tfds] -- ARGS [-- ARGS...]
        keras-inpaint ARGS, then the next ARGS in the same process (one TensorFlow start-up)
"""

import json
import os
import sys

import numpy as np


def split_cpu(count):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count
    )


def one_step_each_way(out_path):
    """Same initial weights and global batch: one step on the default strategy, one on two
    mirrored replicas; save both weight lists."""
    split_cpu(2)
    import tensorflow as tf

    from keras_inpaint import training
    from toy_model import ToyInpainter

    rng = np.random.default_rng(0)
    batch = {
        "image": rng.random((4, 16, 16, 3)).astype("float32"),
        "mask": np.zeros((4, 16, 16, 1), "float32"),
    }
    batch["mask"][:, 4:12, 3:9] = 1.0
    initial = None
    results = {}
    for name in ("default", "mirrored"):
        strategy = training.make_strategy(name)
        with strategy.scope():
            model = ToyInpainter(image_size=16)
            model.compile()
        if initial is None:
            initial = model.get_weights()
        model.set_weights(initial)
        dataset = tf.data.Dataset.from_tensors(batch)
        step_input = next(iter(strategy.experimental_distribute_dataset(dataset)))
        strategy.run(tf.function(model.train_step), args=(step_input,))
        results[name] = model.get_weights()
        results[name + "_replicas"] = strategy.num_replicas_in_sync
    np.savez(
        out_path,
        replicas=results["mirrored_replicas"],
        **{f"default_{i}": w for i, w in enumerate(results["default"])},
        **{f"mirrored_{i}": w for i, w in enumerate(results["mirrored"])},
    )


def multi_worker_task(index, ports, out_dir, data):
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )
    from keras_inpaint import training

    model = training.train(
        "toy_model:ToyInpainter",
        data,
        out_dir,
        image_size=16,
        batch_size=4,
        steps=2,
        strategy="multi-worker",
        checkpoint_every=1,
        verbose=0,
    )
    np.savez(os.path.join(out_dir, f"weights{index}.npz"), *model.get_weights())


def cli(arguments):
    """`keras-inpaint ARGS` for each ``--``-separated ARGS in turn (stopping at the first
    failure), optionally on two logical CPUs and with TFDS mocked."""
    groups = [[]]
    for argument in arguments:
        if argument == "--":
            groups.append([])
        else:
            groups[-1].append(argument)
    options, *commands = groups
    if "--two-cpus" in options:
        split_cpu(2)
    from keras_inpaint.cli import main

    def run_all():
        for args in commands:
            code = main(args)
            if code:
                return code
        return 0

    if "--mock-tfds" in options:
        import tensorflow_datasets as tfds

        with tfds.testing.mock_data(num_examples=8):
            return run_all()
    return run_all()


if __name__ == "__main__":
    if sys.argv[1] == "cli":
        sys.exit(cli(sys.argv[2:]))
    if sys.argv[1] == "mirrored":
        one_step_each_way(sys.argv[2])
    else:
        multi_worker_task(int(sys.argv[2]), sys.argv[3:5], sys.argv[5], sys.argv[6])
