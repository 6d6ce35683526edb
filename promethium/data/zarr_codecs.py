"""The zarr internals that :mod:`promethium.data.chunk_reader` relies on, in one place.

The reader decodes chunk files with each codec's own synchronous decoder
(``Codec._decode_sync``, zarr's ``SupportsSyncCodec`` protocol), which zarr has no
public entry point for, and the SEG-Y import's writer encodes with ``_encode_sync``; both
read the array's codec pipeline and chunk spec.
``tests/test_adapters.py`` checks these still exist, so a zarr upgrade that moves them
fails one named test (and :func:`supports_sync_reads` falls back to zarr's own reads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import zarr
from zarr.abc.codec import SupportsSyncCodec
from zarr.codecs.sharding import ShardingCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.chunk_grids import RegularChunkGrid
from zarr.storage import LocalStore


def supports_sync_reads(array: zarr.Array) -> bool:
    """Whether ``array`` is a local, regular-grid, unsharded v3 array with sync codecs."""
    meta = array.metadata
    if meta.zarr_format != 3 or not isinstance(array.store_path.store, LocalStore):
        return False
    if not isinstance(meta.chunk_grid, RegularChunkGrid):
        return False
    codecs = list(array.async_array.codec_pipeline)
    return not any(isinstance(c, ShardingCodec) for c in codecs) and all(
        isinstance(c, SupportsSyncCodec) for c in codecs
    )


def chunk_decoders(array: zarr.Array) -> list[Callable[[Any], Any]]:
    """Decode steps of one chunk, in application order (bytes-to-bytes first)."""
    return [_sync_decoder(codec, spec) for codec, spec in _codec_steps(array)[::-1]]


def chunk_encoders(array: zarr.Array) -> list[Callable[[Any], Any]]:
    """Encode steps of one chunk, in application order (array-to-array first)."""
    return [_sync_encoder(codec, spec) for codec, spec in _codec_steps(array)]


def _codec_steps(array: zarr.Array) -> list[tuple[Any, Any]]:
    """Each codec of ``array`` with the chunk spec it takes, in encoding order."""
    pipeline = array.async_array.codec_pipeline
    spec = array.metadata.get_chunk_spec(
        (0,) * array.ndim, array.async_array.config, prototype=default_buffer_prototype()
    )
    steps = []
    for codec in pipeline.array_array_codecs:
        steps.append((codec, spec))
        spec = codec.resolve_metadata(spec)
    steps.append((pipeline.array_bytes_codec, spec))
    spec = pipeline.array_bytes_codec.resolve_metadata(spec)
    for codec in pipeline.bytes_bytes_codecs:
        steps.append((codec, spec))
        spec = codec.resolve_metadata(spec)
    return steps


def _sync_decoder(codec: Any, spec: Any) -> Callable[[Any], Any]:
    """``codec``'s synchronous decoder (zarr's private ``_decode_sync``) bound to ``spec``."""

    def decode(data: Any) -> Any:
        return codec._decode_sync(data, spec)

    return decode


def _sync_encoder(codec: Any, spec: Any) -> Callable[[Any], Any]:
    """``codec``'s synchronous encoder (zarr's private ``_encode_sync``) bound to ``spec``."""

    def encode(data: Any) -> Any:
        return codec._encode_sync(data, spec)

    return encode
