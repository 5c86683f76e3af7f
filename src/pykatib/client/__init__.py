"""The client side of `pykatib server`: finding or starting a server, and pykatib's kubectl-like verbs."""
