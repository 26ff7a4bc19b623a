"""Dataset validation: checks with stable codes, token counts, cost, fixes, the report.

``validate_file`` is the entry point; :mod:`core.validation.codes` lists every
finding code; :mod:`core.validation.report` is the report model.
"""

from core.validation.report import Change, Finding, Report, TokenStats
from core.validation.validate import validate_file

__all__ = ["Change", "Finding", "Report", "TokenStats", "validate_file"]
