"""A node's data directory: genesis file, encrypted keys, and the embedded database.

::

    <data>/genesis.json                 the network's genesis file (public)
    <data>/keys/log.key                 the log (sequencer) key, on the sequencing node only
    <data>/keys/<inst>.signing.key      an institution's submission/issuing key
    <data>/ledger.db                    SQLite database (default store)
    <data>.witness/keys/<inst>.witness.key   an institution's cosigning (witness) key, in the
                                        witness directory (ledger/node/witnessdir.py), never here

The witness keys and the witness state live in the witness directory (default: the
sibling ``<data>.witness/``), so a copy of the data directory carries no witness.

Key files are encrypted with the node passphrase (see keys/). ``init_network``
creates a whole network in one directory: that is the single-process demo and
the test fixture; a real deployment runs ``eduledger network init`` once and
hands each institution only its own key files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from keys.keyfile import load_signer, save_signer
from keys.signer import Signer
from ledger.errors import KeyFileError
from ledger.model.genesis import Founder, Genesis, parse_genesis
from ledger.tlog.note import Verifier

GENESIS_FILE = "genesis.json"


def witness_name(network: str, institution: str) -> str:
    """Key name of an institution's witness key (a schema-less URL, as C2SP asks)."""
    return f"{network}/witness/{institution}"


@dataclass(frozen=True)
class InstitutionSpec:
    id: str
    name: str
    type: str


@dataclass
class NodeKeys:
    """The private keys this node holds (loaded once, kept in memory only)."""

    log: Signer | None = None
    signing: dict[str, Signer] = field(default_factory=dict)
    witness: dict[str, Signer] = field(default_factory=dict)


def _key_path(data_dir: Path, name: str) -> Path:
    return data_dir / "keys" / f"{name}.key"


def default_witness_dir(data_dir: Path) -> Path:
    """``<data>.witness``: the witness directory beside the data directory, when none is given."""
    data_dir = data_dir.resolve()
    return data_dir.with_name(data_dir.name + ".witness")


def witness_key_path(witness_dir: Path, institution: str) -> Path:
    return _key_path(witness_dir, f"{institution}.witness")


def witness_key_institutions(witness_dir: Path) -> list[str]:
    """The institutions whose witness key files are in ``witness_dir`` (no passphrase needed)."""
    return sorted(p.name[: -len(".witness.key")] for p in (witness_dir / "keys").glob("*.witness.key"))


def init_network(
    data_dir: Path,
    *,
    network: str,
    institutions: Sequence[InstitutionSpec],
    sequencer: str,
    quorum: int,
    passphrase: bytes,
    created: int,
    kdf_params: dict | None = None,
    witness_dir: Path | None = None,
) -> Genesis:
    """Generate every key of a new network into ``data_dir`` and write its genesis file; the
    witness keys go to ``witness_dir`` (default ``<data>.witness``, see ``default_witness_dir``).

    Everything is checked first (the genesis validates ids, types and the quorum): bad input writes nothing."""
    if (data_dir / GENESIS_FILE).exists():
        raise FileExistsError(f"{data_dir / GENESIS_FILE} already exists")
    witness_dir = witness_dir or default_witness_dir(data_dir)
    for inst in institutions:
        if witness_key_path(witness_dir, inst.id).exists():
            raise FileExistsError(f"{witness_key_path(witness_dir, inst.id)} already exists")
    log_key = Signer.generate()
    founders, keys = [], {"log": (log_key, network)}
    for inst in institutions:
        signing, witness = Signer.generate(), Signer.generate()
        wname = witness_name(network, inst.id)
        keys[f"{inst.id}.signing"] = (signing, inst.id)
        keys[f"{inst.id}.witness"] = (witness, wname)
        founders.append(
            Founder(inst.id, inst.name, inst.type, signing.public_key, Verifier.cosignature(wname, witness.public_key).vkey)
        )
    genesis = Genesis(
        network=network,
        created=created,
        log_vkey=Verifier.ed25519(network, log_key.public_key).vkey,
        sequencer=sequencer,
        quorum=quorum,
        founders=tuple(founders),
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "keys").mkdir(mode=0o700, exist_ok=True)
    (witness_dir / "keys").mkdir(mode=0o700, parents=True, exist_ok=True)
    kdf = kdf_params or {}
    for path_name, (signer, name) in keys.items():
        where = witness_dir if path_name.endswith(".witness") else data_dir
        save_signer(_key_path(where, path_name), signer, passphrase, name=name, **kdf)
    write_genesis(data_dir, genesis)  # last: a directory without it is not a network yet
    return genesis


