"""The few places that rely on another library's internals.

Each is tested to fail loudly when that library changes.

Internal: the public API is what ``technic_nb`` exports."""
