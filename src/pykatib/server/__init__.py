"""`pykatib server`: the Kubernetes-style API for Katib's kinds, and the controllers it runs."""
