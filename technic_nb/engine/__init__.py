"""The scan engine: configuration, universe, plan, workers, checkpoints, hooks and the result.

Internal: the public API is what ``technic_nb`` exports."""
