"""The persistent per-symbol checkpoint cache, on joblib.Memory.

Internal: the public API is what ``technic_nb`` exports."""
