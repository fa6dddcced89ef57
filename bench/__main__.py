"""``python -m bench NAME [--scale small|full] [--json]``."""

from __future__ import annotations

import argparse
import importlib
import sys

# Benchmark name -> module under bench/ (``import`` is a Python keyword).
BENCHMARKS = {
    "assign": "bench.assign",
    "http": "bench.http",
    "ingest": "bench.ingest",
    "import": "bench.import_contacts",
    "rescore": "bench.rescore",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--scale", choices=("small", "full"), default="small")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    module = importlib.import_module(BENCHMARKS[args.name])
    result = module.run(args.scale)
    print(result.to_json() if args.json else result.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
