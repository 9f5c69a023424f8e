"""The committed examples/ verify with the CLI as the README shows, and `make examples` regenerates them exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.cli.examples import INVALID
from ledger.cli.examples import main as examples_main
from ledger.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
REQUIRED = ("trust.json", "olympiad-diploma.bundle.json", "teacher-certificate.bundle.json")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["olympiad-diploma", "teacher-certificate"])
def test_the_committed_sample_verifies_now_as_the_readme_shows(name, capsys):
    assert main(["verify", str(EXAMPLES / f"{name}.bundle.json"), "--trust", str(EXAMPLES / "trust.json")]) == 0
    assert "verified" in capsys.readouterr().out


def test_the_valid_samples_have_no_end_date_so_they_verify_for_years(capsys):
    valid = [str(EXAMPLES / n) for n in REQUIRED[1:]] + [str(EXAMPLES / "kinds")]
    assert main(["verify", *valid, "--trust", str(EXAMPLES / "trust.json"), "--at", "2040-01-01T00:00:00Z", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)["files"]
    assert len(reports) == 5 and all(r["status"] == "verified" for r in reports)


def test_each_invalid_sample_fails_at_its_documented_step(capsys):
    assert main(["verify", str(EXAMPLES / "invalid"), "--trust", str(EXAMPLES / "trust.json"), "--json"]) == 1
    got = {
        Path(f["file"]).name.removesuffix(".bundle.json"): next(s["step"] for s in f["steps"] if s["status"] == "failed")
        for f in json.loads(capsys.readouterr().out)["files"]
    }
    assert got == INVALID


def test_make_examples_regenerates_exactly_the_committed_files(tmp_path, capsys):
    assert examples_main([str(tmp_path)]) == 0
    fresh = _files(tmp_path)
    assert set(REQUIRED) <= set(fresh)
    assert fresh == _files(EXAMPLES), "examples/ is stale: run 'make examples' and commit the result"
    capsys.readouterr()
    assert main(["verify", str(tmp_path / REQUIRED[1]), str(tmp_path / REQUIRED[2]), "--trust", str(tmp_path / "trust.json")]) == 0


def test_make_examples_is_the_documented_command_and_needs_no_test_code():
    assert "$(BIN)/python -m ledger.cli.examples examples" in (ROOT / "Makefile").read_text()
    assert "make examples" in (ROOT / "README.md").read_text()
    probe = "import sys, ledger.cli.examples; sys.exit(any(m == 'tests' or m.startswith('tests.') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", probe], cwd=ROOT).returncode == 0
