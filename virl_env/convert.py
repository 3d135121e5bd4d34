"""Convert the authors' pickled (lat, lng) -> panorama id mapping to the JSON form the loader reads.

Usage::

    python -m virl_env.convert MAPPING.pkl DATASET_DIR/pano_mapping.json --trust-pickle

Unpickling a file can run any code its author chose, which is why :mod:`virl_env.data` never reads
pickles and why this one-off conversion requires ``--trust-pickle``: pass it only for a file whose
origin you trust (e.g. downloaded from the authors' release yourself). As a second line of defence
the unpickler refuses every global except numpy scalars.
"""

from __future__ import annotations

import argparse
import sys

from virl_env.data import DatasetError, convert_pickle_mapping

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the converter; returns the exit status (0 on success)."""
    parser = argparse.ArgumentParser(
        prog="python -m virl_env.convert",
        description="Convert the V-IRL authors' pickled (lat, lng) -> panorama id mapping to JSON.")
    parser.add_argument("pickle", help="the authors' mapping pickle")
    parser.add_argument("output", help="where to write the JSON mapping (normally DATASET_DIR/pano_mapping.json)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="required: reading a pickle can execute arbitrary code chosen by whoever wrote "
                             "the file, so confirm you trust its origin")
    args = parser.parse_args(argv)
    if not args.trust_pickle:
        parser.error("refusing to read a pickle without --trust-pickle (unpickling can run arbitrary code; "
                     "pass the flag only for a file whose origin you trust)")
    try:
        count = convert_pickle_mapping(args.pickle, args.output, trust_pickle=True)
    except (DatasetError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"wrote {count} panorama entries to {args.output}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
