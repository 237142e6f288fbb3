"""The Camtrap DP package validates against the standard's 1.0 table schemas (vendored field lists in
tests/fixtures/camtrap-dp-1.0, since the tests run offline) with frictionless, foreign keys included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from frictionless import Package, validate

from pelage.export import ExportOptions, FlankMode, export_project
from pelage.store import open_project
from tests.test_export_formats import OPTIONS, build_export_project

SCHEMAS = Path(__file__).parent / "fixtures" / "camtrap-dp-1.0"
# Required by the Camtrap DP 1.0 profile (camtrap-dp-profile.json) on top of the Data Package ones.
REQUIRED_PACKAGE_PROPERTIES = {"resources", "profile", "created", "contributors", "project", "spatial", "temporal", "taxonomic"}
REQUIRED_PROJECT_PROPERTIES = {"title", "samplingDesign", "captureMethod", "individualAnimals", "observationLevel"}


@pytest.fixture(scope="module")
def project_root(tmp_path_factory) -> Path:
    return build_export_project(tmp_path_factory.mktemp("dp") / "leopard-project")


def offline_copy(package_dir: Path, into: Path) -> Path:
    """The package with its schema URLs pointed at the vendored 1.0 schemas (and the profile, which frictionless
    would fetch, replaced by the plain tabular profile after checking its own required properties)."""
    shutil.copytree(package_dir, into)
    descriptor = json.loads((into / "datapackage.json").read_text())
    assert REQUIRED_PACKAGE_PROPERTIES <= set(descriptor)
    assert REQUIRED_PROJECT_PROPERTIES <= set(descriptor["project"]) and descriptor["project"]["individualAnimals"] is True
    assert descriptor["profile"] == "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/camtrap-dp-profile.json"
    for resource in descriptor["resources"]:
        assert resource["schema"] == f"https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/{resource['name']}-table-schema.json"
        shutil.copy(SCHEMAS / f"{resource['name']}-table-schema.json", into)
        resource["schema"] = f"{resource['name']}-table-schema.json"
    descriptor["profile"] = "tabular-data-package"
    (into / "datapackage.json").write_text(json.dumps(descriptor))
    return into / "datapackage.json"


def errors_of(descriptor: Path) -> list[str]:
    report = validate(str(descriptor), checks=[])
    return [f"{error.type}: {error.message}" for task in report.tasks for error in task.errors] + \
        [f"{error.type}: {error.message}" for error in report.errors]


@pytest.mark.parametrize("flanks", [FlankMode.LINKED, FlankMode.SEPARATE])
def test_package_passes_the_table_schemas(project_root, tmp_path, flanks):
    options = ExportOptions(**{**OPTIONS.__dict__, "flanks": flanks})
    with open_project(project_root) as project:
        manifest = export_project(project, "camtrapdp", tmp_path / "dp", options)
    descriptor = offline_copy(tmp_path / "dp", tmp_path / "checked")
    assert errors_of(descriptor) == []
    package = Package(str(descriptor))
    observations = package.get_resource("observations").read_rows()
    assert len(observations) == manifest["observations"] == 9
    ids = {row["observationID"]: row["individualID"] for row in observations}
    if flanks == FlankMode.SEPARATE:
        assert ids["3"] == "Ayo-right" and ids["1"] == "Ayo-left" and ids["10"] is None
    else:
        assert ids["3"] == ids["1"] == "Ayo" and ids["10"] == "ID-10"
    assert all(0 <= row["bboxX"] <= 1 and 0 < row["bboxWidth"] <= 1 for row in observations)


def test_the_validation_catches_a_broken_package(project_root, tmp_path):
    """The check is real: a bounding box in pixels and a dangling deployment are reported."""
    with open_project(project_root) as project:
        export_project(project, "camtrapdp", tmp_path / "dp", OPTIONS)
    descriptor = offline_copy(tmp_path / "dp", tmp_path / "checked")
    observations = tmp_path / "checked" / "observations.csv"
    lines = observations.read_text().splitlines()
    lines[1] = lines[1].replace(",0.05,", ",100,").replace("ST01-CamA", "NOWHERE", 1)
    observations.write_text("\n".join(lines) + "\n")
    errors = "\n".join(errors_of(descriptor))
    assert "constraint-error" in errors and "foreign-key" in errors
