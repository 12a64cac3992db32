"""Work-arounds for Keras 3.15 bugs under `tf.distribute.MultiWorkerMirroredStrategy`.

Keras 3.15's TensorFlow trainer (a) all-reduces one distributed batch eagerly to build
the model, which fails under MultiWorkerMirroredStrategy ("Attempt to convert a value
(PerReplica...)"), and (b) all-reduces the scalar logs of every step with ``axis=0``,
which fails for rank-0 values ("Invalid reduction dimension 0 for input with 0
dimensions"). `patch_for_multiworker` fixes both for one model; nothing changes for
other strategies. Remove when Keras fixes `keras/src/backend/tensorflow/trainer.py`.
"""

from __future__ import annotations

import tensorflow as tf

_PATCHED = False


def _patch_reduce_per_replica() -> None:
    global _PATCHED
    if _PATCHED:
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):

            def _mean(v):
                if not tf_trainer._is_per_replica_instance(v):
                    return v
                rank = v.values[0].shape.rank
                return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

            return tf.nest.map_structure(_mean, values)
        return original(values, strategy, reduction)

    tf_trainer.reduce_per_replica = reduce_per_replica
    _PATCHED = True


def patch_for_multiworker(model, strategy, dataset) -> None:
    """Make `model.fit` work under MultiWorkerMirroredStrategy (see the module docstring)."""
    _patch_reduce_per_replica()
    local_batch = next(iter(dataset))

    def build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=local_batch)

    model._maybe_symbolic_build = build
