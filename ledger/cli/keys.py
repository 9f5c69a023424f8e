"""``eduledger keys``: generate, show, export and rotate keys (mounted by ledger/cli/main.py).

Commands read the passphrase with :func:`keys.passphrase.resolve_passphrase`
(environment, file, then a prompt when stdin is a terminal). ``show`` and
``export-public`` open the key file with it too: the public key in a file's
clear header is only trusted after the file decrypts, so a swapped header can
never be exported as someone's vkey.

The vkey type follows the key's kind: ``witness`` keys are cosignature/v1
(0x04), ``signing`` and ``log`` keys Ed25519 (0x01). The kind is recorded in
files made by ``generate``; ``--kind`` gives it for files without one and must
agree with a recorded one.

Output: results on stdout; errors on stderr as ``eduledger: <what>; <hint>``.
Exit codes: 0 done, 1 a key file could not be opened or written, 2 bad
arguments (unknown kind, invalid name, output file exists).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from keys.keyfile import KINDS, KeyFile, load_key_file, save_signer
from keys.passphrase import resolve_passphrase
from keys.signer import Signer
from ledger.errors import KeyFileError
from ledger.tlog.note import Verifier, is_valid_key_name

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="generate and inspect keys (the private key is never printed)")

KIND_HELP = "signing (submissions and credentials), witness (cosigning checkpoints) or log (the sequencer)"
EXIT_KEY_FILE = 1
EXIT_USAGE = 2

KindOption = Annotated[Optional[str], typer.Option("--kind", help=KIND_HELP + "; default: the kind in the file")]  # noqa: UP007


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"eduledger: {message}", err=True)
    return typer.Exit(code)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise _fail(f"unknown --kind {kind!r}; use signing, witness or log", EXIT_USAGE)


def _verifier(public_key: bytes, name: str, kind: str) -> Verifier:
    if kind == "witness":
        return Verifier.cosignature(name, public_key)
    return Verifier.ed25519(name, public_key)


def _passphrase(*, confirm: bool = False) -> bytes:
    try:
        return resolve_passphrase(prompt=sys.stdin.isatty(), confirm=confirm)
    except KeyFileError as e:
        raise _fail(str(e), EXIT_KEY_FILE) from None


def _open(path: Path, kind: str | None, pw: bytes | None = None) -> tuple[KeyFile, str]:
    """The opened file and its effective kind."""
    _check_kind(kind)
    if pw is None:
        pw = _passphrase()
    try:
        kf = load_key_file(path, pw)
    except KeyFileError as e:
        raise _fail(str(e), EXIT_KEY_FILE) from None
    if kind is not None and kf.kind is not None and kind != kf.kind:
        raise _fail(f"{path} holds a {kf.kind} key, not {kind}; drop --kind or pass --kind {kf.kind}", EXIT_USAGE)
    return kf, kind or kf.kind or "signing"


def _save(out: Path, signer: Signer, pw: bytes, name: str, kind: str) -> None:
    try:
        save_signer(out, signer, pw, name=name, kind=kind, overwrite=False)
    except KeyFileError as e:
        code = EXIT_USAGE if out.exists() else EXIT_KEY_FILE
        raise _fail(str(e), code) from None
    except OSError as e:
        raise _fail(f"cannot write {out}: {e.strerror}; check the directory exists and is writable", EXIT_KEY_FILE) from None


@app.command()
def generate(
    name: Annotated[str, typer.Argument(help="key name: a schema-less URL such as edu.example/witness/school-1")],
    out: Annotated[Path, typer.Option("--out", help="key file to write (0600); must not exist")],
    kind: Annotated[str, typer.Option("--kind", help=KIND_HELP)] = "signing",
) -> None:
    """Generate a new Ed25519 key, encrypted with the passphrase; print its vkey."""
    _check_kind(kind)
    if not is_valid_key_name(name):
        raise _fail(f"invalid key name {name!r}; use a name without spaces or '+', e.g. edu.example/witness/school-1", EXIT_USAGE)
    if out.exists():
        raise _fail(f"{out} already exists; choose another --out or remove it first", EXIT_USAGE)
    signer = Signer.generate()
    _save(out, signer, _passphrase(confirm=True), name, kind)
    typer.echo(_verifier(signer.public_key, name, kind).vkey)


@app.command()
def show(path: Annotated[Path, typer.Argument(help="key file")], kind: KindOption = None) -> None:
    """Show a key's name, kind, public key, key id and vkey (never the private key)."""
    kf, effective = _open(path, kind)
    v = _verifier(kf.signer.public_key, kf.name, effective)
    typer.echo(
        f"name        {kf.name}\n"
        f"kind        {effective}{'' if kf.kind else ' (not recorded in the file)'}\n"
        f"public key  {base64.b64encode(kf.signer.public_key).decode()}\n"
        f"key id      {v.key_id.hex()}\n"
        f"vkey        {v.vkey}"
    )


@app.command("export-public")
def export_public(path: Annotated[Path, typer.Argument(help="key file")], kind: KindOption = None) -> None:
    """Print the C2SP vkey of a key file."""
    kf, effective = _open(path, kind)
    typer.echo(_verifier(kf.signer.public_key, kf.name, effective).vkey)


@app.command()
def rotate(
    path: Annotated[Path, typer.Argument(help="the current key file")],
    out: Annotated[Path, typer.Option("--out", help="key file for the new key (0600); must not exist")],
    kind: KindOption = None,
) -> None:
    """Generate the successor of a key (same name, same kind, same passphrase); print both vkeys.

    Announce the new key on the ledger (a key.rotate entry) before using it.
    """
    if out.exists():
        raise _fail(f"{out} already exists; choose another --out or remove it first", EXIT_USAGE)
    _check_kind(kind)
    pw = _passphrase()
    kf, effective = _open(path, kind, pw)
    new = Signer.generate()
    _save(out, new, pw, kf.name, effective)
    typer.echo(
        f"old  {_verifier(kf.signer.public_key, kf.name, effective).vkey}\n"
        f"new  {_verifier(new.public_key, kf.name, effective).vkey}"
    )
