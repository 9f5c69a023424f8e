"""The network status page (/network): peers, the latest final checkpoint and its
cosigners, and a fork or storage alert with its evidence. Public, like the JSON
status it shows (/api/v1/network/status); the alert banner on every page is
``portfolio_api.web.node_alerts``.

Written for a non-expert first (issue 18): what the network is and what "final"
means in plain words, cosigners by institution name; the root, the signed note and
a fork's evidence stay on the page, folded under "details"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ledger.errors import EduledgerError
from ledger.node.datadir import witness_name
from ledger.tlog.checkpoint import parse_checkpoint, verify_checkpoint
from ledger.tlog.note import parse_note
from ledger.tlog.timefmt import format_time
from portfolio_api.deps import NodeDep
from portfolio_api.routers.network import gather_status
from portfolio_api.web import render

router = APIRouter(tags=["web: network"], include_in_schema=False)


def final_view(node) -> dict[str, Any] | None:
    """The latest final checkpoint: its note, size, root, and who cosigned it when (the witness key's
    name and, when it is a registered institution's witness, that institution's name)."""
    final = node.store.latest_final()
    if final is None:
        return None
    size, note = final
    try:
        vc = verify_checkpoint(
            note, log=node.log.log_verifier, witnesses=node.log.witness_verifiers, quorum=node.log.quorum, origin=node.network
        )
        cosigners = [{"name": name, "time": format_time(vc.cosigned_at[name])} for name in sorted(vc.cosigners)]
        root = vc.checkpoint.root.hex()
    except EduledgerError:
        # Final under the rules in force when it was stored (governance may since have
        # suspended a witness): show who signed it, unverified now.
        parsed = parse_note(note)
        cosigners = [{"name": s.name, "time": ""} for s in parsed.signatures if s.name != node.network]
        root = parse_checkpoint(parsed.text).root.hex()
    institutions = {witness_name(node.network, i): inst.name for i, inst in node.log.registry.institutions.items()}
    for c in cosigners:
        c["institution"] = institutions.get(c["name"], "")
    return {"size": size, "root": root, "note": note.decode("utf-8", "replace"), "cosigners": cosigners}


@router.get("/network")
async def network_page(request: Request, node: NodeDep) -> Response:
    status = await gather_status(node)
    return render(
        request,
        "network.html",
        status=status,
        final=final_view(node),
        alert_time=lambda a: format_time(a["time"]) if a and a.get("time") else "",
    )
