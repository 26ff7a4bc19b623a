"""Shared storage for validated dataset files, through fsspec.

Why: with several bot replicas, the replica that validates a dropped file is
rarely the one whose **Start** button is clicked, so the file a job uploads
must live where every replica reads it: a folder they all mount (the default,
``TUNEBOT_DATA_DIR``, is that folder for a single process) or object storage
(``TUNEBOT_STORAGE_URL=s3://bucket/prefix``, through s3fs; credentials and a
custom endpoint come from the usual ``AWS_*`` variables).

Rows store a file's *location*: an absolute path for a folder, the full URL
(``s3://bucket/prefix/key``) for object storage, so every replica reads the
same string. Providers upload from a local path, so readers ask for
:meth:`SharedStorage.local_copy`, which is the file itself on a folder and a
temporary download from object storage.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec

from core.config import Settings
from core.errors import ConfigError


class SharedStorage:
    """A root folder (local path or ``proto://bucket/prefix``) that every replica reads."""

    def __init__(self, url: str) -> None:
        text = url.strip().rstrip("/")
        if not text:
            raise ConfigError("TUNEBOT_STORAGE_URL is empty; give a folder or an s3:// URL.")
        self.remote = "://" in text and not text.startswith("file://")
        if self.remote:
            fs, root = fsspec.core.url_to_fs(text)
            self.protocol = text.split("://", 1)[0]
            self.root = str(root).rstrip("/")
        else:
            local = Path(text.removeprefix("file://")).expanduser().resolve()
            fs = fsspec.filesystem("file")
            self.protocol = "file"
            self.root = str(local)
        self.fs: Any = fs  # fsspec has no type stubs

    @classmethod
    def from_settings(cls, settings: Settings) -> SharedStorage:
        return cls(settings.storage_url or str(settings.data_dir))

    def location(self, key: str) -> str:
        """The location string stored in rows for ``key`` (a ``/``-separated relative path)."""
        path = f"{self.root}/{key.strip('/')}"
        return f"{self.protocol}://{path}" if self.remote else path

    def put(self, local: Path, key: str) -> str:
        """Copy a local file to ``key``; returns its location."""
        target = self.location(key)
        fs, path = self._resolve(target)
        if not self.remote:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        fs.put_file(str(local), path)
        return target

    def exists(self, location: str) -> bool:
        fs, path = self._resolve(location)
        return bool(fs.isfile(path))

    @contextmanager
    def local_copy(self, location: str) -> Iterator[Path]:
        """A local path holding the file at ``location`` while the block runs.

        Raises:
            FileNotFoundError: nothing is stored there.
        """
        fs, path = self._resolve(location)
        if "file" in _protocols(fs):
            if not Path(path).is_file():
                raise FileNotFoundError(location)
            yield Path(path)
            return
        with tempfile.TemporaryDirectory(prefix="tunebot-shared-") as tmp:
            local = Path(tmp) / (Path(path).name or "file")
            if not fs.isfile(path):
                raise FileNotFoundError(location)
            fs.get_file(path, str(local))
            yield local

    def delete_tree(self, key: str) -> None:
        """Remove everything under ``key`` (best effort, for cleanup)."""
        fs, path = self._resolve(self.location(key))
        if self.remote:
            if fs.exists(path):
                fs.rm(path, recursive=True)
        else:
            shutil.rmtree(path, ignore_errors=True)

    def _resolve(self, location: str) -> tuple[Any, str]:
        """The filesystem and path of a stored location.

        Locations under this storage use its filesystem (with its options);
        older rows may hold a plain local path, read from the local disk.
        """
        if self.remote and location.startswith(f"{self.protocol}://"):
            return self.fs, location.split("://", 1)[1]
        if "://" in location and not location.startswith("file://"):
            fs, path = fsspec.core.url_to_fs(location)
            return fs, str(path)
        return fsspec.filesystem("file"), location.removeprefix("file://")


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
