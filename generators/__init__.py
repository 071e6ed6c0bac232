"""Generator adapters: one sub-package per family (networks, training, sampling)."""
