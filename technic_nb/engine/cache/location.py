"""Where a configuration's checkpoints live: decoded once, in one place.

:meth:`Checkpoints.of` turns ``ScanConfig``'s ``use_cache``, ``cache_dir``,
``memory`` and limits into one object, the way scikit-learn's ``check_memory``
normalises ``memory=``; everything else (the scan's plan, ``tn.clear_cache``,
``tn.prune_cache``, the registry of running scans, the fetches a cancelled scan
left running) takes it from there:

==================  ====================================  ========================
the config          the ``joblib.Memory`` location        made private (0700)
==================  ====================================  ========================
``cache_dir=D``     ``D/checkpoints``                     ``D``
(neither)           ``default_cache_dir()/checkpoints``   that folder
``memory=P``        ``P``                                 ``P``
``memory=Memory``   its location                          nothing: the user's own
``use_cache=False`` nothing is cached                     nothing
==================  ====================================  ========================
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from joblib import Memory

from technic_nb.core.errors import cache_error
from technic_nb.engine.cache.checkpoints import CheckpointCache

if TYPE_CHECKING:
    from technic_nb.engine.config import ScanConfig

__all__ = ["CHECKPOINT_FOLDER", "Checkpoints", "cache_size", "clear_cache", "location_key"]

#: Sub-folder of ``cache_dir`` that holds the ``joblib.Memory`` location.
CHECKPOINT_FOLDER = "checkpoints"


def location_key(folder: str | os.PathLike[str]) -> str:
    """The text that names a folder whatever the path spelled (absolute, links resolved)."""
    return str(Path(folder).expanduser().resolve())


@dataclass(frozen=True)
class Checkpoints:
    """The checkpoint cache of one configuration, before it is opened.

    Attributes:
        location: the ``joblib.Memory`` location.
        private: the folder made private to the user when opened (None for a
            ``joblib.Memory`` the user gave: it is theirs).
        memory: that ``joblib.Memory``, used as is (None otherwise).
        bytes_limit, age_limit: the config's eviction limits (None: none).
    """

    location: Path
    private: Path | None
    memory: Memory | None = None
    bytes_limit: int | str | None = None
    age_limit: dt.timedelta | None = None

    @classmethod
    def of(cls, config: ScanConfig) -> Checkpoints | None:
        """The checkpoints of ``config``; None when it caches nothing."""
        limits = {"bytes_limit": config.cache_bytes_limit, "age_limit": config.cache_age_limit}
        if not config.use_cache:
            return None
        memory = config.memory
        if isinstance(memory, Memory):
            if memory.location is None:  # Memory(None): joblib's "cache nothing"
                return None
            return cls(Path(str(memory.location)), None, memory, **limits)  # type: ignore[arg-type]
        if isinstance(memory, Path):
            return cls(memory, memory, **limits)  # type: ignore[arg-type]
        folder = config.resolved_cache_dir
        return cls(folder / CHECKPOINT_FOLDER, folder, **limits)  # type: ignore[arg-type]

    @property
    def key(self) -> str:
        """The location as one text (what two scans on the same cache share)."""
        return location_key(self.location)

    def open(self) -> CheckpointCache:
        """The cache, its folders created (the private one 0700) and checked.

        Raises:
            ScanError: a ``cache_error`` when a folder cannot be created or used.
        """
        if self.private is not None:
            _make_private(self.private)
        try:
            self.location.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise cache_error(self.location, f"cannot create it: {exc.strerror or exc}") from None
        if not os.access(self.location, os.R_OK | os.W_OK | os.X_OK):
            raise cache_error(self.location, "it cannot be read and written")
        try:
            if self.memory is not None:
                return CheckpointCache(self.memory)
            return CheckpointCache.at(self.location)
        except OSError as exc:
            raise cache_error(self.location, str(exc.strerror or exc)) from None

    def clear_everything(self) -> None:
        """Remove every checkpoint at the location (entries of earlier versions too)."""
        if self.memory is not None or self.private == self.location:
            self.open().memory.clear(warn=False)
        else:
            clear_cache(self.location.parent)

    def prune(
        self,
        bytes_limit: int | str | None = None,
        age_limit: Any = None,
        items_limit: int | None = None,
    ) -> int:
        """Evict least recently used entries until the limits hold (the config's when none
        is given); return how many went."""
        if not self.location.exists():
            return 0
        if bytes_limit is None and age_limit is None and items_limit is None:
            bytes_limit, age_limit = self.bytes_limit, self.age_limit
            if bytes_limit is None and age_limit is None:
                return 0
        try:
            return self.open().prune(bytes_limit, age_limit, items_limit)
        except OSError:
            return 0


def _make_private(folder: Path) -> None:
    """Create ``folder`` private to the user (0700), with a clear error if that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.name == "posix" and folder.stat().st_uid == os.getuid():
            os.chmod(folder, 0o700)
    except OSError as exc:
        raise cache_error(
            folder,
            f"cannot create it: {exc.strerror or exc}",
            "Pass cache_dir= a writable folder, or use_cache=False.",
        ) from None


def cache_size(cache_dir: str | Path) -> int:
    """Bytes used under ``cache_dir`` (0 if it does not exist)."""
    root = Path(cache_dir).expanduser()
    total = 0
    if root.is_dir():
        for dirpath, _dirnames, filenames in os.walk(root):
            for name in filenames:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def clear_cache(cache_dir: str | Path) -> None:
    """Delete every checkpoint under ``cache_dir`` (entries of earlier formats included)."""
    root = Path(cache_dir).expanduser() / CHECKPOINT_FOLDER
    if root.exists():
        shutil.rmtree(root)
