"""The web UI of ``pykatib server`` (issue 14), served under ``/ui/`` on the server's own port: Katib's pages
(experiments, an experiment with its trials, a trial with its log, a YAML editor) and optuna-dashboard's
analysis plots, live. ``routes.mount`` adds it to the server's app; ``auth`` is its side of the server's token.

Pages are HTML shells with one JavaScript module each (``static/``), drawing with Apache ECharts (vendored in
``static/vendor/``, a 2D canvas: fast at 10,000 trials without a GPU); they read compact columnar JSON from
``/ui/api`` (``data``) and act through the server's own Kubernetes API (``/ui/kube/...``), as kubectl does.
"""

from pykatib.ui.auth import TOKEN_COOKIE, is_ui, refuse, ui_allowed
from pykatib.ui.routes import mount

__all__ = ["TOKEN_COOKIE", "is_ui", "mount", "refuse", "ui_allowed"]
