"""Every ``eduledger`` command: ``main`` (the app: run, demo, ledger audit), ``network`` (init, status,
export-trust), ``keys``, ``credential`` and ``examples`` (``make examples``, over ``sample_network``). The
``verify`` command is ``verifier.cli``, mounted here. Shared options and helpers are in ``common``.
"""
