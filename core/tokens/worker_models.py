"""A worker's model name (``tiny``) to the folder or hub id its tokenizer lives in.

``tunebot validate --model tiny`` counts tokens for the model the worker will
train; the worker's ``GET /v1/models`` says where each base model comes from
(its ``root``), and a local folder there has the tokenizer.
"""

from __future__ import annotations

import httpx

from core.errors import ConfigError


def worker_base_models(*, url: str, api_key: str | None, timeout: float = 5.0) -> dict[str, str]:
    """The worker's base models, name -> root, in the order it lists them (the first
    is its default).

    Raises:
        ConfigError: the worker cannot be reached or refuses the key.
    """
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/models", headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"Could not ask the worker at {url} for its models: {type(exc).__name__}.",
            hint="Check TUNEBOT_WORKER_URL and that `tunebot worker` is running.",
        ) from None
    if response.status_code in (401, 403):
        raise ConfigError(
            "The worker refused the API key.", hint="Set TUNEBOT_WORKER_API_KEY to its key."
        )
    if response.status_code != 200:
        raise ConfigError(f"The worker answered {response.status_code} for its model list.")
    return {
        str(m["id"]): m["root"]
        for m in (response.json().get("data") or [])
        if isinstance(m, dict) and isinstance(m.get("root"), str) and m["root"]
    }


def worker_model_root(name: str, *, url: str, api_key: str | None, timeout: float = 5.0) -> str:
    """The ``root`` (folder or hub id) of the worker's base model ``name``.

    Raises:
        ConfigError: the worker cannot be reached, refuses the key, or serves no
            base model of that name (the message lists the ones it serves).
    """
    roots = worker_base_models(url=url, api_key=api_key, timeout=timeout)
    if name not in roots:
        served = ", ".join(sorted(roots)) or "none"
        raise ConfigError(
            f"The worker serves no base model {name!r} (it serves: {served}).",
            hint="Use one of those names, a model folder, or a Hugging Face id.",
        )
    return roots[name]
