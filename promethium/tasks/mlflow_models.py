"""Trained networks as MLflow models: a ``pyfunc`` flavour, the registry, ``models:/`` URIs.

With ``logger=mlflow``, ``task=train`` logs its best checkpoint as an MLflow model whose
``predict`` applies the amplitude contract and the tiled inference to a NumPy gather or
cube (:class:`PromethiumPyfunc`), and with ``logger.mlflow.register_as=NAME`` registers
it in the model registry. ``mlflow models serve -m models:/NAME/1 --env-manager local``
then answers ``POST /invocations``; ``ckpt_path=models:/NAME/VERSION`` (or
``models:/NAME@alias``) takes it wherever a checkpoint goes.

MLflow's own pyfunc machinery is used as it is (no server of ours): the model's files
are the checkpoint, its card (Markdown) and the code file
:mod:`promethium.tasks.mlflow_pyfunc`; loading it needs Promethium installed (the
``--env-manager local`` environment).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from promethium.errors import DataError

log = logging.getLogger(__name__)

#: the URI scheme of registered models
MODELS_SCHEME = "models:/"
#: the artifact key of the checkpoint inside a logged model
CHECKPOINT_ARTIFACT = "checkpoint"


def default_tracking_root() -> Path:
    """The project root outside a composed config (``PROMETHIUM_ROOT``, else here)."""
    return Path(os.environ.get("PROMETHIUM_ROOT") or ".").resolve()


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else the project's SQLite database (``outputs/mlflow.db``).

    The same default as the config's ``paths.mlflow_tracking_uri``, for Python use.
    """
    env = os.environ.get("MLFLOW_TRACKING_URI")
    return env or f"sqlite:///{default_tracking_root() / 'outputs' / 'mlflow.db'}"


def signature_and_example(checkpoint: Path) -> tuple[Any, np.ndarray]:
    """The model's signature (float32 arrays of any size) and a small input example."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from promethium.ml.checkpoints import load_trained_network
    from promethium.tasks.common import patch_size

    network, config = load_trained_network(checkpoint)
    patch = patch_size(None, config, "patch")
    dims = int(network.spatial_dims)
    sizes = [int(p) for p in (patch if isinstance(patch, list) else [patch] * dims)]
    shape = [1, *sizes] if dims < 3 else sizes
    shape = [1] * (3 - len(shape)) + shape
    example = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    spec = TensorSpec(np.dtype(np.float32), (-1, -1, -1))
    return ModelSignature(inputs=Schema([spec]), outputs=Schema([spec])), example


def log_model(
    checkpoint: Path,
    tracking_uri: str,
    run_id: str,
    register_as: str | None = None,
) -> str:
    """Log ``checkpoint`` as an MLflow pyfunc model of run ``run_id``; register it if asked.

    Returns:
        the logged model's URI (``models:/<model id>``), or the registered version's
        (``models:/NAME/VERSION``).
    """
    import mlflow
    import torch

    from promethium import __version__
    from promethium.ml.model_card import card_markdown, read_card

    mlflow.set_tracking_uri(tracking_uri)
    signature, example = signature_and_example(checkpoint)
    code = Path(__file__).with_name("mlflow_pyfunc.py")
    with (
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(run_id=run_id),
        warnings.catch_warnings(),
    ):
        # the signature is given (float32 arrays of any size), not taken from type hints
        warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method")
        card = Path(tmp) / "model_card.md"
        card.write_text(card_markdown(read_card(checkpoint), f"Model card: {checkpoint.name}"))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),  # models from code: nothing pickled
            artifacts={CHECKPOINT_ARTIFACT: str(checkpoint), "card": str(card)},
            signature=signature,
            input_example=example,
            # the requirements as they are (inferring them would run the model in a subprocess)
            pip_requirements=[f"promethium-hydra=={__version__}", f"torch=={torch.__version__}"],
            registered_model_name=register_as,
        )
    if register_as and info.registered_model_version is not None:
        uri = f"{MODELS_SCHEME}{register_as}/{info.registered_model_version}"
    else:
        uri = info.model_uri
    log.info("MLflow model %s (run %s)", uri, run_id)
    return uri


def is_model_uri(reference: str | os.PathLike) -> bool:
    """Whether ``reference`` names a registered model (``models:/...``)."""
    return str(reference).startswith(MODELS_SCHEME)


def registered_checkpoint(uri: str, cache_dir: str | os.PathLike, tracking_uri: str) -> Path:
    """The checkpoint file of a registered model (``models:/NAME/VERSION``, ``@alias``).

    Downloaded into ``cache_dir/mlflow_models/<name>`` on each call (a copy for a local
    registry): a registry rebuilt under the same names must not be served stale files.

    Raises:
        DataError: naming the URI and the registry when it does not resolve.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    name = uri[len(MODELS_SCHEME) :].strip("/")
    target = Path(cache_dir) / "mlflow_models" / name.replace("/", "_v").replace("@", "_at_")
    mlflow.set_tracking_uri(tracking_uri)
    try:
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target)))
    except MlflowException as err:
        first = str(err).strip().splitlines()[0][:200]
        raise DataError(
            f"{uri}: no such registered model in {tracking_uri} ({first}); list them with "
            f"`mlflow models` or the MLflow UI, or set MLFLOW_TRACKING_URI"
        ) from err
    found = sorted((folder / "artifacts").glob("*.ckpt"))
    if not found:
        raise DataError(f"{uri}: the registered model holds no Promethium checkpoint")
    return found[0]
