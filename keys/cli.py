"""``eduledger keys``: generate, show, export and rotate institution keys."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from keys.keyfile import load_signer, save_signer
from keys.passphrase import resolve_passphrase
from keys.signer import Signer
from ledger.errors import EduledgerError
from ledger.note import Verifier

app = typer.Typer(no_args_is_help=True)

KIND_HELP = "signing (submissions and credentials), witness (cosigning checkpoints) or log (the sequencer)"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"eduledger: {message}", err=True)
    return typer.Exit(2)


def _verifier(signer: Signer, name: str, kind: str) -> Verifier:
    return Verifier.cosignature(name, signer.public_key) if kind == "witness" else Verifier.ed25519(name, signer.public_key)


def _passphrase() -> bytes:
    return resolve_passphrase(prompt=sys.stdin.isatty())


@app.command()
def generate(
    name: Annotated[str, typer.Argument(help="key name: the institution id, or a witness/log name")],
    out: Annotated[Path, typer.Option("--out", help="key file to write (0600)")],
    kind: Annotated[str, typer.Option(help=KIND_HELP)] = "signing",
) -> None:
    """Generate a new Ed25519 key, encrypted with the passphrase."""
    if kind not in ("signing", "witness", "log"):
        raise _fail(f"--kind must be signing, witness or log, not {kind!r}")
    if out.exists():
        raise _fail(f"{out} exists; choose another --out or remove it first")
    try:
        signer = Signer.generate()
        v = _verifier(signer, name, kind)
        save_signer(out, signer, _passphrase(), name=name)
    except EduledgerError as e:
        raise _fail(str(e)) from None
    typer.echo(v.vkey)


@app.command()
def show(path: Path, kind: Annotated[str, typer.Option(help=KIND_HELP)] = "signing") -> None:
    """Show a key's name, public key, key id and vkey (never the private key)."""
    try:
        signer, name = load_signer(path, _passphrase())
        v = _verifier(signer, name, kind)
    except EduledgerError as e:
        raise _fail(str(e)) from None
    import base64

    typer.echo(f"name        {name}\npublic key  {base64.b64encode(signer.public_key).decode()}\nkey id      {v.key_id.hex()}\nvkey        {v.vkey}")


@app.command("export-public")
def export_public(path: Path, kind: Annotated[str, typer.Option(help=KIND_HELP)] = "signing") -> None:
    """Print the C2SP vkey of a key file."""
    try:
        signer, name = load_signer(path, _passphrase())
    except EduledgerError as e:
        raise _fail(str(e)) from None
    typer.echo(_verifier(signer, name, kind).vkey)


@app.command()
def rotate(path: Path, out: Annotated[Path, typer.Option("--out")], kind: Annotated[str, typer.Option(help=KIND_HELP)] = "signing") -> None:
    """Generate the successor of a key (same name). Announce it on the ledger with a key.rotate entry."""
    if out.exists():
        raise _fail(f"{out} exists; choose another --out")
    try:
        pw = _passphrase()
        old, name = load_signer(path, pw)
        new = Signer.generate()
        save_signer(out, new, pw, name=name)
    except EduledgerError as e:
        raise _fail(str(e)) from None
    typer.echo(f"old  {_verifier(old, name, kind).vkey}\nnew  {_verifier(new, name, kind).vkey}")
