"""The demo network that ``make run`` creates on first start.

Three founding institutions (an olympiad organiser, a teacher-training
institute, a university), quorum 2, all keys in one data directory so a single
process can show the whole flow. ``eduledger demo`` runs them as separate
processes instead.
"""

from __future__ import annotations

import time
from pathlib import Path

from ledger.datadir import InstitutionSpec, init_network, write_demo_passphrase
from ledger.genesis import Genesis

DEMO_NETWORK = "demo.eduledger.example/network"
DEMO_INSTITUTIONS = (
    InstitutionSpec("olymp-centre", "Региональный центр олимпиад «Перспектива»", "olympiad-organiser"),
    InstitutionSpec("ipk-teachers", "Институт повышения квалификации учителей", "training-institute"),
    InstitutionSpec("state-university", "Государственный университет", "university"),
)


def create_demo(data_dir: Path, database_url: str, *, kdf_params: dict | None = None) -> Genesis:
    """Generate the demo network's keys and genesis file in ``data_dir``."""
    passphrase = write_demo_passphrase(data_dir)
    return init_network(
        data_dir,
        network=DEMO_NETWORK,
        institutions=DEMO_INSTITUTIONS,
        sequencer=DEMO_INSTITUTIONS[0].id,
        quorum=2,
        passphrase=passphrase,
        created=int(time.time()),
        kdf_params=kdf_params,
    )
