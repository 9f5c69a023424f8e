"""The files of ``eduledger credential``: the store of issued credentials, credential specs and batch rows
(CSV or JSON, bounded before reading)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ledger.cli.common import fail
from ledger.errors import MalformedError, NotFoundError
from ledger.tlog.canonical import canonical_digest
from verifier.credentials import KINDS, rows_from_csv

MAX_ROWS = 100_000
MAX_ROWS_BYTES = 64 << 20

# --- credentials and the store ---------------------------------------------------------------


def write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a file


def store_credentials(store: Path, creds: Sequence[dict[str, Any]]) -> list[str]:
    """Write each credential as <digest>.credential.json and flush them to disk; returns the digests."""
    store.mkdir(parents=True, exist_ok=True)
    digests = []
    for cred in creds:
        digest = canonical_digest(cred).hex()
        write_json(store / f"{digest}.credential.json", cred)
        digests.append(digest)
    os.sync()  # persisted before anything is anchored (see the module docstring)
    return digests


def stored_credential(store: Path, digest: str) -> dict[str, Any]:
    from ledger.tlog.encoding import hex32

    hex32(digest, "digest")
    path = store / f"{digest}.credential.json"
    try:
        cred = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"no credential {digest} in {store}; pass --store where 'eduledger credential issue' wrote it") from None
    except (OSError, ValueError) as e:
        raise MalformedError(f"cannot read {path}: {e}") from None
    if canonical_digest(cred).hex() != digest:
        raise MalformedError(f"{path} does not hash to {digest}: the stored credential was changed")
    return cred


def read_spec(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise fail(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise fail(f"{path} is not JSON: {e}; a spec is {{\"kind\", \"holder_name\", \"title\", ...fields}}") from None
    if not isinstance(doc, dict):
        raise fail(f"{path} must hold one JSON object (a spec), not {type(doc).__name__}")
    return doc


def read_rows(path: Path) -> list[Any]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise fail(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > MAX_ROWS_BYTES:
        raise fail(f"{path} is larger than {MAX_ROWS_BYTES >> 20} MB; split the batch")
    try:
        text = data.decode("utf-8-sig")
        if path.suffix.lower() == ".csv":
            rows: Any = rows_from_csv(text)
        else:
            rows = json.loads(text)
    except UnicodeDecodeError:
        raise fail(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except (MalformedError, csv.Error) as e:
        raise fail(f"{path}: {e}") from None
    except ValueError as e:
        raise fail(f"{path} is not JSON: {e}; a batch is a JSON list of rows or a .csv file") from None
    if not isinstance(rows, list) or not rows:
        raise fail(f"{path} holds no rows; a batch is a non-empty JSON list of rows or a CSV with a header row")
    if len(rows) > MAX_ROWS:
        raise fail(f"{path} has {len(rows)} rows, at most {MAX_ROWS}; split the batch")
    return rows


def row_from_flags(holder: str | None, title: str | None, holder_id: str | None, description: str | None,
                    achieved_on: str | None, valid_until: str | None, field: list[str], holder_email: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for k, v in (("holder_name", holder), ("title", title), ("holder_id", holder_id), ("holder_email", holder_email), ("description", description),
                 ("achieved_on", achieved_on), ("valid_until", valid_until)):
        if v is not None:
            row[k] = v
    for item in field:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise fail(f"--field must be NAME=VALUE, got {item!r}")
        row[name.strip()] = value
    return row


def check_kind(kind: str | None) -> str:
    if kind not in KINDS:
        raise fail(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    return kind
