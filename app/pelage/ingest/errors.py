"""Why an import cannot start; the message says what to do."""

from __future__ import annotations


class SurveyImportError(RuntimeError):
    """The import cannot start (missing folder, unreadable root); the message says what to do."""


class ImportBusyError(SurveyImportError):
    """Another import into the same project is running and the caller chose not to wait for it."""
