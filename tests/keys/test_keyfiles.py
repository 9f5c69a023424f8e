"""Key files: encrypted at rest, 0600, refused when opened wrongly; passphrase sources; keys CLI."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from keys.keyfile import load_signer, save_signer
from keys.passphrase import resolve_passphrase
from keys.signer import Signer
from ledger.errors import KeyFileError
from ledger.tlog.note import Verifier
from tests.nodeproc import FAST_KDF

PW = b"correct horse"


@pytest.fixture
def keyfile(tmp_path):
    path = tmp_path / "k" / "school-1.signing.key"
    signer = Signer.generate()
    save_signer(path, signer, PW, name="school-1", **FAST_KDF)
    return path, signer


def test_round_trip_and_mode_0600(keyfile):
    path, signer = keyfile
    loaded, name = load_signer(path, PW)
    assert name == "school-1" and loaded.public_key == signer.public_key
    assert loaded.sign(b"m") == signer.sign(b"m")  # Ed25519 is deterministic
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_seed_is_not_in_the_file(keyfile):
    path, signer = keyfile
    assert signer.private_bytes().hex() not in path.read_text() and b"PRIVATE" not in path.read_bytes()
    assert "Signer(public_key=" in repr(signer) and signer.private_bytes().hex() not in repr(signer)


def test_wrong_passphrase_is_refused(keyfile):
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_signer(keyfile[0], b"wrong")


@pytest.mark.parametrize("field", ["name", "public_key", "ciphertext", "kdf"])
def test_any_tampered_field_is_refused(keyfile, field):
    path, _ = keyfile
    doc = json.loads(path.read_text())
    if field == "kdf":
        doc["kdf"]["time_cost"] += 1
    elif field == "name":
        doc["name"] = "other-inst"
    elif field == "public_key":
        doc["public_key"] = "A" * 43 + "="
    else:
        ct = bytearray(doc["ciphertext"].encode())
        ct[5] = ord("A") if ct[5] != ord("A") else ord("B")
        doc["ciphertext"] = ct.decode()
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        load_signer(path, PW)


def test_file_readable_by_others_is_refused(keyfile):
    path, _ = keyfile
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_signer(path, PW)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(KeyFileError, match="no key file"):
        load_signer(tmp_path / "nope.key", PW)
    bad = tmp_path / "bad.key"
    bad.write_text("not json")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="not a valid key file"):
        load_signer(bad, PW)


def test_empty_passphrase_is_refused(tmp_path):
    with pytest.raises(KeyFileError):
        save_signer(tmp_path / "k.key", Signer.generate(), b"", name="x", **FAST_KDF)


def test_passphrase_resolution_order(tmp_path, monkeypatch):
    f = tmp_path / "pw"
    f.write_text("from-file\n")
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE_FILE", str(f))
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE", "from-env")
    assert resolve_passphrase() == b"from-env"
    monkeypatch.delenv("EDULEDGER_KEY_PASSPHRASE")
    assert resolve_passphrase() == b"from-file"
    monkeypatch.delenv("EDULEDGER_KEY_PASSPHRASE_FILE")
    with pytest.raises(KeyFileError, match="EDULEDGER_KEY_PASSPHRASE"):
        resolve_passphrase(prompt=False)


def test_keys_cli_generate_show_export_rotate(tmp_path, monkeypatch):
    from ledger.cli.main import app

    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE", "pw")
    runner = CliRunner()
    out = tmp_path / "w.key"
    r = runner.invoke(app, ["keys", "generate", "edu.example/witness/a", "--out", str(out), "--kind", "witness"])
    assert r.exit_code == 0, r.output
    vkey = r.output.strip()
    assert Verifier.from_vkey(vkey).sig_type == 0x04
    r = runner.invoke(app, ["keys", "export-public", str(out), "--kind", "witness"])
    assert r.output.strip() == vkey
    r = runner.invoke(app, ["keys", "show", str(out), "--kind", "witness"])
    assert vkey in r.output and "private" not in r.output.lower()
    r = runner.invoke(app, ["keys", "rotate", str(out), "--out", str(tmp_path / "w2.key"), "--kind", "witness"])
    assert r.exit_code == 0 and r.output.count("edu.example/witness/a+") == 2
    r = runner.invoke(app, ["keys", "generate", "x-1", "--out", str(out)])
    assert r.exit_code == 2 and "exists" in r.output
