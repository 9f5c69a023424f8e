"""Every benchmark of the project, one after the other: ``make bench``.

    .venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...]

Each figure is printed by its own script beside the reference measured in the same
run (see benchmarks/README.md); this runner only sequences them and stops at the
first that fails. ``--quick`` runs every script at a small size (a smoke run: the
figures are not the ones docs/benchmarks.md quotes). PostgreSQL rows need root
(a private server is started as the ``postgres`` user) and are skipped otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG = ["--start-postgres"] if os.geteuid() == 0 else []

# name: (full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "tree": ([], ["--leaves", "100000", "--proofs", "10000"]),
    "ingest": ([*PG, "--form", "batches", "entries", "--batch", "1024", "--in-flight", "8", "32", "--repeat", "3"], ["--entries", "5000", "--batch", "256", "--in-flight", "8"]),
    "verify": (["--bundles", "100000"], ["--bundles", "2000", "--single", "500"]),
    "proofs": ([], ["--rows", "500", "--single", "100", "--reference", "10"]),
    "http_verify": ([], ["--seconds", "3"]),
    "network": ([], ["--seconds", "5", "--mirror-entries", "2000"]),
    "opportunities": ([*PG], ["--n", "2000", "--queries", "50"]),
    "abuse": ([], ["--duration", "3", "--clients", "5", "--before", "1"]),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: check that every benchmark runs")
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run just these")
    args = ap.parse_args()
    python = Path(sys.executable)
    pymerkle_python = HERE / ".venv" / "bin" / "python"  # the GPL comparison lives only there (README)
    for name in args.only or BENCHMARKS:
        full, quick = BENCHMARKS[name]
        exe = pymerkle_python if name == "tree" and pymerkle_python.exists() else python
        cmd = [str(exe), str(HERE / f"bench_{name}.py"), *(quick if args.quick else full)]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(cmd)
        print(f"=== {name}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
