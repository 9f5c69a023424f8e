"""Builds the optional native core: the toolkit's hashing kernels, ledger/tlog/_native.c, linked against
OpenSSL's libcrypto, and the model's batch composer, ledger/model/_compose.c, which hashes through them
(ledger/tlog/_native_api.h).

Project metadata lives in pyproject.toml; this file only adds the extensions. They are
optional: when there is no C compiler, no Python or OpenSSL headers, or no libcrypto to link,
the build prints a warning and the install goes on without it, and ledger/tlog/_hashing.py uses its
pure-Python twin (same results, slower). ``EDULEDGER_NO_NATIVE=1`` at build time skips the
build; at run time it makes an installed extension go unused.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns and carries on when an extension cannot be built."""

    def run(self):
        if os.environ.get("EDULEDGER_NO_NATIVE"):
            self._warn("EDULEDGER_NO_NATIVE is set")
            return
        try:
            super().run()
        except Exception as e:  # noqa: BLE001 - e.g. no compiler found: any failure means "pure core"
            self._warn(e)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:  # noqa: BLE001 - CompileError, LinkError, DistutilsExecError, ...
            self._warn(e)

    @staticmethod
    def _warn(reason):
        print(
            f"WARNING: eduledger's native hashing core (ledger/tlog/_native.c) was not built: {reason}. "
            "Installing without it; the pure-Python core is used (same results, slower). "
            "To build it, install a C compiler and the OpenSSL headers (Debian: gcc libssl-dev) and reinstall.",
            file=sys.stderr,
        )


setup(
    ext_modules=[
        Extension(
            "ledger.tlog._native",
            ["ledger/tlog/_native.c"],
            depends=["ledger/tlog/_native_api.h"],
            libraries=["crypto"],
            extra_compile_args=["-O2"],
            # optional: setuptools then also skips copying a missing module in editable installs
            optional=True,
        ),
        # The model layer's batch composer hashes through the toolkit's kernels (a capsule, no link).
        Extension(
            "ledger.model._compose",
            ["ledger/model/_compose.c"],
            depends=["ledger/tlog/_native_api.h"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
