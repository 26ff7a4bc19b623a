"""core.tokens.encodings: the bundled encodings: hash-checked, offline, clear errors."""

import gzip
import hashlib
import inspect
import shutil
from pathlib import Path

import pytest
import tiktoken
from tiktoken_ext import openai_public

from core.errors import ConfigError
from core.tokens import (
    get_encoding,
    load_encoding,
)
from core.tokens.encodings import _tiktoken_recipe
from tests.core.tokens.conftest import BUNDLED


def test_bundled_encodings_give_the_published_token_ids(
    cl100k: tiktoken.Encoding, o200k: tiktoken.Encoding
) -> None:
    assert cl100k.encode_ordinary("hello world") == [15339, 1917]
    assert o200k.encode_ordinary("hello world") == [24912, 2375]
    assert cl100k.n_vocab == 100277 and o200k.n_vocab == 200019
    assert cl100k.encode("<|endoftext|>", allowed_special="all") == [100257]
    assert o200k.encode("<|endoftext|>", allowed_special="all") == [199999]
    assert get_encoding("o200k_base") is o200k  # cached


def test_recipe_is_tiktokens_own_including_its_expected_hash() -> None:
    recipe, url, expected_hash = _tiktoken_recipe("o200k_base")
    source = inspect.getsource(openai_public.o200k_base)
    assert expected_hash in source and url in source
    assert recipe["special_tokens"] == {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}
    _, _, cl_hash = _tiktoken_recipe("cl100k_base")
    assert cl_hash == "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def _copy_with_flipped_byte(name: str, folder: Path) -> Path:
    assert BUNDLED is not None
    data = bytearray(gzip.decompress((BUNDLED / f"{name}.tiktoken.gz").read_bytes()))
    data[1000] ^= 0x01  # still valid base64 text shape, different bytes
    target = folder / f"{name}.tiktoken.gz"
    target.write_bytes(gzip.compress(bytes(data)))
    return target


def test_tampered_encoding_file_is_a_hard_error(tmp_path: Path) -> None:
    _copy_with_flipped_byte("cl100k_base", tmp_path)
    with pytest.raises(ConfigError, match="sha256") as raised:
        load_encoding("cl100k_base", data_dir=tmp_path)
    assert "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7" in str(raised.value)


def test_untampered_copy_loads_from_the_given_folder(tmp_path: Path) -> None:
    assert BUNDLED is not None
    shutil.copy(BUNDLED / "cl100k_base.tiktoken.gz", tmp_path)
    encoding = load_encoding("cl100k_base", data_dir=tmp_path)
    assert encoding.encode_ordinary("hello world") == [15339, 1917]


def test_damaged_gzip_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "o200k_base.tiktoken.gz").write_bytes(b"\x1f\x8b\x08not really gzip")
    with pytest.raises(ConfigError, match="damaged"):
        load_encoding("o200k_base", data_dir=tmp_path)


def test_missing_bundle_falls_back_to_tiktokens_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prime tiktoken's own cache the way a previous online run would have, so
    # the fallback runs tiktoken's real loader (and its hash check) offline.
    assert BUNDLED is not None
    _, url, _ = _tiktoken_recipe("cl100k_base")
    cache = tmp_path / "cache"
    cache.mkdir()
    data = gzip.decompress((BUNDLED / "cl100k_base.tiktoken.gz").read_bytes())
    (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    empty = tmp_path / "empty"
    empty.mkdir()
    encoding = load_encoding("cl100k_base", data_dir=empty)
    assert encoding.encode_ordinary("hello world") == [15339, 1917]


def test_unknown_encoding_lists_the_supported_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        get_encoding("p50k_base")
    assert "o200k_base" in raised.value.user_message()
