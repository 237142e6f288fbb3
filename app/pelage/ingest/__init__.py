"""Ingest: scan a survey, read EXIF and names, detect animals, remove backgrounds, build edge channels.

The names below load on first use (PEP 562), so code that only needs image processing (training on
a crop cache, say) does not pull in the project store and its database drivers.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "DecodedImage": "decode", "ImageReadError": "decode", "decode_image": "decode",
    "Box": "detect", "DetectorConfig": "detect", "create_detector": "detect",
    "apply_mask": "edges", "edge_channel": "edges", "stack_rgb_edge": "edges",
    "ImportOptions": "importer", "ImportProgress": "importer", "ImportSummary": "importer", "SurveyImportError": "errors",
    "ImportBusyError": "errors", "check_survey_root": "importer", "import_survey": "importer", "run_import": "importer",
    "scan_survey": "importer",
    "Pipeline": "pipeline", "build_pipeline": "pipeline", "resolve_detector": "pipeline",
    "add_user_box": "user_boxes", "redraw_box": "user_boxes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
