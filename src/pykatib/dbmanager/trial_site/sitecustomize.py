"""Katib's SDK in a pykatib trial, unchanged: first on the trial's ``PYTHONPATH``, Python runs this at start.

``kubeflow.katib.report_metrics`` first reads the pod's namespace from the service account's file, which
exists only in a pod. Once ``kubeflow.katib.utils.utils`` is imported (a meta-path hook wraps its loader), and
only when that file is missing, its ``get_current_k8s_namespace`` returns the trial's namespace
(``PYKATIB_TRIAL_NAMESPACE``). Then the next ``sitecustomize`` on ``sys.path`` runs, as if this one were not
there.

Every python a trial starts runs this: it imports nothing of pykatib's and nothing heavy, and it keeps to
syntax any python 3 reads.
"""

import os
import sys

NAMESPACE_ENV = "PYKATIB_TRIAL_NAMESPACE"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
TARGET = "kubeflow.katib.utils.utils"


def _trial_namespace():
    return os.environ.get(NAMESPACE_ENV) or "default"


def _patch(module):
    if not os.path.exists(SERVICE_ACCOUNT_NAMESPACE):
        module.get_current_k8s_namespace = _trial_namespace


class _PatchingLoader:
    """The module's own loader, with the patch applied once the module has run."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch(module)


class _KatibSdkFinder:
    """Finds TARGET with the finders after it, and wraps the loader it gets."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader)  # type: ignore[assignment]  # it delegates
                return spec
        return None


def _install():
    if not any(isinstance(finder, _KatibSdkFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KatibSdkFinder())
    module = sys.modules.get(TARGET)
    if module is not None:  # imported already (by a .pth file)
        _patch(module)


def _chain():
    """Run the next ``sitecustomize`` on ``sys.path`` (a distribution's or a virtual environment's). Most
    interpreters have none: a look at each directory first, so that importlib's helpers are imported only
    for one there may be (they cost milliseconds at every start of every python a trial runs)."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    if not any(_may_hold_sitecustomize(p) for p in rest):
        return
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _may_hold_sitecustomize(entry):
    """Whether ``sys.path`` entry ``entry`` may hold a ``sitecustomize``: a module (source or compiled) or a
    package in a directory, or an archive (a file: zipimport looks inside). Extension modules are not
    looked for."""
    base = os.path.join(entry or os.curdir, "sitecustomize")
    return (os.path.exists(base + ".py") or os.path.isdir(base) or os.path.exists(base + ".pyc")
            or os.path.isfile(entry or os.curdir))  # fmt: skip


_install()
_chain()
