"""The names the server gives Katib's objects: group, labels and pykatib's own annotations (light to import:
the client verbs use them too)."""

GROUP = "kubeflow.org"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
TRIAL_LABEL = "katib.kubeflow.org/trial"
PRIMARY_LABEL = "pykatib.kubeflow.org/primary"  # on the pod of a trial's primary replica
STOP_ANNOTATION = "pykatib.kubeflow.org/stop"  # "true": end the experiment now (`pykatib stop`)
SOURCE_DIR_ANNOTATION = "pykatib.kubeflow.org/source-dir"  # where its relative paths are found
# Katib's sidecar on the primary pod of a trial whose metrics it collects (StdOut: it prints the trial's output)
COLLECTOR_CONTAINER = "metrics-logger-and-collector"
