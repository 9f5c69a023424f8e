"""``eduledger network init``: the quorum counts the institutions besides the sequencer."""

from __future__ import annotations

import json

import pytest

from ledger.cli.main import main

INSTITUTIONS = ["olymp:olympiad-organiser:Olympiad", "ipk:training-institute:Institute", "uni:university:University", "lyc:school:Lyceum"]


@pytest.fixture(autouse=True)
def passphrase(monkeypatch):
    monkeypatch.setenv("EDULEDGER_KEY_PASSPHRASE", "correct horse battery staple")


def _init(tmp_path, *extra: str) -> int:
    args = ["network", "init", "--data-dir", str(tmp_path / "net"), "--network", "cli.example/net"]
    for i in INSTITUTIONS:
        args += ["--institution", i]
    return main(args + list(extra))


def test_the_default_quorum_is_a_majority_of_the_institutions_besides_the_sequencer(tmp_path, capsys):
    assert _init(tmp_path) == 0
    genesis = json.loads((tmp_path / "net" / "genesis.json").read_text())
    assert genesis["quorum"] == 2 and genesis["sequencer"] == "olymp"
    assert "quorum 2 of the 3 besides the sequencer olymp" in capsys.readouterr().out


def test_a_quorum_the_sequencer_would_have_to_help_reach_is_refused(tmp_path, capsys):
    assert _init(tmp_path, "--quorum", "4") == 2
    err = capsys.readouterr().err
    assert "besides the sequencer" in err and "Traceback" not in err
    assert not (tmp_path / "net").exists()  # nothing written: no keys, no genesis
