"""keys/: the Ed25519 signer, encrypted key files, passphrase sources and the keys CLI."""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import stat
import time

import pytest
import typer
from typer.testing import CliRunner

from keys import keyfile
from keys.keyfile import KeyFile, load_key_file, load_signer, save_signer
from keys.passphrase import resolve_passphrase
from keys.signer import Signer
from ledger.cli.keys import app
from ledger.errors import KeyFileError
from ledger.tlog.note import SIG_COSIGNATURE_V1, SIG_ED25519, Verifier

FAST = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}
PW = b"correct horse battery staple"

# RFC 8032 section 7.1, TEST 1.
RFC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUB = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


@pytest.fixture(autouse=True)
def _no_passphrase_env(monkeypatch):
    monkeypatch.delenv("EDULEDGER_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("EDULEDGER_KEY_PASSPHRASE_FILE", raising=False)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "keys" / "school-1.witness.key"
    signer = Signer.from_private_bytes(RFC_SEED)
    save_signer(path, signer, PW, name="edu.example/witness/school-1", kind="witness", **FAST)
    return path, signer


def rewrite(path, doc) -> None:
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)


# --- Signer -----------------------------------------------------------------------------


def test_signer_matches_rfc8032_test_1():
    s = Signer.from_private_bytes(RFC_SEED)
    assert s.public_key == RFC_PUB and s.sign(b"") == RFC_SIG


def test_generated_signers_differ_and_sign_64_bytes():
    a, b = Signer.generate(), Signer.generate()
    assert a.public_key != b.public_key and len(a.public_key) == 32 and len(a.sign(b"m")) == 64


def test_signer_never_shows_or_serialises_its_seed():
    s = Signer.from_private_bytes(RFC_SEED)
    for shown in (repr(s), str(s), f"{s}"):
        assert RFC_SEED.hex() not in shown and base64.b64encode(RFC_SEED).decode() not in shown
        assert shown.startswith("Signer(public_key=")
    for leak in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            leak(s)


@pytest.mark.parametrize("seed", [b"", b"\x00" * 31, b"\x00" * 33, b"\x00" * 64])
def test_seed_must_be_32_bytes(seed):
    with pytest.raises(ValueError):
        Signer.from_private_bytes(seed)


# --- key files ---------------------------------------------------------------------------


def test_round_trip_keeps_name_kind_and_key(saved):
    path, signer = saved
    kf = load_key_file(path, PW)
    assert kf == KeyFile(kf.signer, "edu.example/witness/school-1", "witness")
    assert kf.signer.public_key == signer.public_key and kf.signer.sign(b"m") == signer.sign(b"m")
    loaded, name = load_signer(path, PW)
    assert name == "edu.example/witness/school-1" and loaded.public_key == RFC_PUB


