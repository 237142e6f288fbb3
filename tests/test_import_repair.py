"""A re-run of `pelage import` rebuilds the cached crops, masks and edge images that went missing, from the
original photos, and changes nothing else: what the "re-run the import to rebuild it" message promises."""

from __future__ import annotations

import json
import os
import shutil
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from pelage.ingest import DetectorConfig, build_pipeline, import_survey
from pelage.store import Detection, open_project
from tests.images import pattern_rgb, save_jpeg
from tests.test_cli import pelage


@pytest.fixture(scope="module")
def module_home(tmp_path_factory, installed_u2netp) -> dict[str, str]:
    home = tmp_path_factory.mktemp("repair-home")
    (home / "models" / "rembg").mkdir(parents=True)
    os.symlink(installed_u2netp, home / "models" / "rembg" / "u2netp.onnx")
    return {"PELAGE_HOME": str(home)}


@pytest.fixture(scope="module")
def imported_demo(tmp_path_factory, demo_survey, module_home) -> Path:
    """The demo survey imported once for the module (about 30 s); tests work on copies."""
    project = tmp_path_factory.mktemp("repair") / "project"
    pelage("import", str(demo_survey), "--project", str(project), "--threads", "2", env=module_home)
    return project


def artefact_files(project: Path) -> list[tuple[str, str, str]]:
    with open_project(project) as opened, opened.sessions() as session:
        return [tuple(row) for row in session.execute(select(Detection.crop_path, Detection.mask_path, Detection.edge_path)
                                                      .order_by(Detection.id))]


def grey(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def test_rerun_rebuilds_missing_crops_masks_and_edges(tmp_path, imported_demo, demo_survey, module_home):
    project = tmp_path / "project"
    shutil.copytree(imported_demo, project)
    artefacts = project / "artefacts"
    files = artefact_files(project)
    assert len(files) >= 6
    crops = {crop: (artefacts / crop).read_bytes() for crop, _, _ in files[:3]}
    mask, edge = files[3][1], files[4][2]
    kept_mask, kept_edge = grey(artefacts / mask), grey(artefacts / edge)
    for relative in [*crops, mask, edge]:
        (artefacts / relative).unlink()
    info_before = json.loads(pelage("info", str(project), "--json").stdout)

    first = str(detection_ids(project)[0])
    broken = pelage("identify", str(project), "--threads", "2", env=module_home)
    assert broken.stderr.count("re-run the import of its survey") == 5  # the animals left out, and what to do
    failed = pelage("candidates", str(project), first, "--json", check=False, env=module_home)
    assert failed.returncode == 2 and "has no embedding" in failed.stderr

    rerun = pelage("import", str(demo_survey), "--project", str(project), "--threads", "2", "--json", env=module_home)
    summary = json.loads(rerun.stdout)
    assert (summary["imported"], summary["failed"], summary["already_imported"]) == (0, 0, 25)
    assert summary["repaired"] == len({files[i][0].split("_")[0] for i in range(5)}) and summary["unrepaired"] == []
    for relative, content in crops.items():
        assert (artefacts / relative).read_bytes() == content  # the same pixels, cut from the same photo
    assert np.array_equal(grey(artefacts / mask), kept_mask) and np.array_equal(grey(artefacts / edge), kept_edge)
    assert json.loads(pelage("info", str(project), "--json").stdout) == info_before
    assert artefact_files(project) == files

    # What failed before now works: the animals left out are embedded, and can be matched.
    fixed = pelage("identify", str(project), "--threads", "2", env=module_home)
    assert "cannot read cached image" not in fixed.stderr and "5 animals embedded now" in fixed.stdout
    assert json.loads(pelage("candidates", str(project), first, "--json", env=module_home).stdout)


def detection_ids(project: Path) -> list[int]:
    with open_project(project) as opened, opened.sessions() as session:
        return list(session.scalars(select(Detection.id).order_by(Detection.id)))


def test_a_photo_changed_since_import_is_not_used_to_rebuild(tmp_path, user_home):
    survey = tmp_path / "survey"
    photo = save_jpeg(survey / "ST1" / "a.jpg", pattern_rgb(seed=1))
    with open_project(tmp_path / "project", create=True) as project:
        factory = partial(build_pipeline, user_home, project.artefacts, DetectorConfig(name="saliency"), threads=2)
        import_survey(project, survey, factory)
        [(crop,)] = artefact_files_of(project)
        (project.artefacts / crop).unlink()
        save_jpeg(photo, pattern_rgb(seed=2))  # another photo under the same name
        summary = import_survey(project, survey, factory)
    assert (summary.repaired, summary.failed, summary.already_imported) == (0, 0, 1)
    [(path, reason)] = summary.unrepaired
    assert path == "ST1/a.jpg" and "the photo changed since it was imported" in reason
    assert not (project.artefacts / crop).exists()


def artefact_files_of(project) -> list[tuple[str]]:
    with project.sessions() as session:
        return [tuple(row) for row in session.execute(select(Detection.crop_path))]
