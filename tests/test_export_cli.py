"""``pelage stations`` and ``pelage export`` as a user runs them."""

from __future__ import annotations

import json

from pelage.export import save_export_settings
from tests.test_cli import pelage
from tests.test_export_formats import FIXTURES, build_export_project


def test_station_table_then_exports(tmp_path):
    root = build_export_project(tmp_path / "leopard-project", station_table=False)
    refused = pelage("export", str(root), "--format", "secr", "--out", str(tmp_path / "early"), check=False)
    assert refused.returncode == 2 and "have no setup/retrieval dates" in refused.stderr and not (tmp_path / "early").exists()

    typo = pelage("stations", str(root), "--import", str(FIXTURES / "stations.csv"), check=False)
    assert typo.returncode == 2 and "'ST_03'" in typo.stderr and "--add-new" in typo.stderr

    imported = pelage("stations", str(root), "--import", str(FIXTURES / "stations.csv"), "--add-new")
    assert "2 updated, 1 added (ST_03)" in imported.stdout
    listed = json.loads(pelage("stations", str(root), "--json").stdout)
    assert [(s["station"], s["working_days"]) for s in listed] == [("ST01", 6), ("ST02", 4), ("ST_03", 4)]
    pelage("stations", str(root), "--write", str(tmp_path / "back.csv"))
    assert (tmp_path / "back.csv").read_text().splitlines()[2] == \
        "ST02,501500.5,8000250,2024-03-01,2024-03-06,EPSG:32736,-24.09,31.215,2024-03-03,2024-03-04"

    save_export_settings(root, {"species": "Panthera pardus"})  # project default, used when --species is not given
    out = tmp_path / "camtrapr"
    result = pelage("export", str(root), "--format", "camtrapr", "--out", str(out), "--occasion-days", "2")
    assert "left out, not independent: 2 animal(s) (2, 3)" in result.stdout
    for name in ("recordTable.csv", "CTtable.csv"):
        assert (out / name).read_text() == (FIXTURES / "linked" / "camtrapr" / name).read_text()

    again = pelage("export", str(root), "--format", "camtrapr", "--out", str(out), check=False)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    manifest = json.loads(pelage("export", str(root), "--format", "mark", "--out", str(out), "--force", "--flanks", "separate",
                                 "--occasion-days", "2", "--json").stdout)
    assert manifest["flanks"] == "separate" and not (out / "recordTable.csv").exists()
    assert (out / "captures.inp").read_text().splitlines()[1:] == ["/* Ayo-left */ 101 1;", "/* Ayo-right */ 100 1;",
                                                                   "/* Spot-A-right */ 110 1;"]

    no_offset = pelage("export", str(root), "--format", "camtrapdp", "--out", str(tmp_path / "dp"), check=False)
    assert no_offset.returncode == 2 and "--utc-offset" in no_offset.stderr
    pelage("export", str(root), "--format", "camtrapdp", "--out", str(tmp_path / "dp"), "--utc-offset", "+2", "--occasion-days", "2")
    assert "+02:00" in (tmp_path / "dp" / "media.csv").read_text()