def test_file_is_0600_whatever_the_umask_and_leaves_no_temporary_file(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "new" / "k.key"
        save_signer(path, Signer.generate(), PW, name="k", **FAST)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["k.key"]


def test_the_file_holds_no_seed_and_documents_its_format(saved):
    path, _ = saved
    text = path.read_text()
    assert RFC_SEED.hex() not in text and base64.b64encode(RFC_SEED).decode() not in text
    doc = json.loads(text)
    assert set(doc) == {"version", "name", "kind", "public_key", "kdf", "aead", "ciphertext"}
    assert doc["version"] == "eduledger-key/v1" and doc["public_key"] == base64.b64encode(RFC_PUB).decode()
    assert doc["kdf"] == {"alg": "argon2id", **FAST, "salt": doc["kdf"]["salt"]} and len(base64.b64decode(doc["kdf"]["salt"])) == 16
    assert doc["aead"]["alg"] == "chacha20poly1305" and len(base64.b64decode(doc["aead"]["nonce"])) == 12
    assert len(base64.b64decode(doc["ciphertext"])) == 32 + 16


def test_default_kdf_is_strong(tmp_path):
    assert keyfile.DEFAULT_KDF == {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 1}
    path = tmp_path / "k.key"
    save_signer(path, Signer.generate(), PW, name="k")
    assert json.loads(path.read_text())["kdf"]["memory_cost"] == 65536


def test_each_save_uses_a_fresh_salt_and_nonce(tmp_path):
    s = Signer.generate()
    save_signer(tmp_path / "a.key", s, PW, name="k", **FAST)
    save_signer(tmp_path / "b.key", s, PW, name="k", **FAST)
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.key", "b.key"))
    assert a["kdf"]["salt"] != b["kdf"]["salt"] and a["aead"]["nonce"] != b["aead"]["nonce"] and a["ciphertext"] != b["ciphertext"]


def test_overwrite_false_never_replaces_a_key(saved):
    path, _ = saved
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        save_signer(path, Signer.generate(), PW, name="x", overwrite=False, **FAST)
    assert path.read_bytes() == before and len(list(path.parent.iterdir())) == 1
    save_signer(path, Signer.generate(), PW, name="x", **FAST)  # the default replaces, atomically
    assert path.read_bytes() != before


def test_wrong_passphrase(saved):
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_signer(saved[0], PW + b"!")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(name="edu.example/witness/other"),
        lambda d: d.update(kind="signing"),
        lambda d: d.pop("kind"),
        lambda d: d.update(public_key=base64.b64encode(Signer.generate().public_key).decode()),
        lambda d: d["kdf"].update(time_cost=2),
        lambda d: d["kdf"].update(salt=base64.b64encode(b"\x00" * 16).decode()),
        lambda d: d["aead"].update(nonce=base64.b64encode(b"\x00" * 12).decode()),
        lambda d: d.update(ciphertext=base64.b64encode(bytes(a ^ (i == 0) for i, a in enumerate(base64.b64decode(d["ciphertext"])))).decode()),
        lambda d: d.update(ciphertext=base64.b64encode(base64.b64decode(d["ciphertext"])[:-1] + b"\x00").decode()),
    ],
    ids=["name", "kind", "kind-removed", "public-key", "time-cost", "salt", "nonce", "ciphertext", "tag"],
)
def test_any_tampered_field_fails_to_open(saved, tamper):
    path, _ = saved
    doc = json.loads(path.read_text())
    tamper(doc)
    rewrite(path, doc)
    with pytest.raises(KeyFileError, match="wrong passphrase or the file was modified"):
        load_signer(path, PW)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(version="eduledger-key/v2"),
        lambda d: d.update(extra="field"),
        lambda d: d.pop("aead"),
        lambda d: d.update(name="has space"),
        lambda d: d.update(kind="admin"),
        lambda d: d["kdf"].update(alg="argon2i"),
        lambda d: d["kdf"].update(memory_cost=1 << 30),  # would allocate 1 TiB: refused before Argon2 runs
        lambda d: d["kdf"].update(time_cost=10**9),
        lambda d: d["kdf"].update(parallelism=0),
        lambda d: d["kdf"].update(time_cost="1"),
        lambda d: d["kdf"].update(time_cost=True),
        lambda d: d["kdf"].update(salt=base64.b64encode(b"\x00" * 4).decode()),
        lambda d: d["kdf"].update(extra=1),
        lambda d: d["aead"].update(alg="aes-gcm"),
        lambda d: d["aead"].update(nonce=base64.b64encode(b"\x00" * 24).decode()),
        lambda d: d.update(ciphertext=base64.b64encode(b"\x00" * 47).decode()),
        lambda d: d.update(ciphertext="not base64!"),
        lambda d: d.update(public_key=base64.b64encode(b"\x00" * 31).decode()),
        lambda d: d.update(name=["list"]),
    ],
)
def test_corrupt_files_are_refused_before_any_work(saved, tamper):
    path, _ = saved
    doc = json.loads(path.read_text())
    tamper(doc)
    rewrite(path, doc)
    started = time.monotonic()
    with pytest.raises(KeyFileError, match="not a valid key file"):
        load_signer(path, PW)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b'"x"', b"\xff\xfe", b"{" * 100000])
def test_garbage_is_refused(tmp_path, content):
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="not a valid key file"):
        load_signer(path, PW)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o700 | 0o004, 0o620])
def test_a_file_open_to_group_or_others_is_refused(saved, mode):
    path, _ = saved
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match=f"chmod 600 {path}"):
        load_signer(path, PW)
    os.chmod(path, 0o400)  # owner read-only is fine
    load_signer(path, PW)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(KeyFileError, match="no key file"):
        load_signer(tmp_path / "nope.key", PW)
    d = tmp_path / "dir.key"
    d.mkdir(mode=0o700)
    with pytest.raises(KeyFileError):
        load_signer(d, PW)


