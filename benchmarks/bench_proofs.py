"""What the W3C Data Integrity proof (eddsa-rdfc-2022) costs: issuing a 10,000-row batch, verifying one bundle.

    .venv/bin/python benchmarks/bench_proofs.py [--rows 10000] [--single 2000] [--reference 100]

What is timed (CPU time of this process):

1. Building ``--rows`` olympiad diplomas (``verifier.credentials.build_batch``, each with the holder's hashed
   e-mail) without proofs, then adding each one's proof (``verifier.credentials.prove``: RDFC-1.0 through
   ``verifier/rdfc.py``'s templates, SHA-256, Ed25519). Target: the batch with proofs under 30 s here.
2. The reference for the canonicalization: pyld's own URDNA2015 (``rdfc.reference_canonize``) on
   ``--reference`` of the same credentials, extrapolated per credential; the template path beside it as a ratio.
3. One bundle verified offline (``verifier.verify``) with and without ``check_proof`` (mean over ``--single``
   calls, one shared ``CheckpointCache``, as a cohort is verified).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.cli.sample_network import FIELDS, SAMPLE_NETWORK_URL, SampleNetwork  # noqa: E402
from verifier import rdfc  # noqa: E402
from verifier.credentials import build_batch, prove  # noqa: E402
from verifier.verify import CheckpointCache, verify  # noqa: E402


def cpu(fn) -> tuple[float, object]:
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--single", type=int, default=2_000)
    ap.add_argument("--reference", type=int, default=100)
    args = ap.parse_args(argv)

    net = SampleNetwork()
    signer = net.signing["olymp-1"]
    rows = [{"holder_name": f"Ученик {i}", "holder_email": f"pupil{i}@school.example", "title": "Диплом победителя", **FIELDS["olympiad-diploma"],
             "points": i % 100} for i in range(args.rows)]  # fmt: skip
    build_s, batch = cpu(lambda: build_batch("olympiad-diploma", rows, issuer_id="olymp-1", issuer_name="Центр олимпиад", issued_at=net.now,
                                             network_url=SAMPLE_NETWORK_URL))  # fmt: skip
    creds = [c for _, c in batch.built]
    assert len(creds) == args.rows, batch.refused[:3]
    prove_s, _ = cpu(lambda: [prove(c, signer, network_url=SAMPLE_NETWORK_URL, created=net.now) for c in creds])
    print(f"issuing {args.rows:,} olympiad diplomas: build {build_s:.2f} s CPU, proofs {prove_s:.2f} s CPU, "
          f"together {build_s + prove_s:.2f} s (target < 30 s); {prove_s / args.rows * 1e3:.3f} ms per proof")  # fmt: skip

    sample = creds[: args.reference]
    ref_s, _ = cpu(lambda: [rdfc.reference_canonize(c) for c in sample])
    fast_s, _ = cpu(lambda: [rdfc.canonize(c) for c in sample])
    print(f"RDFC-1.0 of one credential: pyld {ref_s / len(sample) * 1e3:.2f} ms, templates {fast_s / len(sample) * 1e3:.3f} ms "
          f"(x{ref_s / fast_s:.0f} faster; {len(sample)} credentials)")  # fmt: skip

    cred = net.credential()
    bundle = net.bundle(cred, net.issue(cred))
    trust = net.trust()
    seen = CheckpointCache(trust)
    verify(bundle, trust, now=net.now, seen=seen, check_proof=True)  # warm: checkpoint, template
    plain_s, _ = cpu(lambda: [verify(bundle, trust, now=net.now, seen=seen) for _ in range(args.single)])
    proof_s, _ = cpu(lambda: [verify(bundle, trust, now=net.now, seen=seen, check_proof=True) for _ in range(args.single)])
    print(f"one bundle offline: {plain_s / args.single * 1e6:.0f} µs without the proof step, {proof_s / args.single * 1e6:.0f} µs with it "
          f"(x{proof_s / plain_s:.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
