"""What the checkpoint cache relies on in joblib beyond its documented API.

``joblib.register_store_backend`` is joblib's documented way to plug a store into
``Memory``, but the file-system store it would be built on,
``FileSystemStoreBackend``, lives in the private ``joblib._store_backends``.
:class:`LeanFileStore` subclasses it; this module is the one place that imports
it.  ``tests/test_compat.py`` fails loudly when a joblib release changes what the
subclass relies on (the methods it overrides and the attributes it reads); the
range of joblib versions it is tested with is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from typing import Any

import joblib
from joblib import register_store_backend
from joblib._store_backends import FileSystemStoreBackend

__all__ = ["STORE_BACKEND", "LeanFileStore"]


class LeanFileStore(FileSystemStoreBackend):
    """joblib's file-system store without each entry's ``metadata.json``.

    joblib writes a ``metadata.json`` (the call's arguments as text, its duration)
    beside every ``output.pkl`` and reads it back, twice, on every hit; nothing here
    uses it (entries are validated by their checksum and evicted by the access
    time of ``output.pkl``), and it doubles the file-system calls of an entry.
    Registered with ``joblib.register_store_backend``, joblib's documented way to
    plug a store into ``Memory`` (the base class lives in ``joblib._store_backends``,
    where that API keeps it).  Entries stay readable by a plain ``Memory``.
    """

    def dump_item(self, call_id: Any, item: Any, verbose: int = 1) -> None:
        """Write one entry; a failure raises ``OSError`` and leaves no partial file.

        joblib's own store turns every write failure into a ``CacheWarning`` on
        stderr and goes on, so a full disk would pass unnoticed (and leave the
        partial temporary file behind).  Here the caller learns of it and says so.
        """
        folder = os.path.join(self.location, *call_id)
        target = os.path.join(folder, "output.pkl")
        temporary = f"{target}.{uuid.uuid4().hex}-{os.getpid()}-{threading.get_ident()}"
        try:
            os.makedirs(folder, exist_ok=True)
            with open(temporary, "wb") as file:
                joblib.dump(item, file, compress=self.compress)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when it is empty: never an entry written before
            raise

    def store_metadata(self, call_id: Any, metadata: Any) -> None:
        return None

    def get_metadata(self, call_id: Any) -> dict[str, Any]:
        return {}


#: The ``Memory(backend=...)`` name of :class:`LeanFileStore`.
STORE_BACKEND = "technic_nb_files"


register_store_backend(STORE_BACKEND, LeanFileStore)
