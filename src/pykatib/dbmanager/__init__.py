"""Katib's DB manager (katib-db-manager): its gRPC ``DBManager`` service, so that Katib's ``report_metrics``,
its Push collector and ``KatibClient.get_trial_metrics`` reach pykatib unchanged.

``servicer``: the service over the store and the trials' Push files; ``port``: the port that also answers
HTTP CONNECT for Katib's cluster names; ``host``: one running DB manager and the environment trials get;
``trials``: the trials it serves, by name; ``trial_site``: the ``sitecustomize`` that lets Katib's SDK run
outside a pod. Importing this package does not import grpc (``DBManager`` does, when it is made).
"""

from pykatib.dbmanager.host import DEFAULT_PORT, PORT_FILE, DBManager, listen_again, remember_port
from pykatib.dbmanager.trials import TrialResolver, TrialTarget, trial_resolver

__all__ = [
    "DEFAULT_PORT", "PORT_FILE", "DBManager", "TrialResolver", "TrialTarget", "listen_again", "remember_port",
    "trial_resolver",
]  # fmt: skip
