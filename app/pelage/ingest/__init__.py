"""Ingest: scan a survey, read EXIF and names, detect animals, remove backgrounds, build edge channels."""

from pelage.ingest.decode import DecodedImage, ImageReadError, decode_image
from pelage.ingest.detect import Box, DetectorConfig, create_detector
from pelage.ingest.edges import apply_mask, edge_channel, stack_rgb_edge
from pelage.ingest.importer import (
    ImportOptions,
    ImportProgress,
    ImportSummary,
    SurveyImportError,
    import_survey,
    run_import,
    scan_survey,
)
from pelage.ingest.pipeline import Pipeline, build_pipeline
from pelage.ingest.user_boxes import add_user_box

__all__ = [
    "Box", "DecodedImage", "DetectorConfig", "ImageReadError", "ImportOptions", "ImportProgress", "ImportSummary",
    "Pipeline", "SurveyImportError", "add_user_box", "apply_mask", "build_pipeline", "create_detector",
    "decode_image", "edge_channel", "import_survey", "run_import", "scan_survey", "stack_rgb_edge",
]
