"""The example-level fields of a chat example: tools, functions, parallel_tool_calls."""

from __future__ import annotations

from core.validation.content import Problem, describe

_DEFINITION_FIX = (
    'Define tools as [{"type": "function", "function": {"name": "...", '
    '"description": "...", "parameters": {...JSON schema...}}}].'
)


def check_definitions(value: object, *, key: str, problems: list[Problem]) -> None:
    """``tools`` (current) or ``functions`` (deprecated) definitions."""
    if not isinstance(value, list) or not value:
        problems.append(
            (
                "invalid_tools",
                f"'{key}' must be a non-empty list, got {describe(value)}.",
                _DEFINITION_FIX,
            )
        )
        return
    for index, entry in enumerate(value):
        where = f"{key}[{index}]"
        function = entry
        if key == "tools":
            if not isinstance(entry, dict) or entry.get("type") != "function":
                problems.append(
                    (
                        "invalid_tools",
                        f"{where} must be an object with type 'function'.",
                        _DEFINITION_FIX,
                    )
                )
                continue
            function = entry.get("function")
        if not isinstance(function, dict) or type(function.get("name")) is not str:
            problems.append(("invalid_tools", f"{where} has no function name.", _DEFINITION_FIX))
        elif "parameters" in function and not isinstance(function["parameters"], dict):
            problems.append(
                (
                    "invalid_tools",
                    f"{where}.parameters must be a JSON schema object.",
                    _DEFINITION_FIX,
                )
            )


def check_example_fields(
    example: dict[str, object], *, allowed: frozenset[str], problems: list[Problem]
) -> bool:
    """Top-level fields beside ``messages``; returns whether deprecated ones are used."""
    unknown = [key for key in example if key not in allowed]
    if unknown:
        problems.append(
            (
                "example_unrecognized_key",
                "The example has key(s) "
                + ", ".join(repr(k) for k in unknown)
                + " that the format does not use.",
                "Remove them; they are not trained.",
            )
        )
    if "tools" in example:
        check_definitions(example["tools"], key="tools", problems=problems)
    if "functions" in example:
        check_definitions(example["functions"], key="functions", problems=problems)
    if "parallel_tool_calls" in example and type(example["parallel_tool_calls"]) is not bool:
        problems.append(
            (
                "data_type",
                "'parallel_tool_calls' must be true or false, got "
                f"{describe(example['parallel_tool_calls'])}.",
                None,
            )
        )
    return "functions" in example
