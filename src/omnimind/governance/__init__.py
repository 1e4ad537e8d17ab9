"""Governance: the policy gate every consequential action passes, decision records, the review queue.

Policies are Cedar (`cedarpy`), validated against `schema.cedarschema`; the default set is
`default_policies.cedar`. Process and formats: docs/governance/. The public surface:

    gate = Gate(engine, sink)                       # sink: a DecisionSink (the lab's ledger adapter)
    gate.require(action, principal, resource, ctx)  # before acting: Decision, or PolicyDenied / ReviewRequired
    gate.check(...) / gate.explain(...)             # decide+record without raising / dry run, no side effects
    gate.approve(id, reviewer, reason) / gate.reject(...) / gate.reviews.list() / gate.reviews.show(id)
    gate.decisions.list(**filters) / .show(id) / .export(fmt, dest, **filters)
    gate.show_policies() / gate.update_policies(text, principal) / gate.policies.history()
    install_default_policies(engine, actor, sink=...)   # the lab's init
"""

from omnimind.governance.decisions import EXPORT_COLUMNS, EXPORT_FORMATS, DecisionLog
from omnimind.governance.errors import PolicyDenied, ReviewError, ReviewRequired
from omnimind.governance.evaluate import Evaluator, Verdict
from omnimind.governance.gate import DEFAULT_REVIEW_TTL, Gate
from omnimind.governance.model import (
    ACTIONS,
    RESOURCE_TYPES,
    REVIEWER_ROLES,
    ROLES,
    Decision,
    Outcome,
    PolicyRef,
    Principal,
    Resource,
)
from omnimind.governance.policyset import (
    PolicyDocument,
    PolicyInfo,
    default_policies_text,
    policy_digest,
    schema_text,
)
from omnimind.governance.records import DECISION_FORMAT, POLICY_FORMAT, REVIEW_FORMAT, request_digest
from omnimind.governance.reviews import Review, ReviewQueue, ReviewRequest
from omnimind.governance.sink import DecisionSink, ledger_fields
from omnimind.governance.store import PolicyStore, PolicyVersion, install_default_policies

__all__ = [
    "ACTIONS",
    "DECISION_FORMAT",
    "DEFAULT_REVIEW_TTL",
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "POLICY_FORMAT",
    "RESOURCE_TYPES",
    "REVIEWER_ROLES",
    "REVIEW_FORMAT",
    "ROLES",
    "Decision",
    "DecisionLog",
    "DecisionSink",
    "Evaluator",
    "Gate",
    "Outcome",
    "PolicyDenied",
    "PolicyDocument",
    "PolicyInfo",
    "PolicyRef",
    "PolicyStore",
    "PolicyVersion",
    "Principal",
    "Resource",
    "Review",
    "ReviewError",
    "ReviewQueue",
    "ReviewRequest",
    "ReviewRequired",
    "Verdict",
    "default_policies_text",
    "install_default_policies",
    "ledger_fields",
    "policy_digest",
    "request_digest",
    "schema_text",
]
