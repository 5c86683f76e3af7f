"""Katib's SDK constants (``kubeflow.katib.constants.constants``), with the training operator's few that
``tune`` uses."""

from __future__ import annotations

DEFAULT_TIMEOUT = 120  # seconds, for a request to the server
RFC3339_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

KATIB_VERSION = "v1beta1"
KUBEFLOW_GROUP = "kubeflow.org"
API_VERSION = f"{KUBEFLOW_GROUP}/{KATIB_VERSION}"
EXPERIMENT_KIND = "Experiment"
EXPERIMENT_PLURAL = "experiments"
SUGGESTION_PLURAL = "suggestions"
TRIAL_PLURAL = "trials"

DEFAULT_PRIMARY_CONTAINER_NAME = "training-container"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
TRIAL_LABEL = "katib.kubeflow.org/trial"
CONDITION_STATUS_TRUE = "True"

EXPERIMENT_CONDITION_CREATED = "Created"
EXPERIMENT_CONDITION_RUNNING = "Running"
EXPERIMENT_CONDITION_RESTARTING = "Restarting"
EXPERIMENT_CONDITION_SUCCEEDED = "Succeeded"
EXPERIMENT_CONDITION_FAILED = "Failed"
TRIAL_CONDITION_SUCCEEDED = "Succeeded"

BASE_IMAGE_TENSORFLOW = "docker.io/tensorflow/tensorflow:2.13.0"
BASE_IMAGE_TENSORFLOW_GPU = "docker.io/tensorflow/tensorflow:2.13.0-gpu"
BASE_IMAGE_PYTORCH = "docker.io/pytorch/pytorch:2.2.1-cuda12.1-cudnn8-runtime"

# Katib's in-cluster address; pykatib's own DB manager is the local server's (``db_manager`` in server.json).
DEFAULT_DB_MANAGER_ADDRESS = "katib-db-manager.kubeflow:6789"

PVC_DEFAULT_SIZE = "10Gi"
PVC_DEFAULT_ACCESS_MODES = ["ReadWriteOnce", "ReadOnlyMany"]

# The training operator's (kubeflow.training.constants), as tune() uses them.
ENTRYPOINT_PYTHON = "python -u"
ENTRYPOINT_TORCH = "torchrun"
DEFAULT_COMMAND = ["bash", "-c"]
PYTORCHJOB_KIND = "PyTorchJob"
PYTORCHJOB_API_VERSION = "kubeflow.org/v1"
PYTORCHJOB_CONTAINER = "pytorch"
ISTIO_SIDECAR_INJECTION = "sidecar.istio.io/inject"
