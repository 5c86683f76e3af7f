"""Katib's DB manager (katib-db-manager): its gRPC ``DBManager`` service, so that Katib's ``report_metrics``,
its Push collector and ``KatibClient.get_trial_metrics`` reach pykatib unchanged.

``servicer``: the service over the store and the trials' Push files; ``port``: the port that also answers
HTTP CONNECT for Katib's cluster names; ``host``: one running DB manager and the environment trials get;
``trial_site``: the ``sitecustomize`` that lets Katib's SDK run outside a pod.
"""

from pykatib.dbmanager.host import DEFAULT_PORT, DBManager, trial_resolver
from pykatib.dbmanager.servicer import DBManagerServicer, TrialResolver, TrialTarget

__all__ = ["DEFAULT_PORT", "DBManager", "DBManagerServicer", "TrialResolver", "TrialTarget", "trial_resolver"]
