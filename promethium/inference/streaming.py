"""Out-of-core tiled prediction into a Zarr store, organised by output chunks, resumable.

Each output chunk is one engine region: the reader fetches the input halo its patches
need, the engine predicts and blends them, and the chunk is written whole, so no chunk
is ever read back and modified (Zarr 3 has no synchroniser; a writer must own whole
chunks) and separate processes could split the chunks. Patches that straddle a chunk
border are predicted once for each chunk they touch: the price of independence; make
chunks several patches wide to keep it small (the summary reports the ratio).

Progress lives in the work store beside the output (``.<name>.inprogress``): a ``done``
array with one single-element chunk per output chunk, set after the chunk is written.
A re-run with the same settings (same fingerprint) skips done chunks; orphaned
``*.partial`` files from a killed write are removed, and completeness is read from
``done``, never from the files a listing shows. Only when every chunk is done is the
work store marked complete and moved into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from torch import nn

from promethium.data.store import DATA_ARRAY, data_array
from promethium.errors import ConfigError, DataError
from promethium.files import refuse_existing, replace_atomically, temporary_sibling
from promethium.inference.engine import count_patches, plan, predict_regions
from promethium.inference.predict import Layout
from promethium.inference.volumes import ObservedTraces
from promethium.tiling import Region

DONE_ARRAY = "done"
#: how a user replaces an existing inference output
INFER_OVERWRITE = "set infer.overwrite=true"
#: default output chunks hold a whole model-axes slice when it is at most this big
WHOLE_SLICE_BYTES = 64 * 2**20


def work_path(target: str | os.PathLike) -> Path:
    """The in-progress store beside ``target``."""
    target = Path(target)
    return target.with_name(f".{target.name}.inprogress")


def fingerprint(settings: Mapping[str, Any]) -> str:
    """A short stable hash of everything that determines the output."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_chunks(layout: Layout, chunks: Sequence[int] | None) -> tuple[int, ...]:
    """Output chunks in the input's axis order.

    Default: one index per iterated axis, and the whole model-axes slice when it is at
    most 64 MiB (no patch is then predicted twice), else four patches per model axis.
    """
    shape = layout.view.volume.shape
    if chunks is not None:
        chunks = [int(c) for c in chunks]
        if len(chunks) != len(shape) or min(chunks) < 1:
            raise ConfigError.for_parameter(
                "chunks", chunks, f"null or one positive size per input axis ({len(shape)})"
            )
        return tuple(min(c, n) for c, n in zip(chunks, shape, strict=True))
    spatial = layout.view.shape[layout.n_lead :]
    whole = int(np.prod(spatial, dtype=np.int64)) * 4 <= WHOLE_SLICE_BYTES
    engine = [1] * layout.n_lead + [
        n if whole else min(n, 4 * p) for n, p in zip(spatial, layout.grid.patch, strict=True)
    ]
    return tuple(engine[j] for j in layout.view.inverse)


