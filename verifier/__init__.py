"""Pure verification of credential bundles against a trust policy.

    from verifier import TrustPolicy, CheckpointCache, verify
    trust = TrustPolicy.from_bytes(trust_file_bytes)
    seen = CheckpointCache(trust)                      # one per verifier run: checkpoints verified once
    report = verify(bundle_bytes, trust, now=int(time.time()), seen=seen)
    report.ok, report.status, [(s.number, s.name, s.status, s.message) for s in report.steps]

No I/O here: ``verifier.cli`` reads files and ``verifier.online`` talks to a node.
"""

from verifier.report import Report, Step
from verifier.trust import TrustPolicy, load_trust
from verifier.verify import CheckpointCache, StatusRefresh, verify, verify_consistency_of

__all__ = ["CheckpointCache", "Report", "StatusRefresh", "Step", "TrustPolicy", "load_trust", "verify", "verify_consistency_of"]
