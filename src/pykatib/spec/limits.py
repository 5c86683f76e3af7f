"""Bounds on what an Experiment may hold, in one place.

This module imports nothing, so that any package (the store's column widths included) can use these
numbers without importing the spec's validation and what it needs.
"""

from __future__ import annotations

# An Experiment is a Kubernetes object: the API server refuses a request body over 3 MiB.
MAX_FILE_BYTES = 3 * 1024 * 1024
# How many nodes YAML aliases may add to the nodes written in a file, over all its documents. A YAML
# alias repeats a whole subtree, so a small file can stand for a huge document ("billion laughs").
# Katib's own examples use no aliases and have a few hundred nodes in all.
MAX_ALIAS_NODES = 100_000
# How many characters of text aliases may repeat: an alias to one long string is one node but the whole
# string again. As much as a whole file may hold.
MAX_ALIAS_CHARACTERS = MAX_FILE_BYTES

# Katib's validating webhook: metadata.name matches [a-z]([-a-z0-9]*[a-z0-9])? and has at most 40 characters.
MAX_NAME_LENGTH = 40
# metadata.namespace is a Kubernetes namespace: a DNS-1123 label.
MAX_NAMESPACE_LENGTH = 63
# Metric names are stored per observation (the store's observation_logs.metric_name, as in Katib's DB).
MAX_METRIC_NAME_LENGTH = 255
# Parameter names travel with every trial (its assignment, the labels of staged algorithms).
MAX_PARAMETER_NAME_LENGTH = 255
