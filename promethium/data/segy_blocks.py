"""SEG-Y traces read in blocks through a memory map: every header field in one pass.

segyio's ``attributes(field)`` reads the whole file once per trace-header field, 91
passes for a full import; here a block of traces is one read, its 240-byte headers a
NumPy structured array holding every field, and its samples are converted to float32 in
the same block (IBM floats by segyio's own C conversion, so values are bit-identical to
segyio's reading). Our own code because segyio has no block header reader; TGS's
``segy`` library and SeismicPro read headers the same way (a structured dtype with the
trace stride over a memory map).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import segyio

TEXT_HEADER_BYTES = 3200
BINARY_HEADER_BYTES = 400
TRACE_HEADER_BYTES = 240
#: every trace-header field segyio names: name -> first byte (1-based, as in the standard)
HEADER_FIELDS: dict[str, int] = dict(segyio.tracefield.keys)
#: NumPy sample types by SEG-Y format code (code 1, IBM float, is decoded by segyio)
SAMPLE_TYPES: dict[int, str] = {
    1: "u4",
    2: "i4",
    3: "i2",
    5: "f4",
    6: "f8",
    8: "i1",
    9: "i8",
    10: "u4",
    11: "u2",
    12: "u8",
    16: "u1",
}
IBM_FLOAT = 1
#: bytes per read when headers are scanned (whole traces: the headers are interleaved)
BLOCK_BYTES = 16 * 2**20


def field_bytes(fields: Mapping[str, int], end: int) -> dict[int, int]:
    """Byte width of each header field by its first byte (contiguous: next minus this)."""
    offsets = sorted(set(fields.values()))
    return {o: n - o for o, n in zip(offsets, [*offsets[1:], end], strict=True)}


def header_dtype(endian: str) -> np.dtype:
    """The 240-byte trace header as a structured dtype of signed integers in ``endian`` order.

    segyio reads every field as a signed integer of its width (2 or 4 bytes); so does this.
    """
    order = ">" if endian == "big" else "<"
    widths = field_bytes(HEADER_FIELDS, TRACE_HEADER_BYTES + 1)
    names = list(HEADER_FIELDS)
    return np.dtype(
        {
            "names": names,
            "formats": [f"{order}i{widths[HEADER_FIELDS[n]]}" for n in names],
            "offsets": [HEADER_FIELDS[n] - 1 for n in names],
            "itemsize": TRACE_HEADER_BYTES,
        }
    )


class SegyTraces:
    """The traces of a SEG-Y file (fixed length, as segyio requires), read in blocks.

    Blocks are read with ``os.pread`` into buffers of their own, not through a memory
    map of the whole file: a map's pages would count as this process's memory (a 1 GB
    file, 1 GB resident), buffers only as long as a block is in use. Reads are
    thread-safe (``pread`` keeps no file position).

    Shapes: :meth:`read` of ``n`` trace indices returns headers ``(n,)`` (structured,
    one field per header) and samples ``(n, n_samples)`` float32.

    Args:
        path: the file.
        n_traces: traces in the file.
        n_samples: samples per trace.
        sample_format: the SEG-Y data sample format code (:data:`SAMPLE_TYPES`).
        endian: ``big`` or ``little``.
        extended_headers: extended textual headers after the binary header.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        n_traces: int,
        n_samples: int,
        sample_format: int,
        endian: str,
        extended_headers: int = 0,
    ) -> None:
        self.path, self.n_traces, self.n_samples = Path(path), int(n_traces), int(n_samples)
        self.format, self.endian = int(sample_format), endian
        order = ">" if endian == "big" else "<"
        # IBM words are kept as the file's bytes: segyio's conversion takes them so
        sample = "=u4" if self.format == IBM_FLOAT else order + SAMPLE_TYPES[self.format]
        self.record = np.dtype(
            [("header", header_dtype(endian)), ("samples", sample, (self.n_samples,))]
        )
        self.offset = TEXT_HEADER_BYTES + BINARY_HEADER_BYTES + extended_headers * TEXT_HEADER_BYTES
        self._fd = os.open(self.path, os.O_RDONLY)

    @classmethod
    def of(cls, f: segyio.SegyFile, path: str | os.PathLike) -> SegyTraces:
        """The traces of a file open in segyio (``endian_name`` set by ``open_segy``)."""
        return cls(
            path,
            f.tracecount,
            len(f.samples),
            int(f.format),
            getattr(f, "endian_name", "big"),
            f.ext_headers,
        )

    def close(self) -> None:
        """Close the file (reads after this fail)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SegyTraces:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def records(self, start: int, count: int) -> np.ndarray:
        """``count`` consecutive trace records from trace ``start``: one ``pread``."""
        out = np.empty(count, dtype=self.record)
        view = memoryview(out).cast("B")
        done, position = 0, self.offset + start * self.record.itemsize
        while done < len(view):  # pread may return less than asked (large reads, signals)
            got = os.preadv(self._fd, [view[done:]], position + done)
            if got == 0:
                raise OSError(f"{self.path}: ended at byte {position + done} (truncated?)")
            done += got
        return out

    def header_fields(
        self, names: Sequence[str], block_bytes: int = BLOCK_BYTES
    ) -> dict[str, np.ndarray]:
        """Whole-file int32 arrays ``(n_traces,)`` of the named fields, in one pass.

        (Every field is 2 or 4 bytes wide: int32 holds it, 4 bytes per trace and field.)
        """
        out = {name: np.empty(self.n_traces, dtype=np.int32) for name in names}
        for start, headers in self.header_blocks(block_bytes):
            for name in names:
                out[name][start : start + len(headers)] = headers[name]
        return out

    def header_blocks(self, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, np.ndarray]]:
        """``(first trace, headers)`` of consecutive blocks of about ``block_bytes``."""
        block = max(1, block_bytes // self.record.itemsize)
        for start in range(0, self.n_traces, block):
            yield start, self.records(start, min(block, self.n_traces - start))["header"]

    def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Headers and float32 samples of the traces at ``indices`` (file positions).

        Each run of consecutive indices is one read.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if not indices.size:
            records = np.empty(0, dtype=self.record)
        else:
            runs = np.split(indices, np.flatnonzero(np.diff(indices) != 1) + 1)
            parts = [self.records(int(run[0]), len(run)) for run in runs]
            records = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return records["header"], self.decode(records["samples"])

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """Samples as float32 in the survey's units (as segyio reads them)."""
        if self.format != IBM_FLOAT:
            return raw.astype(np.float32)
        words = np.ascontiguousarray(raw)
        if self.endian == "little":  # segyio's conversion takes big-endian words
            words = words.byteswap()
        return segyio.tools.native(words, format=IBM_FLOAT, copy=False)
