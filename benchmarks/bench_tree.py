"""Merkle tree building and inclusion-proof verification, beside references measured in the same run.

    .venv/bin/python benchmarks/bench_tree.py [--leaves 1000000] [--proofs 100000]
    benchmarks/.venv/bin/python benchmarks/bench_tree.py      # adds the pymerkle rows (see benchmarks/README.md)

References: the SHA-256 compression limit from ``openssl speed`` (a tree over n
leaves costs about 3n compressions of 64 bytes), a plain hashlib loop doing the
same RFC 9162 work, and the ``pymerkle`` package when it is importable (GPL:
installed only into benchmarks/.venv, never a project dependency).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.tlog import _hashing, merkle  # noqa: E402
from ledger.tlog.tree import Tree  # noqa: E402


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def sha256_throughput() -> float | None:
    """Bytes/s of SHA-256 over 8 KiB blocks, as openssl measures it now."""
    try:
        out = subprocess.run(["openssl", "speed", "-bytes", "8192", "-seconds", "2", "sha256"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"^sha256\s+([\d.]+)k", out, re.M)
    return float(m.group(1)) * 1000 if m else None


def hashlib_tree(items: list[bytes]) -> bytes:
    sha = hashlib.sha256
    level = [sha(b"\x00" + d).digest() for d in items]
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def hashlib_fold(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    sha = hashlib.sha256
    inner = (index ^ (size - 1)).bit_length()
    r = leaf
    for i, p in enumerate(proof):
        r = sha(b"\x01" + r + p).digest() if i < inner and not (index >> i) & 1 else sha(b"\x01" + p + r).digest()
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--proofs", type=int, default=100_000)
    ap.add_argument("--pymerkle-leaves", type=int, default=None, help="leaves for the pymerkle tree (default: same)")
    args = ap.parse_args()
    n, q = args.leaves, args.proofs
    items = [i.to_bytes(8, "big") * 4 for i in range(n)]  # 32-byte entries, like digests
    rows: list[tuple[str, str, float, str, float]] = []
    backend = f"eduledger ({_hashing.BACKEND}, {_hashing.kernel()})"

    thr = sha256_throughput()
    limit_build = 3 * n * 64 / thr if thr else None
    want = hashlib_tree(items)
    ref = best(lambda: hashlib_tree(items), 3)
    fig = f"tree over {n:,} leaves"

    def tree_rows(who: str, fn) -> None:
        assert fn() == want
        t = best(fn, 5)
        if limit_build:
            rows.append((fig, who, t, "SHA-256 limit, one core (openssl speed)", limit_build))
        rows.append((fig, who, t, "plain hashlib loop", ref))

    tree_rows(f"{backend}, 1 core", lambda: merkle.root_of_entries(items))
    tree_rows(f"{backend}, 2 cores", lambda: merkle.root_of_entries(items, workers=2))
    tree_rows(f"{backend}, leaf list", lambda: merkle.root(merkle.hash_leaves(items)))
    if _hashing.BACKEND == "native" and _hashing.kernel() != "libcrypto":
        from ledger.tlog import _native

        previous = _native._set_kernel("libcrypto")
        try:
            tree_rows("eduledger (native, libcrypto), 1 core", lambda: merkle.root_of_entries(items))
        finally:
            _native._set_kernel(previous)

    tree = Tree(merkle.hash_leaves(items))
    root = tree.root()
    rng = random.Random(1)
    picks = [rng.randrange(n) for _ in range(q)]
    cases = [(tree.levels[0][i], i, tree.inclusion_proof(i)) for i in picks]
    hashes = sum(len(p) for _, _, p in cases)

    def ours_verify():
        for leaf, i, proof in cases:
            merkle.verify_inclusion(leaf, i, n, proof, root)

    def ref_verify():
        for leaf, i, proof in cases:
            assert hashlib_fold(leaf, i, n, proof) == root

    ov = best(ours_verify, 3)
    bv = best(lambda: merkle.verify_inclusion_batch(cases, n, root), 3)
    rv = best(ref_verify, 3)
    pfig = f"{q:,} inclusion proofs"
    for who, t in ((f"{backend}, one by one", ov), (f"{backend}, batch", bv)):
        if thr:
            rows.append((pfig, who, t, f"SHA-256 limit ({hashes:,} node hashes)", hashes * 128 / thr))
        rows.append((pfig, who, t, "plain hashlib loop", rv))

    try:
        import pymerkle  # noqa: F401
    except ImportError:
        pymerkle = None
    if pymerkle is not None:
        from pymerkle import InmemoryTree, verify_inclusion

        pn = args.pymerkle_leaves or n
        sub = items[:pn]
        t0 = time.perf_counter()
        pt = InmemoryTree(algorithm="sha256")
        for d in sub:
            pt.append_entry(d)
        pmroot = pt.get_root() if hasattr(pt, "get_root") else pt.get_state()
        pm_build = time.perf_counter() - t0
        assert pmroot == merkle.root(merkle.hash_leaves(sub)), "pymerkle computes another root"
        ours_sub = best(lambda: merkle.root(merkle.hash_leaves(sub)), 3)
        rows.append((f"tree over {pn:,} leaves", backend, ours_sub, "pymerkle 7 (InmemoryTree)", pm_build))
        pq = min(q, 10_000)
        pcases = [(i, pt.prove_inclusion(i + 1, pn)) for i in picks[:pq] if i < pn]
        t0 = time.perf_counter()
        for i, proof in pcases:
            verify_inclusion(pt.get_leaf(i + 1), pmroot, proof)
        pm_verify = time.perf_counter() - t0
        ocases = cases[: len(pcases)]
        ours_p = best(lambda: [merkle.verify_inclusion(leaf, i, n, proof, root) for leaf, i, proof in ocases], 3)
        rows.append((f"{len(pcases):,} inclusion proofs", backend, ours_p, "pymerkle 7 verify_inclusion", pm_verify))
    else:
        print("pymerkle not importable here: run with benchmarks/.venv/bin/python for those rows (benchmarks/README.md)")

    print(f"\nSHA-256 throughput (openssl speed, 8 KiB): {thr / 1e6:,.0f} MB/s" if thr else "\nopenssl speed unavailable")
    print(f"{'figure':<27} {'project':<42} {'s':>7}  {'reference':<40} {'s':>7} {'ratio':>6}")
    for fig, who, t, ref_name, rt in rows:
        print(f"{fig:<27} {who:<42} {t:>7.3f}  {ref_name:<40} {rt:>7.3f} {t / rt:>6.2f}")


if __name__ == "__main__":
    main()
