"""Detections set aside as not usable, and photos with no animal: every imported photo is accounted for in
every export (a row, or a left-out entry with its reason), and a restored detection comes back."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pelage.cli.main import cli
from pelage.export import export_project
from pelage.export.registry import FORMATS
from pelage.review.graph import DecisionError
from pelage.store import Image, ImageStatus, Survey, open_project, transaction
from pelage.store.queries import list_photos_without_animal, list_unusable
from tests.test_export_formats import OPTIONS, build_export_project

SET_ASIDE = 5  # an animal alone in its photo, in the fixture project


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = build_export_project(tmp_path_factory.mktemp("unusable") / "project")
    with open_project(root) as project, transaction(project.sessions) as session:
        survey = session.query(Survey).filter_by(name="season2").one()
        session.add(Image(survey=survey, path="ST01/CamA/IMG_9001.JPG", size_bytes=10, status=ImageStatus.FAILED, error="truncated JPEG"))
        session.add(Image(survey=survey, path="ST01/CamA/IMG_9002.JPG", size_bytes=1000, status=ImageStatus.DUPLICATE))
    return root


@pytest.fixture
def root(template, tmp_path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "project"))


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def every_photo(root: Path) -> set[str]:
    with open_project(root) as project, project.sessions() as session:
        return {f"{survey}/{path}" for survey, path in session.query(Survey.name, Image.path).join(Image.survey)}


def animal_photos(root: Path) -> dict[int, str]:
    with open_project(root) as project:
        out = run("animals", project.root, "--json")
    return {record["id"]: f"{record['survey']}/{record['image']}" for record in json.loads(out)}


@pytest.mark.parametrize("format_name", sorted(FORMATS))
def test_every_imported_photo_is_a_row_or_left_out_with_its_reason(root, tmp_path, format_name):
    assert "set aside as not usable: only a tail" in run("unusable", root, SET_ASIDE, "--reason", "  only a   tail ")
    with open_project(root) as project:
        manifest = export_project(project, format_name, tmp_path / "out", OPTIONS)
    assert manifest["left_out"]["not usable: only a tail"] == [SET_ASIDE]
    photos = animal_photos(root)
    left_out_photos = {name for names in manifest["photos_left_out"].values() for name in names}
    assert manifest["photos_left_out"] == {
        "a copy of another imported photo": ["season2/ST01/CamA/IMG_9002.JPG"],
        "could not be read: truncated JPEG": ["season2/ST01/CamA/IMG_9001.JPG"],
        "every animal in it is not usable": [photos[SET_ASIDE]],
        "no animal in the photo": ["season2/ST01/CamA/IMG_9000.JPG"],
    }
    exported = {photos[animal] for animal in photos if animal != SET_ASIDE}  # a row, or left out by animal id with a reason
    assert exported | left_out_photos == every_photo(root)
    assert json.loads((tmp_path / "out" / "pelage-export.json").read_text()) == manifest


def test_a_restored_detection_is_exported_and_reviewable_again(root, tmp_path):
    run("unusable", root, SET_ASIDE, "--reason", "a rock")
    with open_project(root) as project, project.sessions() as session:
        assert [(u.id, u.reason) for u in list_unusable(session)] == [(SET_ASIDE, "a rock")]
        assert [p.image for p in list_photos_without_animal(session)] == [animal_photos(root)[SET_ASIDE].split("/", 1)[1],
                                                                          "ST01/CamA/IMG_9000.JPG"]
    assert "it was set aside: a rock" in run("restore", root, SET_ASIDE)
    with open_project(root) as project:
        manifest = export_project(project, "individuals", tmp_path / "out", OPTIONS)
    assert not any(reason.startswith("not usable") for reason in manifest["left_out"])
    with (tmp_path / "out" / "individuals.csv").open() as rows:
        assert SET_ASIDE in {int(row["animal_id"]) for row in csv.DictReader(rows)}
    out = json.loads(run("photos", root, "--json"))
    assert out["not_usable"] == [] and [p["photo"] for p in out["without_animal"]] == ["season2/ST01/CamA/IMG_9000.JPG"]


def test_a_reason_is_required(root):
    with open_project(root) as project:
        from pelage.review.actions import mark_unusable

        with pytest.raises(DecisionError, match="say why"):
            mark_unusable(project, SET_ASIDE, "  ")
        with pytest.raises(DecisionError, match="no detected animal"):
            mark_unusable(project, 999, "a rock")
