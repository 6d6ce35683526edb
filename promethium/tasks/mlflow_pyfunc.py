"""The MLflow "models from code" file of a Promethium pyfunc model.

:func:`promethium.tasks.mlflow_models.log_model` logs this file as the model's code
(MLflow runs it when the model is loaded, so no pickled object is involved); it needs
Promethium installed where the model is loaded (``--env-manager local``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel

from promethium.tasks.mlflow_models import CHECKPOINT_ARTIFACT

# the signature is given when the model is logged (float32 arrays of any size); MLflow's
# type-hint validation would take it from predict's hints instead
warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method")


class PromethiumPyfunc(PythonModel):
    """The ``python_function`` model of a Promethium checkpoint.

    ``predict`` takes a float array ``(gathers, traces, time)`` (one ``(1, traces,
    time)`` gather; an ``(inlines, crosslines, time)`` cube for a 3D network) and returns
    the processed array of the same shape in the input's units: the checkpoint's
    amplitude contract and tiled inference with its training patch, as ``api.infer``.
    """

    def load_context(self, context: Any) -> None:
        from promethium.ml.checkpoints import load_trained_network

        path = context.artifacts[CHECKPOINT_ARTIFACT]
        self.network, self.config = load_trained_network(path)

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201 - MLflow reads type hints as a signature
        from promethium.tasks.arrays import predict_array

        values = np.asarray(model_input, dtype=np.float32)
        return predict_array(self.network, self.config, values, device="cpu", **(params or {}))


set_model(PromethiumPyfunc())
