"""The private APIs of other libraries that Promethium relies on still exist.

Each is used through one adapter (``promethium/data/zarr_codecs.py``,
``hydra_plugins/promethium_optuna/adapters.py``); if an upgrade moves one, this test
names it instead of a sweep or a data loader failing later.
"""

import numpy as np
import optuna
import zarr
from hydra.core.utils import JobReturn, JobStatus

from hydra_plugins.promethium_optuna.adapters import job_exception, study_storage, trial_id
from promethium.data.chunk_reader import SyncChunkReader, SyncChunkWriter
from promethium.data.zarr_codecs import chunk_decoders, supports_sync_reads


def test_zarr_codecs_still_decode_synchronously(tmp_path):
    values = np.arange(6 * 10, dtype=np.float32).reshape(6, 10)
    for compressors in (None, "auto"):
        path = tmp_path / f"a{compressors}.zarr"
        array = zarr.create_array(
            str(path), shape=values.shape, chunks=(3, 10), dtype="float32", compressors=compressors
        )
        array[...] = values
        assert supports_sync_reads(array), "zarr's codec pipeline or SupportsSyncCodec moved"
        assert chunk_decoders(array), "zarr's codecs lost _decode_sync"
        np.testing.assert_array_equal(
            SyncChunkReader(array).read((slice(1, 5), slice(2, 9))), values[1:5, 2:9]
        )
        # the SEG-Y import's writer: the chunk files zarr itself writes, byte for byte
        ours = zarr.create_array(
            str(tmp_path / f"b{compressors}.zarr"),
            shape=values.shape,
            chunks=(3, 10),
            dtype="float32",
            compressors=compressors,
        )
        writer = SyncChunkWriter(ours)
        for row in (0, 1):
            writer.write((row, 0), values[3 * row : 3 * row + 3])
        for key in ("c/0/0", "c/1/0"):
            assert (tmp_path / f"b{compressors}.zarr" / key).read_bytes() == (
                path / key
            ).read_bytes()


def test_hydra_job_return_keeps_the_exception():
    result = JobReturn()
    result.status, result._return_value = JobStatus.FAILED, ValueError("boom")
    assert isinstance(job_exception(result), ValueError)
    assert hasattr(JobReturn(), "_return_value"), "hydra.core.utils.JobReturn._return_value moved"


def test_optuna_study_storage_and_trial_ids():
    study = optuna.create_study()
    trial = study.ask()
    assert trial_id(trial) == trial_id(study.trials[0])
    storage = study_storage(study)
    assert storage.get_trial(trial_id(trial)).number == trial.number
