"""Builds the optional native hashing core (ledger/_native.c over libcrypto).

If no compiler or OpenSSL headers are present, the build of the extension is
skipped with a warning and the pure-Python core in ledger/_hashing.py is used:
installing never fails because of it. Metadata lives in pyproject.toml.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as e:  # noqa: BLE001 - any build failure means "use the pure core"
            print(f"warning: native hashing core not built ({e}); using the pure-Python core")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:  # noqa: BLE001
            print(f"warning: native hashing core not built ({e}); using the pure-Python core")


setup(
    ext_modules=[Extension("ledger._native", ["ledger/_native.c"], libraries=["crypto"], extra_compile_args=["-O2"], optional=True)],
    cmdclass={"build_ext": OptionalBuildExt},
)
