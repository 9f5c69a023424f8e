"""``python -m ledger.cli.examples DIR`` (``make examples``): sample bundles and a trust file to try the verifier on.

Writes, for a small example network (:class:`ledger.cli.sample_network.SampleNetwork`,
seeded, so every run writes the same bytes):

* ``trust.json`` — the network's trust file;
* ``olympiad-diploma.bundle.json`` and ``teacher-certificate.bundle.json`` — valid
  bundles of an olympiad diploma and a teacher's professional-development certificate;
* ``kinds/<kind>.bundle.json`` — a valid bundle of each other credential kind
  (participation, school-leaving, generic);
* ``invalid/tampered.bundle.json`` (fails step 2), ``invalid/too-few-cosignatures.bundle.json``
  (step 4), ``invalid/revoked.bundle.json``, ``invalid/superseded.bundle.json`` (step 8),
  ``invalid/expired.bundle.json`` (step 9);
* ``README.txt`` — the commands and what each prints.

The network's clock is March 2026 and the valid samples have no end date, so
they verify today and for years; offline, step 8 passes with a warning that
the bundle's status is months old (``--online`` would ask a node for newer
status, but the example network has none).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ledger.cli.sample_network import SampleNetwork

#: The sample credential of each name at the top of the examples directory.
TOP_LEVEL = {"olympiad-diploma": "olympiad-diploma", "teacher-pd": "teacher-certificate"}
OTHER_KINDS = ("participation", "school-leaving", "generic")
INVALID = {
    "tampered": 2,
    "too-few-cosignatures": 4,
    "revoked": 8,
    "superseded": 8,
    "expired": 9,
}


def write_examples(out: Path) -> list[Path]:
    """Write the sample files into ``out`` (created if missing); returns the paths written."""
    from ledger.tlog.timefmt import parse_time

    net = SampleNetwork(status=True)
    (out / "kinds").mkdir(parents=True, exist_ok=True)
    (out / "invalid").mkdir(parents=True, exist_ok=True)
    written = []

    def put(name: str, data: bytes) -> None:
        (out / name).write_bytes(data)
        written.append(out / name)

    for kind, name in TOP_LEVEL.items():
        cred = net.credential(kind, institution="ipk-1" if kind == "teacher-pd" else "olymp-1")
        put(f"{name}.bundle.json", net.bundle(cred, net.issue(cred)))
    for kind in OTHER_KINDS:
        cred = net.credential(kind)
        put(f"kinds/{kind}.bundle.json", net.bundle(cred, net.issue(cred)))
    cred = net.credential(holder_name="Петров Пётр")
    doc = net.bundle_doc(cred, net.issue(cred))
    doc["credential"]["credentialSubject"]["name"] = "Сидоров Сидор"
    put("invalid/tampered.bundle.json", json.dumps(doc, ensure_ascii=False, indent=1).encode())
    cred = net.credential(holder_name="Кузнецова Анна")
    put("invalid/too-few-cosignatures.bundle.json", net.bundle(cred, net.issue(cred), note=net.checkpoint(cosigners=["uni-1"])))
    revoked = net.credential(holder_name="Смирнов Илья")
    revoked_index = net.issue(revoked)
    old = net.credential(holder_name="Волкова Ольга")
    old_index = net.issue(old)
    new = net.credential(holder_name="Волкова Ольга", title="Диплом победителя регионального этапа (исправлено)")
    net.issue(new)
    expired = net.credential(holder_name="Орлов Глеб", valid_until=parse_time("2026-03-01T11:59:00Z"))
    expired_index = net.issue(expired)
    net.revoke(revoked, reason="issued-in-error")
    net.supersede(old, new)
    put("invalid/revoked.bundle.json", net.bundle(revoked, revoked_index))
    put("invalid/superseded.bundle.json", net.bundle(old, old_index))
    put("invalid/expired.bundle.json", net.bundle(expired, expired_index))
    put("trust.json", net.trust().to_bytes())
    put(
        "README.txt",
        (
            "Sample bundles of an example network (regenerate with: make examples).\n\n"
            "  eduledger verify examples/olympiad-diploma.bundle.json --trust examples/trust.json     # exit 0\n"
            "  eduledger verify examples/teacher-certificate.bundle.json --trust examples/trust.json  # exit 0\n"
            "  eduledger verify examples/kinds --trust examples/trust.json                            # exit 0\n"
            "  eduledger verify examples/invalid --trust examples/trust.json                          # exit 1\n"
            "  eduledger verify examples/invalid/revoked.bundle.json --trust examples/trust.json --json\n"
            "  eduledger verify examples/olympiad-diploma.bundle.json --trust examples/trust.json \\\n"
            "      --holder-email m.ivanova@example.org                                                # exit 0: issued to her\n\n"
            "Valid samples pass with a warning at step 8: offline, their status is as of March 2026.\n"
            "invalid/tampered: step 2 (digest); too-few-cosignatures: step 4 (cosignatures);\n"
            "revoked, superseded: step 8 (status); expired: step 9 (validity).\n"
        ).encode(),
    )
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "examples")
    for p in write_examples(out):
        print(p)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