def test_save_refuses_bad_input(tmp_path):
    with pytest.raises(KeyFileError, match="empty passphrase"):
        save_signer(tmp_path / "k", Signer.generate(), b"", name="k", **FAST)
    with pytest.raises(KeyFileError, match="key name"):
        save_signer(tmp_path / "k", Signer.generate(), PW, name="a b", **FAST)
    with pytest.raises(ValueError):
        save_signer(tmp_path / "k", Signer.generate(), PW, name="k", kind="admin", **FAST)
    with pytest.raises(ValueError):
        save_signer(tmp_path / "k", Signer.generate(), PW, name="k", time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.raises(TypeError):
        save_signer(tmp_path / "k", Signer.generate(), "a str", name="k", **FAST)
    assert not list(tmp_path.iterdir())


# --- passphrase ------------------------------------------------------------------------


def test_passphrase_order_env_then_file_then_prompt(tmp_path, monkeypatch):
    f = tmp_path / "pw"
    f.write_bytes(b"from-file\n")
    asked = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": asked.append(prompt) or "typed")
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE_FILE", str(f))
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE", "from-env")
    assert resolve_passphrase(prompt=True) == b"from-env"
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE", "")  # empty counts as unset
    assert resolve_passphrase(prompt=True) == b"from-file"
    monkeypatch.delenv("EDULEDGER_KEY_PASSPHRASE_FILE")
    assert asked == [] and resolve_passphrase(prompt=True) == b"typed" and len(asked) == 1
    with pytest.raises(KeyFileError) as info:
        resolve_passphrase(prompt=False)
    msg = str(info.value)
    assert "EDULEDGER_KEY_PASSPHRASE" in msg and "EDULEDGER_KEY_PASSPHRASE_FILE" in msg and "terminal" in msg


def test_custom_variable_names(monkeypatch):
    monkeypatch.setenv("MY_PW", "x")
    assert resolve_passphrase(env="MY_PW", file_env="MY_PW_FILE") == b"x"


@pytest.mark.parametrize(
    ("content", "want"),
    [(b"pw\n", b"pw"), (b"pw", b"pw"), (b"pw\r\n", b"pw"), (b"pw\n\n", b"pw\n"), (b" pw \n", b" pw "), ("p\u00e4ss\n".encode(), "p\u00e4ss".encode())],
)
def test_passphrase_file_strips_one_newline(tmp_path, monkeypatch, content, want):
    f = tmp_path / "pw"
    f.write_bytes(content)
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE_FILE", str(f))
    assert resolve_passphrase() == want


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\n"])
def test_an_empty_passphrase_file_is_refused(tmp_path, monkeypatch, content):
    f = tmp_path / "pw"
    f.write_bytes(content)
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE_FILE", str(f))
    with pytest.raises(KeyFileError, match="empty"):
        resolve_passphrase()


def test_a_missing_passphrase_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE_FILE", str(tmp_path / "nope"))
    with pytest.raises(KeyFileError, match="cannot read the passphrase file"):
        resolve_passphrase(prompt=True)


def test_prompt_confirmation_and_eof(monkeypatch):
    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    with pytest.raises(KeyFileError, match="differ"):
        resolve_passphrase(prompt=True, confirm=True)

    def eof(prompt=""):
        raise EOFError

    monkeypatch.setattr("getpass.getpass", eof)
    with pytest.raises(KeyFileError, match="no passphrase entered"):
        resolve_passphrase(prompt=True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "")
    with pytest.raises(KeyFileError, match="empty"):
        resolve_passphrase(prompt=True)


# --- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE", PW.decode())
    monkeypatch.setitem(keyfile.DEFAULT_KDF, "time_cost", 1)
    monkeypatch.setitem(keyfile.DEFAULT_KDF, "memory_cost", 8 * 1024)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def assert_error_style(output: str) -> None:
    line = output.strip().splitlines()[-1]
    assert line.startswith("eduledger: ") and not line.endswith(".") and not line[len("eduledger: ")].isupper(), line


def test_generate_prints_the_vkey_and_writes_a_0600_file(cli, tmp_path):
    out = tmp_path / "w.key"
    r = cli("generate", "edu.example/witness/a", "--out", out, "--kind", "witness")
    assert r.exit_code == 0, r.output
    v = Verifier.from_vkey(r.output.strip())
    assert v.sig_type == SIG_COSIGNATURE_V1 and v.name == "edu.example/witness/a"
    kf = load_key_file(out, PW)
    assert kf.kind == "witness" and kf.signer.public_key == v.public_key
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_show_and_export_use_the_recorded_kind(cli, tmp_path):
    out = tmp_path / "w.key"
    vkey = cli("generate", "edu.example/witness/a", "--out", out, "--kind", "witness").output.strip()
    assert cli("export-public", out).output.strip() == vkey
    r = cli("show", out)
    assert r.exit_code == 0 and vkey in r.output and "witness" in r.output
    v = Verifier.from_vkey(vkey)
    assert v.key_id.hex() in r.output and base64.b64encode(v.public_key).decode() in r.output
    seed = load_key_file(out, PW).signer.private_bytes()
    for leaked in (seed.hex(), base64.b64encode(seed).decode()):
        assert leaked not in r.output
    r = cli("export-public", out, "--kind", "signing")
    assert r.exit_code == 2 and "holds a witness key" in r.output
    assert_error_style(r.output)


def test_kind_flag_for_files_without_a_recorded_kind(cli, tmp_path):
    path = tmp_path / "old.key"
    s = Signer.generate()
    save_signer(path, s, PW, name="edu.example/log", **FAST)
    assert Verifier.from_vkey(cli("export-public", path).output.strip()).sig_type == SIG_ED25519
    assert cli("export-public", path, "--kind", "witness").output.strip() == Verifier.cosignature("edu.example/log", s.public_key).vkey
    assert "not recorded" in cli("show", path).output


def test_rotate_keeps_name_and_kind(cli, tmp_path):
    out, new = tmp_path / "w.key", tmp_path / "w2.key"
    old_vkey = cli("generate", "edu.example/witness/a", "--out", out, "--kind", "witness").output.strip()
    r = cli("rotate", out, "--out", new)
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0] == f"old  {old_vkey}" and lines[1].startswith("new  edu.example/witness/a+")
    kf = load_key_file(new, PW)
    assert kf.name == "edu.example/witness/a" and kf.kind == "witness"
    assert Verifier.from_vkey(lines[1][5:]).public_key == kf.signer.public_key != Verifier.from_vkey(old_vkey).public_key
    r = cli("rotate", out, "--out", new)
    assert r.exit_code == 2 and "already exists" in r.output


