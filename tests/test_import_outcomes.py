"""What `pelage import` reports and records for files it cannot import: the summary's last line, --strict for
scripts, a folder the scan cannot read, and camera frames around the size limit."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from pelage.ingest import DetectorConfig, build_pipeline, import_survey
from pelage.ingest.decode import MAX_PIXELS
from pelage.store import Image, ImageStatus, open_project
from tests.images import jpeg_bytes, pattern_rgb, save_jpeg
from tests.test_cli import pelage
from tests.test_decode import hundred_megapixel_jpeg

FAST = ["--detector", "saliency", "--no-background-removal", "--threads", "2"]


def survey_with_one_bad_file(root: Path) -> Path:
    save_jpeg(root / "ST1" / "C1" / "good.jpg", pattern_rgb())
    (root / "ST1" / "C1" / "cut.jpg").write_bytes(jpeg_bytes(pattern_rgb())[:1500])
    return root


@pytest.mark.parametrize(("flags", "exit_code"), [([], 0), (["--strict"], 1)], ids=["default", "strict"])
def test_failures_are_the_last_line_and_strict_exits_non_zero(tmp_path, user_home, flags, exit_code):
    survey = survey_with_one_bad_file(tmp_path / "survey")
    result = pelage("import", str(survey), "--project", str(tmp_path / "project"), *FAST, *flags, check=False)
    assert result.returncode == exit_code, result.stderr
    assert result.stdout.splitlines()[-1].startswith("Failed: 1 (listed with their reasons by `pelage info ")
    assert "imported now:      1" in result.stdout and "truncated" in result.stderr


def test_strict_exits_zero_when_nothing_failed(tmp_path, user_home):
    save_jpeg(tmp_path / "survey" / "ST1" / "a.jpg", pattern_rgb())
    result = pelage("import", str(tmp_path / "survey"), "--project", str(tmp_path / "project"), *FAST, "--strict")
    assert result.stdout.splitlines()[-1] == "Failed: 0"


def _without_read_override() -> list[str]:
    """A command prefix under which permissions apply: root reads a chmod-000 folder unless it gives up its
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH capabilities (``setpriv``, util-linux) for the command."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): a chmod-000 folder stays readable to root")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_unreadable_folder_is_recorded_as_a_failure_until_it_can_be_read(tmp_path, user_home):
    survey = tmp_path / "survey"
    save_jpeg(survey / "ST01" / "CAM1" / "a.jpg", pattern_rgb(seed=1))
    locked = survey / "ST02" / "CAM1"
    save_jpeg(locked / "b.jpg", pattern_rgb(seed=2))
    project = tmp_path / "project"
    locked.chmod(0)
    try:
        result = subprocess.run([*_without_read_override(), sys.executable, "-m", "pelage", "import", str(survey), "--project",
                                 str(project), *FAST], capture_output=True, text=True, env={**os.environ})
    finally:
        locked.chmod(stat.S_IRWXU)
    assert result.returncode == 0, result.stderr
    assert "1 image files found, 1 folders that cannot be read" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("Failed: 1 ")
    info = json.loads(pelage("info", str(project), "--json").stdout)
    assert (info["images"], info["failures"]) == (1, 1)
    [failure] = info["failed_images"]
    assert failure["path"] == "survey/ST02/CAM1/" and "cannot read this folder (Permission denied)" in failure["reason"]
    assert info["stations"] == 1  # a folder that could not be read names no station

    # Readable again: its photos are imported and its failure is gone.
    again = json.loads(pelage("import", str(survey), "--project", str(project), *FAST, "--json").stdout)
    assert (again["imported"], again["already_imported"], again["unreadable_folders"]) == (1, 1, 0)
    info = json.loads(pelage("info", str(project), "--json").stdout)
    assert (info["images"], info["failures"], info["stations"]) == (2, 0, 2)


@pytest.mark.slow
def test_hundred_megapixel_frame_imports_and_a_larger_one_is_recorded(tmp_path, user_home):
    survey = tmp_path / "survey"
    (survey / "ST1").mkdir(parents=True)
    hundred_megapixel_jpeg(survey / "ST1" / "big.jpg")
    side = int((MAX_PIXELS * 1.01) ** 0.5) + 1
    PILImage.new("RGB", (side, side), (70, 80, 60)).save(survey / "ST1" / "huge.jpg", "JPEG", quality=60)
    with open_project(tmp_path / "project", create=True) as project:
        factory = partial(build_pipeline, user_home, project.artefacts, DetectorConfig(name="saliency"), threads=2)
        summary = import_survey(project, survey, factory)
        with project.sessions() as session:
            rows = {i.path: i for i in session.scalars(select(Image))}
            big, huge = rows["ST1/big.jpg"], rows["ST1/huge.jpg"]
            assert (big.status, big.width, big.height) == (ImageStatus.DONE, 10_000, 10_000) and big.detections
            assert huge.status == ImageStatus.FAILED
            expected = f"image is too large ({side}×{side} = {side * side / 1e6:.0f} MP; the limit is 120 MP)"
            assert huge.error == f"{expected}: downscale it before importing"
    assert (summary.imported, summary.failed) == (1, 1)