def write_genesis(data_dir: Path, genesis: Genesis) -> None:
    tmp = data_dir / (GENESIS_FILE + ".tmp")
    tmp.write_text(json.dumps(genesis.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, data_dir / GENESIS_FILE)


def load_genesis(data_dir: Path) -> Genesis:
    path = data_dir / GENESIS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no genesis file at {path}; run 'eduledger network init' or 'make run' first") from None
    return parse_genesis(data)


def load_keys(
    data_dir: Path, passphrase: bytes, *, institutions: Sequence[str] | None = None, witness_dir: Path | None = None
) -> NodeKeys:
    """Load the keys present in ``data_dir`` and the witness keys in ``witness_dir`` (default
    ``<data>.witness``), optionally only those of ``institutions``. A witness key left in
    ``data_dir`` (the old layout) is not loaded: ``ledger.node.witnessdir`` moves it first."""
    keys = NodeKeys()
    log_path = _key_path(data_dir, "log")
    if log_path.exists():
        keys.log, _ = load_signer(log_path, passphrase)
    for path in sorted((data_dir / "keys").glob("*.key")):
        stem = path.name[: -len(".key")]
        inst, _, kind = stem.rpartition(".")
        if not inst or (institutions is not None and inst not in institutions):
            continue
        if kind == "signing":
            keys.signing[inst], _ = load_signer(path, passphrase)
    wdir = witness_dir or default_witness_dir(data_dir)
    for inst in witness_key_institutions(wdir):
        if institutions is None or inst in institutions:
            keys.witness[inst], _ = load_signer(witness_key_path(wdir, inst), passphrase)
    return keys


def demo_passphrase_file(data_dir: Path) -> Path:
    """Where a demo network keeps its generated passphrase (0600).

    Only ``make run`` / ``eduledger run --demo`` writes it, so a newcomer's node
    starts without questions; production nodes set EDULEDGER_KEY_PASSPHRASE or
    EDULEDGER_KEY_PASSPHRASE_FILE instead.
    """
    return data_dir / "demo-passphrase"


def write_demo_passphrase(data_dir: Path) -> bytes:
    import secrets

    data_dir.mkdir(parents=True, exist_ok=True)
    path = demo_passphrase_file(data_dir)
    passphrase = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(passphrase + "\n")
    return passphrase.encode()


PEERS_FILE = "peers.json"


def load_peers(data_dir: Path) -> dict[str, str]:
    """``peers.json``: institution id -> base URL of its node (optional; a lone node has none)."""
    path = data_dir / PEERS_FILE
    if not path.exists():
        return {}
    peers = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(peers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in peers.items()):
        raise KeyFileError(f"{path} must map institution ids to URLs")
    return peers


def write_peers(data_dir: Path, peers: dict[str, str]) -> None:
    (data_dir / PEERS_FILE).write_text(json.dumps(peers, indent=2) + "\n", encoding="utf-8")


def split_network(source: Path, dest_root: Path, urls: dict[str, str]) -> dict[str, Path]:
    """Give each founding institution its own node directory from a network made by
    ``init_network``: the genesis file, only that institution's keys (the log key only
    to the sequencer) and a peers.json naming every node; its witness key goes to the
    node's witness directory ``<dest_root>/<id>.witness``. Returns id -> directory."""
    import shutil

    genesis = load_genesis(source)
    out = {}
    for f in genesis.founders:
        node_dir = dest_root / f.id
        (node_dir / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(source / GENESIS_FILE, node_dir / GENESIS_FILE)
        shutil.copy2(_key_path(source, f"{f.id}.signing"), _key_path(node_dir, f"{f.id}.signing"))
        node_witness = default_witness_dir(node_dir)
        (node_witness / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(witness_key_path(default_witness_dir(source), f.id), witness_key_path(node_witness, f.id))
        if f.id == genesis.sequencer:
            shutil.copy2(_key_path(source, "log"), _key_path(node_dir, "log"))
        write_peers(node_dir, urls)
        out[f.id] = node_dir
    return out
