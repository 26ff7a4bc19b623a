"""Every finding code tunebot reports, with its severity.

Codes are stable snake_case: people search for them, the Slack bot groups by
them, tests pin them. The chat-structure names follow the OpenAI cookbook's
data-preparation notebook so people who know it recognise them.
"""

from __future__ import annotations

from typing import Final

from core.validation.report import Severity

ERROR: Final = "error"
WARNING: Final = "warning"

CODES: Final[dict[str, tuple[Severity, str]]] = {
    # reading: the file or one line cannot be read
    "file_not_found": (ERROR, "There is no such file."),
    "empty_file": (ERROR, "The file holds no examples."),
    "not_utf8": (ERROR, "Text that is not UTF-8 (for example a UTF-16 export)."),
    "binary_file": (ERROR, "A binary file, not text."),
    "invalid_json": (ERROR, "A line (or element) that is not valid JSON (NaN, Infinity too)."),
    "duplicate_key": (ERROR, "An object with the same key twice (one value would be lost)."),
    "unsupported_file_type": (ERROR, "A file type tunebot does not read."),
    "file_too_large": (ERROR, "The file is larger than tunebot or OpenAI accept."),
    "line_too_long": (ERROR, "One line larger than any training example can be."),
    "zip_bomb": (ERROR, "A workbook whose declared content is implausibly large."),
    "invalid_xlsx": (ERROR, "A damaged or non-Excel workbook."),
    "invalid_csv": (ERROR, "A CSV/TSV row the csv parser rejects."),
    "field_too_large": (ERROR, "A CSV/TSV cell larger than the field limit."),
    "unknown_columns": (ERROR, "No prompt/completion, system/user/assistant or messages columns."),
    "utf8_bom": (WARNING, "The file starts with a UTF-8 byte-order mark."),
    "blank_lines": (WARNING, "Blank lines between examples (skipped)."),
    "column_name_case": (WARNING, "Column names matched ignoring case."),
    "unused_column": (WARNING, "Columns that are not read."),
    "extra_sheets": (WARNING, "A workbook with more than one sheet; only the first is read."),
    "formula_cell": (WARNING, "A cell that looks like a spreadsheet formula."),
    # chat structure (OpenAI cookbook names)
    "data_type": (ERROR, "A value of the wrong JSON type."),
    "missing_messages_list": (ERROR, "No 'messages' list."),
    "message_missing_key": (ERROR, "A message without 'role' or 'content'."),
    "message_unrecognized_key": (ERROR, "A message key OpenAI does not accept."),
    "unrecognized_role": (
        ERROR,
        "A role other than system/developer/user/assistant/tool/function.",
    ),
    "missing_content": (ERROR, "A message with empty or missing content."),
    "example_missing_assistant_message": (ERROR, "No assistant message to learn from."),
    "no_trained_messages": (ERROR, "Every assistant message has weight 0: nothing is trained."),
    "invalid_weight": (ERROR, "A weight that is not 0 or 1, or on a non-assistant message."),
    "invalid_tool_call": (
        ERROR,
        "A malformed tool call or function call, or an orphan tool reply.",
    ),
    "invalid_tools": (ERROR, "Malformed tool or function definitions."),
    "invalid_image": (ERROR, "A malformed image_url content part."),
    "last_message_not_assistant": (
        ERROR,
        "Worker models: the example does not end with the assistant reply to train.",
    ),
    "no_prompt_before_answer": (
        ERROR,
        "Worker models: a lone assistant message, with nothing before it to answer.",
    ),
    "trailing_messages": (WARNING, "Messages after the last assistant reply (never trained)."),
    "example_unrecognized_key": (WARNING, "A top-level key the format does not use."),
    "deprecated_functions": (WARNING, "The deprecated 'functions'/'function_call' fields."),
    # open models: the model's own chat template renders every chat example
    "chat_template_error": (
        ERROR,
        "The model's chat template cannot render the example (or the model has none).",
    ),
    "template_cannot_render_tools": (
        ERROR,
        "The example uses tools and the model's chat template cannot render them.",
    ),
    # other formats
    "unknown_format": (ERROR, "An example in no known format."),
    "mixed_formats": (ERROR, "Examples in more than one format in one file."),
    "missing_field": (ERROR, "A required field of the format is missing."),
    "preference_old_keys": (ERROR, "Old DPO key names (*_completion)."),
    "invalid_preference": (ERROR, "A malformed preference (DPO) example."),
    "text_format_unsupported": (
        ERROR,
        "text examples for an OpenAI model, which trains on chat only.",
    ),
    "legacy_format": (WARNING, "prompt/completion: current chat models train on chat only."),
    "prompt_separator_missing": (WARNING, "Prompts do not share a common ending separator."),
    "completion_ending_missing": (WARNING, "Completions do not share a common ending."),
    "completion_leading_space": (WARNING, "Completions do not start with a space."),
    # content
    "special_token_in_content": (ERROR, "Text such as <|endoftext|> that OpenAI rejects."),
    "too_many_tokens": (ERROR, "An example longer than the model's per-example limit."),
    "whitespace_padding": (WARNING, "Text that starts or ends with whitespace."),
    "duplicate_example": (WARNING, "An example identical to an earlier one."),
    "missing_system_message": (WARNING, "Examples without a system message."),
    "missing_user_message": (WARNING, "An example without a user message."),
    # file
    "too_few_examples": (ERROR, "Fewer than 10 examples (OpenAI's minimum)."),
    "too_few_after_fix": (ERROR, "--fix kept fewer than 10 examples (OpenAI's minimum)."),
    "too_many_examples": (ERROR, "More examples than tunebot checks in one file."),
    "few_examples": (WARNING, "Fewer than 50 examples (OpenAI suggests 50-100 to see gains)."),
}


def severity(code: str) -> Severity:
    """The severity of ``code``; an unknown code is an error so it cannot slip through."""
    entry = CODES.get(code)
    return entry[0] if entry is not None else ERROR
