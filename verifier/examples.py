"""``python -m verifier.examples DIR`` (``make examples``): sample bundles and a trust file to try the verifier on.

Writes, for a small in-memory network (a source checkout's tests/fixtures_network.py):

* ``trust.json`` — the network's trust file;
* ``valid/<kind>.json`` — one valid bundle per credential kind;
* ``invalid/tampered.json`` (step 2), ``invalid/too-few-cosignatures.json`` (step 4),
  ``invalid/revoked.json``, ``invalid/superseded.json`` (step 8), ``invalid/expired.json`` (step 9);
* ``README.txt`` — the commands and what each should print.

Times are the example network's (March 2026): verify with ``--at 2026-03-01T12:00:00Z``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

AT = "2026-03-01T12:00:00Z"


def write_examples(out: Path) -> list[Path]:
    try:
        from tests.fixtures_network import LedgerFixture
    except ImportError:  # pragma: no cover - an installed wheel has no tests package
        raise SystemExit("verifier.examples needs a source checkout (it builds its network with tests/fixtures_network.py)") from None
    from ledger.timefmt import parse_time

    net = LedgerFixture()
    (out / "valid").mkdir(parents=True, exist_ok=True)
    (out / "invalid").mkdir(parents=True, exist_ok=True)
    written = []

    def put(name: str, data: bytes) -> None:
        (out / name).write_bytes(data)
        written.append(out / name)

    for kind in ("olympiad-diploma", "participation", "school-leaving", "teacher-pd", "generic"):
        cred = net.credential(kind, institution="ipk-1" if kind == "teacher-pd" else "olymp-1")
        put(f"valid/{kind}.json", net.bundle(cred, net.issue(cred)))
    cred = net.credential(holder_name="Петров Пётр")
    doc = net.bundle_doc(cred, net.issue(cred))
    doc["credential"]["credentialSubject"]["name"] = "Сидоров Сидор"
    put("invalid/tampered.json", json.dumps(doc, ensure_ascii=False, indent=1).encode())
    cred = net.credential(holder_name="Кузнецова Анна")
    put("invalid/too-few-cosignatures.json", net.bundle(cred, net.issue(cred), note=net.checkpoint(cosigners=["uni-1"])))
    revoked = net.credential(holder_name="Смирнов Илья")
    revoked_index = net.issue(revoked)
    old = net.credential(holder_name="Волкова Ольга")
    old_index = net.issue(old)
    new = net.credential(holder_name="Волкова Ольга", title="Диплом победителя регионального этапа (исправлено)")
    net.issue(new)
    expired = net.credential(holder_name="Орлов Глеб", valid_until=parse_time(AT) - 60)
    expired_index = net.issue(expired)
    net.revoke(revoked, reason="issued-in-error")
    net.supersede(old, new)
    put("invalid/revoked.json", net.bundle(revoked, revoked_index))
    put("invalid/superseded.json", net.bundle(old, old_index))
    put("invalid/expired.json", net.bundle(expired, expired_index))
    put("trust.json", net.trust().to_bytes())
    put(
        "README.txt",
        (
            "Sample bundles of an example network.\n\n"
            f"  eduledger verify {out}/valid --trust {out}/trust.json --at {AT}      # exit 0: every file verified\n"
            f"  eduledger verify {out}/invalid --trust {out}/trust.json --at {AT}    # exit 1: each fails at its step\n"
            f"  eduledger verify {out}/invalid/revoked.json --trust {out}/trust.json --at {AT} --json\n\n"
            "invalid/tampered.json: step 2 (digest); too-few-cosignatures.json: step 4 (cosignatures);\n"
            "revoked.json, superseded.json: step 8 (status); expired.json: step 9 (validity).\n"
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
