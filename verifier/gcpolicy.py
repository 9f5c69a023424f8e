"""The garbage-collector policy of long-running work processes: a serving node (``eduledger run``,
``eduledger demo``) and the workers of ``eduledger verify`` over a cohort.

A node keeps its whole log state in memory: the registry (one record per
credential), the tree's hash levels (two references per entry) and the statement
index. None of it ever forms a reference cycle, but CPython's cyclic collector
walks every reference of every tracked container on each full collection, and
full collections come more often the more objects a burst of submissions keeps
alive. Measured on a 100,000-entry ingest (benchmarks/bench_ingest.py), full
collections took a third of the time, and their cost grows with the ledger.

So, once the log is loaded: one collection, then ``gc.freeze()`` moves
everything alive out of the collector's sight for good (the state containers
keep growing, but a frozen container is never walked again), and a higher
first threshold makes young collections rarer. Entries, statements and
receipts are acyclic and are still freed by reference counting the moment
they are done with; only cyclic garbage waits longer. This is process-wide, so
only the process entry points call it, never library code or tests.

A cohort verification worker is the same shape: its trust policy and caches
live for the whole run, and each bundle allocates a few dozen short-lived
containers; with the default thresholds, collections walking the caches took
about 7% of a 30,000-file run.
"""

from __future__ import annotations

import gc

#: Young-generation threshold (CPython's default is 700 allocations).
THRESHOLD0 = 50_000


def tune_process() -> None:
    """Collect once, freeze what is alive, and raise the young-generation threshold."""
    gc.collect()
    gc.freeze()
    _, t1, t2 = gc.get_threshold()
    gc.set_threshold(THRESHOLD0, t1, t2)


def reset() -> None:
    """Undo :func:`tune_process` (benchmarks measure a reference right after the node)."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    gc.collect()