@pytest.mark.parametrize(
    ("args", "code", "hint"),
    [
        (["generate", "x-1", "--kind", "admin"], 2, "use signing, witness or log"),
        (["generate", "has space"], 2, "invalid key name"),
        (["generate", "x-1"], 2, "already exists"),
        (["show", "{missing}"], 1, "no key file"),
        (["export-public", "{missing}"], 1, "no key file"),
    ],
)
def test_errors_have_one_prefix_a_hint_and_an_exit_code(cli, tmp_path, args, code, hint):
    existing = tmp_path / "exists.key"
    save_signer(existing, Signer.generate(), PW, name="x-1", **FAST)
    args = [a.format(missing=tmp_path / "missing.key") for a in args]
    if args[0] == "generate":
        args += ["--out", str(existing)]
    r = cli(*args)
    assert r.exit_code == code and hint in r.output, r.output
    assert_error_style(r.output)


def test_wrong_passphrase_exits_1(cli, tmp_path, monkeypatch):
    out = tmp_path / "k.key"
    cli("generate", "x-1", "--out", out)
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE", "wrong")
    r = cli("show", out)
    assert r.exit_code == 1 and "wrong passphrase" in r.output
    assert_error_style(r.output)


def test_no_passphrase_exits_1_with_the_three_ways(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("EDULEDGER_KEY_PASSPHRASE")
    r = cli("generate", "x-1", "--out", tmp_path / "k.key")
    assert r.exit_code == 1 and "EDULEDGER_KEY_PASSPHRASE_FILE" in r.output and not (tmp_path / "k.key").exists()
    assert_error_style(r.output)


def test_the_app_is_a_typer_app():
    assert isinstance(app, typer.Typer)
