"""Where the node's key passphrase comes from: environment, file, or prompt, in that order."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from ledger.errors import KeyFileError


def resolve_passphrase(*, env: str = "EDULEDGER_KEY_PASSPHRASE", file_env: str = "EDULEDGER_KEY_PASSPHRASE_FILE", prompt: bool = False) -> bytes:
    value = os.environ.get(env)
    if value:
        return value.encode()
    path = os.environ.get(file_env)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise KeyFileError(f"cannot read the passphrase file {path}: {e.strerror}") from None
        text = text[:-1] if text.endswith("\n") else text
        if not text:
            raise KeyFileError(f"the passphrase file {path} is empty")
        return text.encode()
    if prompt:
        entered = getpass.getpass("key passphrase: ")
        if entered:
            return entered.encode()
    raise KeyFileError(f"no key passphrase: set {env}, or {file_env} to a file holding it, or run interactively to be asked")
