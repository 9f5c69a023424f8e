"""The demo network that ``make run`` creates on first start.

Four founding institutions (an olympiad organiser that sequences, a teacher-training
institute, a university, a lyceum), quorum 2 of the three witnesses besides the
sequencer's, all keys in one data directory so a single process can show the whole flow. ``eduledger demo`` runs them as separate
processes instead.
"""

from __future__ import annotations

import time
from pathlib import Path

from ledger.model.genesis import Genesis
from ledger.node.datadir import InstitutionSpec, init_network, write_demo_passphrase

DEMO_NETWORK = "demo.eduledger.example/network"
DEMO_INSTITUTIONS = (
    InstitutionSpec("olymp-centre", "Региональный центр олимпиад «Перспектива»", "olympiad-organiser"),
    InstitutionSpec("ipk-teachers", "Институт повышения квалификации учителей", "training-institute"),
    InstitutionSpec("state-university", "Государственный университет", "university"),
    # A fourth institution, so that quorum 2 counts 2 of the 3 witnesses besides the sequencer's
    # (it never counts for itself): one stopped witness node does not stop finality.
    InstitutionSpec("lyceum-57", "Лицей № 57", "school"),
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


# --- demo people and credentials (the e-portfolio) -------------------------------------

DEMO_PASSWORD = "demo-password-2026"
# (e-mail, name, role, institution): printed by `eduledger run` on a demo data directory.
DEMO_PEOPLE = (
    ("admin@demo.eduledger.example", "Администратор сети", "net_admin", None),
    ("admin@olymp.demo.eduledger.example", "Ольга Николаевна Белова", "inst_admin", "olymp-centre"),
    ("staff@olymp.demo.eduledger.example", "Сергей Петрович Орлов", "staff", "olymp-centre"),
    ("staff@ipk.demo.eduledger.example", "Елена Викторовна Лебедева", "inst_admin", "ipk-teachers"),
    ("admissions@university.demo.eduledger.example", "Приёмная комиссия", "inst_admin", "state-university"),
    ("maria@demo.eduledger.example", "Мария Иванова", "student", None),
    ("petr@demo.eduledger.example", "Пётр Смирнов", "student", None),
    ("anna@demo.eduledger.example", "Анна Сергеевна Кузнецова", "teacher", None),
)
DEMO_TEMPLATES = (
    ("olymp-centre", "olympiad", "Победитель регионального этапа олимпиады по математике"),
    ("olymp-centre", "olympiad", "Призёр регионального этапа олимпиады по физике"),
    ("olymp-centre", "contest", "Лауреат конкурса исследовательских работ «Шаг в будущее»"),
    ("ipk-teachers", "professional-development", "Повышение квалификации: «Цифровая дидактика», 72 часа"),
    ("state-university", "conference", "Участник студенческой научной конференции"),
)


def demo_logins() -> list[tuple[str, str, str]]:
    """(role, e-mail, password) of every demo account."""
    return [(role, email, DEMO_PASSWORD) for email, _, role, _ in DEMO_PEOPLE]


def seed_demo(services) -> list[tuple[str, str, str]]:
    """Create the demo people, templates, credentials, an upload awaiting confirmation and a share link.

    Runs on every start of a demo node and does nothing when the people exist already.
    Credentials are issued only for institutions whose signing key this node holds:
    the single-process demo holds all three, a node of ``eduledger demo`` (the
    sequencer's, which seeds) only its own.
    """
    from portfolio_api.services.credentials import IssueRequest

    acc = services.accounts
    if acc.find_by_email(DEMO_PEOPLE[0][0]) is not None:
        return demo_logins()
    users = {}
    for email, name, role, inst in DEMO_PEOPLE:
        users[email] = acc.create(email, DEMO_PASSWORD, name, role, inst)
    for inst, kind, title in DEMO_TEMPLATES:
        services.credentials.add_template(inst, kind, title)
    olymp = users["staff@olymp.demo.eduledger.example"]
    ipk = users["staff@ipk.demo.eduledger.example"]
    held = services.ctx.node.keys.signing
    if olymp.institution_id in held:
        services.credentials.issue_many(olymp, [
            IssueRequest("maria@demo.eduledger.example", "olympiad", DEMO_TEMPLATES[0][2], "2025-02-14", idem_key="demo-maria-1"),
            IssueRequest("maria@demo.eduledger.example", "contest", DEMO_TEMPLATES[2][2], "2025-11-20", idem_key="demo-maria-2"),
            IssueRequest("petr@demo.eduledger.example", "olympiad", DEMO_TEMPLATES[1][2], "2026-02-10", idem_key="demo-petr-1"),
        ])
    if ipk.institution_id in held:
        services.credentials.issue(
            ipk, IssueRequest("anna@demo.eduledger.example", "professional-development", DEMO_TEMPLATES[3][2], "2025-06-30", idem_key="demo-anna-1")
        )
    maria = users["maria@demo.eduledger.example"]
    services.uploads.add(maria, data=_demo_scan(), filename="gramota-2024.pdf", kind="school-certificate",
                         title="Похвальная грамота за отличную учёбу", issued_on="2024-05-25", issuer_id="olymp-centre", ask_confirmation=True)
    services.portfolio.create_share(maria, label="Приёмная комиссия (демо)", items=None, days=90)
    return demo_logins()


def _demo_scan() -> bytes:
    """A small PDF standing in for a scanned paper certificate."""
    import io

    from reportlab.pdfgen import canvas

    from portfolio_api.pdf import _fonts

    _fonts()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.setFont("DejaVu", 20)
    c.drawString(80, 700, "Похвальная грамота")
    c.setFont("DejaVu", 12)
    c.drawString(80, 670, "Мария Иванова — за отличную учёбу, 2024")
    c.showPage()
    c.save()
    return buf.getvalue()
