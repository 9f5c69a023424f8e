"""Where a key passphrase comes from: environment, file, or prompt, in that order.

1. ``$EDULEDGER_KEY_PASSPHRASE`` (raw bytes of the variable; empty counts as unset);
2. the file named by ``$EDULEDGER_KEY_PASSPHRASE_FILE`` (its bytes, minus one
   trailing newline, ``\\n`` or ``\\r\\n``; an empty result is refused);
3. an interactive prompt (no echo), only when the caller allows it.

Otherwise :class:`~ledger.errors.KeyFileError` names the three ways. The
passphrase is returned as bytes and never logged.
"""

from __future__ import annotations

import getpass
import os

from ledger.errors import KeyFileError

__all__ = ["resolve_passphrase"]

_MAX_FILE_SIZE = 64 * 1024


def resolve_passphrase(
    *,
    env: str = "EDULEDGER_KEY_PASSPHRASE",
    file_env: str = "EDULEDGER_KEY_PASSPHRASE_FILE",
    prompt: bool = False,
    confirm: bool = False,
) -> bytes:
    """The key passphrase; ``confirm`` asks twice when prompting (for a new key)."""
    value = os.environ.get(env)
    if value:
        return os.fsencode(value)  # the bytes the variable holds, even if not UTF-8
    path = os.environ.get(file_env)
    if path:
        return _from_file(path, file_env)
    if prompt:
        return _ask(confirm)
    raise KeyFileError(
        f"no key passphrase: set {env}, or set {file_env} to a file that holds it, or run in a terminal to be asked"
    )


def _from_file(path: str, file_env: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_FILE_SIZE + 1)
    except OSError as e:
        raise KeyFileError(f"cannot read the passphrase file {path} named by {file_env}: {e.strerror}") from None
    if len(data) > _MAX_FILE_SIZE:
        raise KeyFileError(f"the passphrase file {path} is larger than {_MAX_FILE_SIZE} bytes; it should hold one line")
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise KeyFileError(f"the passphrase file {path} is empty; write the passphrase into it")
    return data


def _ask(confirm: bool) -> bytes:
    try:
        entered = getpass.getpass("eduledger: key passphrase: ")
        if entered and confirm and getpass.getpass("eduledger: repeat the passphrase: ") != entered:
            raise KeyFileError("the two passphrases differ; run the command again")
    except EOFError:
        raise KeyFileError("no passphrase entered; set EDULEDGER_KEY_PASSPHRASE to run without a terminal") from None
    if not entered:
        raise KeyFileError("the passphrase is empty; enter one, or set EDULEDGER_KEY_PASSPHRASE")
    return os.fsencode(entered)
