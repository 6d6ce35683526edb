"""Convert SEG-Y to a Promethium Zarr store, or a store back to SEG-Y.

    python scripts/segy_to_zarr.py shots.sgy shots.zarr --sort FieldRecord
    python scripts/segy_to_zarr.py cube.sgy cube.zarr --sort INLINE_3D CROSSLINE_3D
    python scripts/segy_to_zarr.py shots.zarr shots_out.sgy            # export
    python scripts/segy_to_zarr.py pred.zarr pred.sgy --headers shots.zarr
    python scripts/segy_to_zarr.py cube.sgy cube.mdio --mdio-template PostStack3DTime

A ``.mdio`` target is an MDIO v1 dataset written by ``mdio`` itself (the ``[mdio]``
extra); Promethium reads MDIO datasets in place (``data=mdio``, ``input=X.mdio``), so
they need no conversion the other way.

The direction follows the input: a file (SEG-Y) is imported, a folder (Zarr) exported.
Errors name the file and exit with status 2; no partial output is left behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from promethium.data.mdio import segy_to_mdio
from promethium.data.segy import segy_to_zarr
from promethium.data.segy_export import zarr_to_segy
from promethium.data.survey import describe, summarise
from promethium.errors import PromethiumError, refused_writes

#: library parameters that this script takes as options of the same name
PARAMETER_OPTIONS = ("sort", "format", "endian", "workers")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument(
        "--sort",
        nargs="*",
        default=["FieldRecord"],
        help="trace-header key(s) that form gathers (import)",
    )
    parser.add_argument(
        "--headers", type=Path, default=None, help="store whose SEG-Y headers to reuse (export)"
    )
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument(
        "--format",
        type=int,
        default=None,
        help="export: SEG-Y sample format code (default: the source's; 1 IBM, 5 IEEE, 3 int16)",
    )
    parser.add_argument(
        "--endian",
        choices=["big", "little"],
        default=None,
        help="import: byte order (default: detect)",
    )
    parser.add_argument(
        "--compress",
        action="store_true",
        help="zstd-compress the traces (import; ~2x slower reads)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="import: threads that read, convert and write gathers (default: every core; "
        "the store is the same for any number)",
    )
    parser.add_argument(
        "--mdio-template",
        default="PostStack3DTime",
        help="import into a .mdio target: the MDIO template (e.g. PostStack2DTime)",
    )
    args = parser.parse_args(argv)
    try:
        with refused_writes():  # read-only, full, size limit: one line, not a traceback
            convert(args)
    except PromethiumError as err:
        param = getattr(err, "param", None)
        message = f"--{err}" if param in PARAMETER_OPTIONS else str(err)  # sort -> --sort
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(f"wrote {args.target}")
    return 0


def convert(args: argparse.Namespace) -> None:
    """The conversion the arguments ask for (its direction from the paths)."""
    if args.target.suffix.lower() == ".mdio":
        segy_to_mdio(args.source, args.target, args.mdio_template, args.overwrite)
    elif args.source.is_dir():
        zarr_to_segy(
            args.source,
            args.target,
            overwrite=args.overwrite,
            header_store=args.headers,
            fmt=args.format,
        )
    else:
        segy_to_zarr(
            args.source,
            args.target,
            sort=args.sort,
            overwrite=args.overwrite,
            compress=args.compress,
            endian=args.endian,
            workers=args.workers,
        )
        for line in describe(summarise(args.target)):  # what was read, and how
            print(line)


if __name__ == "__main__":
    sys.exit(main())
