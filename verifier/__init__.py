"""Pure verification of credential bundles against a trust policy.

    from verifier import verify, TrustPolicy
    report = verify(bundle_bytes, TrustPolicy.from_bytes(trust_bytes), now=int(time.time()))
    report.ok, report.status, [s.message for s in report.steps]
"""

from verifier.report import Report, Step
from verifier.trust import TrustPolicy, load_trust
from verifier.verify import CheckpointCache, verify, verify_consistency_of

__all__ = ["CheckpointCache", "Report", "Step", "TrustPolicy", "load_trust", "verify", "verify_consistency_of"]
