"""What every ``eduledger`` command shares: the data-directory options, error exit, database URL and key passphrase."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="EDULEDGER_DATA_DIR", help="node data directory")]
DbUrl = Annotated[str | None, typer.Option("--database-url", envvar="EDULEDGER_DATABASE_URL", help="SQLAlchemy URL (default: SQLite in the data directory)")]
WitnessDirOpt = Annotated[
    Path | None,
    typer.Option("--witness-dir", envvar="EDULEDGER_WITNESS_DIR", help="the witness keys and state, apart from the data directory (default: <data>.witness)"),
]
WitnessDbOpt = Annotated[
    str | None,
    typer.Option("--witness-db", envvar="EDULEDGER_WITNESS_DB", help="keep the witness state in this PostgreSQL database (not the log's) instead of <witness-dir>/witness.db"),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"eduledger: {message}", err=True)
    return typer.Exit(code)


def db_url(data_dir: Path, url: str | None) -> str:
    return url or f"sqlite:///{(data_dir / 'ledger.db').resolve()}"


def passphrase(data_dir: Path) -> bytes:
    from keys.passphrase import resolve_passphrase
    from ledger.node.datadir import demo_passphrase_file

    demo = demo_passphrase_file(data_dir)
    if demo.exists() and not os.environ.get("EDULEDGER_KEY_PASSPHRASE") and not os.environ.get("EDULEDGER_KEY_PASSPHRASE_FILE"):
        os.environ["EDULEDGER_KEY_PASSPHRASE_FILE"] = str(demo)
    return resolve_passphrase(prompt=sys.stdin.isatty())


def open_ledger(data_dir: Path, database_url: str | None) -> tuple[Any, Any]:
    """(genesis, store) of a node's data directory, or exit 2 with the reason; the caller closes the store."""
    from ledger.errors import EduledgerError
    from ledger.node.datadir import load_genesis
    from ledger.storage import open_store

    try:
        return load_genesis(data_dir), open_store(db_url(data_dir, database_url))
    except EduledgerError as e:
        raise fail(str(e)) from None