def parse_shard(value: str | None, env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``infer.shard`` as ``(index, count)``.

    ``"i/n"`` is shard ``i`` of ``n``. ``null`` takes the launcher's process index: a
    SLURM job array (``SLURM_ARRAY_TASK_ID`` minus ``SLURM_ARRAY_TASK_MIN`` of
    ``SLURM_ARRAY_TASK_COUNT``) or torchrun (``RANK`` of ``WORLD_SIZE``); otherwise 0 of 1.

    Raises:
        ConfigError: naming ``infer.shard`` and the allowed form.
    """
    env = os.environ if env is None else env
    if value is None:
        if "SLURM_ARRAY_TASK_COUNT" in env:
            first = int(env.get("SLURM_ARRAY_TASK_MIN", 0))
            return int(env["SLURM_ARRAY_TASK_ID"]) - first, int(env["SLURM_ARRAY_TASK_COUNT"])
        return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1))
    index, sep, count = str(value).partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = (-1, 0)
    if not sep or not 0 <= shard[0] < shard[1]:
        raise ConfigError.for_parameter(
            "shard",
            value,
            "null (one process, or the torchrun/SLURM array index) or 'i/n' with "
            "0 <= i < n, e.g. 0/4",
        )
    return shard


def chunk_regions(
    layout: Layout, chunks: Sequence[int], done: np.ndarray, shard: tuple[int, int] = (0, 1)
) -> list[Region]:
    """Regions (engine order) for this shard's output chunks not yet done.

    Shard ``i`` of ``n`` owns the chunks whose flat (C-order) index is ``i`` modulo ``n``,
    so shards write disjoint chunks and interleave over the volume.
    """
    shape = layout.view.volume.shape
    regions = []
    for flat, index in enumerate(product(*(range(n) for n in done.shape))):
        if done[index] or flat % shard[1] != shard[0]:
            continue
        source = [
            slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape, strict=True)
        ]
        engine = [source[i] for i in layout.view.order]
        regions.append(
            Region(tuple(engine[: layout.n_lead]), tuple(engine[layout.n_lead :]), key=index)
        )
    return regions


def open_work_store(
    path: Path,
    shape: Sequence[int],
    chunks: Sequence[int],
    attrs: Mapping[str, Any],
    key: str,
    shared: bool = False,
) -> tuple[zarr.Group, bool]:
    """Open the in-progress store for ``key`` (resuming) or start a fresh one.

    The store is built under a temporary name and renamed into place, so shards that
    start together agree on one store: whoever renames first wins, the others open it.

    Args:
        path: the work store.
        shape: output shape (input axis order).
        chunks: output chunks.
        attrs: store attributes of a fresh store.
        key: fingerprint of the settings; a store with another one is not resumed.
        shared: other shards may be using the store; one with other settings is then an
            error, not a leftover to replace.

    Returns:
        The group and whether an earlier run's progress was found.
    """
    for _ in range(2):
        if path.exists():
            try:
                group = zarr.open_group(str(path), mode="r+")
                resumable = dict(group.attrs).get("inference", {}).get("fingerprint") == key
            except Exception:  # noqa: BLE001 - an unreadable leftover is simply replaced
                resumable = False
            if resumable:
                return group, True
            if shared:
                raise DataError(
                    f"{path}: in-progress output of other settings (checkpoint, input or "
                    "tiling); run every shard with the same settings, or remove it"
                )
            shutil.rmtree(path)
        tmp = temporary_sibling(path, "new")
        _create_work_store(tmp, shape, chunks, attrs, key)
        try:
            os.rename(tmp, path)  # atomic; fails if another shard's store is there first
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            continue
        return zarr.open_group(str(path), mode="r+"), False
    raise DataError(f"{path}: could not create or open the in-progress output")


def _create_work_store(
    path: Path, shape: Sequence[int], chunks: Sequence[int], attrs: Mapping[str, Any], key: str
) -> None:
    group = zarr.open_group(str(path), mode="w")
    group.create_array(
        DATA_ARRAY,
        shape=tuple(shape),
        chunks=tuple(chunks),
        dtype="float32",
        compressors=None,
        fill_value=0.0,
    )
    grid_shape = tuple(-(-n // c) for n, c in zip(shape, chunks, strict=True))
    group.create_array(
        DONE_ARRAY, shape=grid_shape, chunks=(1,) * len(shape), dtype="uint8", fill_value=0
    )
    group.attrs.update(
        {
            **attrs,
            "inference": {**attrs.get("inference", {}), "fingerprint": key, "complete": False},
        }
    )


def stream_predict(
    model: nn.Module,
    layout: Layout,
    target: str | os.PathLike,
    attrs: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    chunks: Sequence[int] | None = None,
    batch_size: int = 8,
    device: torch.device | None = None,
    precision: str = "32",
    num_workers: int = 1,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    source_name: str = "input",
    shard: tuple[int, int] = (0, 1),
    observed: ObservedTraces | None = None,
) -> dict[str, Any]:
    """Predict ``layout``'s volume chunk by chunk into the work store of ``target``.

    Args:
        model: the network (see :func:`tiled_predict`).
        layout: from :func:`make_layout` over a lazy input (Zarr array or memory map).
        target: the final output path; the work store sits beside it.
        attrs: store attributes for the output (the convention's keys).
        settings: everything that determines the result (checkpoint identity, input,
            tiling); its hash decides whether earlier progress may be resumed.
        chunks: output chunks in input axis order (default :func:`default_chunks`).
        batch_size: patches per forward pass.
        device: where the network runs.
        precision: ``32``, ``bf16-mixed`` or ``16-mixed``.
        num_workers: threads reading input halos ahead.
        on_batch: progress callback with each batch's patch count.
        source_name: how errors name the input.
        on_start: called once with the number of patches to predict.
        shard: ``(i, n)``: predict only shard ``i`` of ``n`` of the chunks (see
            :func:`chunk_regions`); the store is complete once every shard has run.
        observed: recorded traces to pass through unchanged (interpolation models).

    Returns:
        Summary: work store path, whether every chunk is now done (``complete``), chunks
        total/done before, patches, and the ratio of patches predicted to patches in the
        grid (> 1: chunk-border recompute).
    """
    chunks = default_chunks(layout, chunks)
    shape = layout.view.volume.shape
    path = work_path(target)
    out_attrs = {**attrs, "inference": {"settings": dict(settings), "chunks": list(chunks)}}
    group, resumed = open_work_store(
        path,
        shape,
        chunks,
        out_attrs,
        fingerprint({**settings, "chunks": list(chunks), "shape": list(shape)}),
        shared=shard[1] > 1,
    )
    data, done_array = data_array(group), group[DONE_ARRAY]
    done = np.asarray(done_array[...]).astype(bool)
    regions = chunk_regions(layout, chunks, done, shard)
    planned = plan(layout.grid, regions)
    n_patches = count_patches(planned)
    if on_start:
        on_start(n_patches)

    def write_chunk(region: Region, values: np.ndarray) -> None:
        key = layout.view.source_key((*region.lead, *region.box))
        out = layout.undo(layout.view.to_source(values), key)
        data[key] = observed.keep(key, out) if observed is not None else out
        done_array[region.key] = 1  # after the data: a killed write leaves the chunk undone

    predict_regions(
        model,
        layout.view,
        layout.grid,
        planned,
        write_chunk,
        batch_size=batch_size,
        device=device,
        precision=precision,
        num_workers=num_workers,
        on_batch=on_batch,
        source_name=source_name,
    )
    return _finish(group, path, layout, regions, done, n_patches, resumed, shard)


def _finish(
    group: zarr.Group,
    path: Path,
    layout: Layout,
    regions: list[Region],
    done: np.ndarray,
    n_patches: int,
    resumed: bool,
    shard: tuple[int, int],
) -> dict[str, Any]:
    """Check this run's chunks are done and summarise.

    The store is not written here: shards that finish together would race the one that
    publishes it (a write after its rename recreates a stray work folder). The publisher
    seals it under its marker (:func:`seal_work_store`). A store that another shard has
    published meanwhile is gone from ``path``: every chunk was done.
    """
    try:
        finished = np.asarray(group[DONE_ARRAY][...]).astype(bool)
    except (KeyError, FileNotFoundError):
        finished = done.copy()
    if not path.exists():  # published by another shard before or while this one read it
        finished[...] = True
    if not all(finished[r.key] for r in regions):
        raise DataError(f"{path}: inference ended with output chunks missing")
    complete = bool(finished.all())
    lead_count = int(np.prod(layout.view.shape[: layout.n_lead], dtype=np.int64))
    return {
        "work_store": str(path),
        "complete": complete,
        "chunks_left": int((~finished).sum()),
        "chunks_predicted": len(regions),
        "resumed": resumed,
        "chunks_total": int(done.size),
        "chunks_done_before": int(done.sum()),
        "patches": n_patches,
        "recompute_ratio": n_patches / max(lead_count * layout.grid.n_patches, 1)
        if not done.any() and shard[1] == 1
        else None,
    }


def seal_work_store(work: Path) -> None:
    """Mark a work store whose every chunk is done complete (by its one publisher)."""
    for orphan in work.rglob("*.partial"):  # writes killed before their rename
        orphan.unlink(missing_ok=True)
    group = zarr.open_group(str(work), mode="r+")
    group.attrs["inference"] = {**dict(group.attrs)["inference"], "complete": True}


def publish(work: Path, target: Path, overwrite: bool) -> None:
    """Move a complete work store to ``target``, replacing an old one only at the end."""
    refuse_existing(target, overwrite, INFER_OVERWRITE)
    replace_atomically(work, target)
