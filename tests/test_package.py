"""Smoke test of the desktop archive `make package` builds: unpacked into an empty folder and run as a user would.

Skipped when no archive was built (building one takes minutes and several GB, so `make test` does not), unless
PELAGE_PACKAGE_TEST=1 (what `make package-test` sets): then a missing archive fails.
"""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from tests.frozen import (
    StepFailed,
    frozen_build,
    newest_archive,
    plain_environment,
    run_demo,
    run_step,
    tree_listing,
    unpack,
    window_startup,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def archive():
    found = newest_archive()
    if found is None:
        if os.environ.get("PELAGE_PACKAGE_TEST") == "1":
            pytest.fail("PELAGE_PACKAGE_TEST=1 but no dist/pelage-*.tar.gz: run `make package` first")
        pytest.skip("no desktop archive in dist/ (run `make package`, then `make package-test`)")
    return found


@pytest.fixture(scope="module")
def unpacked(archive, tmp_path_factory):
    """The archive unpacked into an empty folder, and the user's environment that runs it (no venv on PATH)."""
    root = tmp_path_factory.mktemp("package")
    folder = unpack(archive, root / "unpacked")
    work = root / "work"
    work.mkdir()
    return folder, work, plain_environment(work)


def test_archive_holds_the_programs_models_and_desktop_entry(unpacked):
    folder, _, _ = unpacked
    for name in ("pelage", "pelage-gui", "pelage.desktop", "pelage.png", "install-desktop-entry.sh", "RELEASE_NOTES.md",
                 "_internal/models/nyala-lite0/model.safetensors", "_internal/models/nyala-lite0/spot_words.safetensors",
                 "_internal/rembg/u2netp.onnx",
                 "_internal/PySide6/Qt/plugins/platforms/libqxcb.so", "_internal/PySide6/Qt/plugins/platforms/libqoffscreen.so"):
        assert (folder / name).exists(), f"{name} is missing from the archive"
    assert "Exec=pelage-gui" in (folder / "pelage.desktop").read_text(encoding="utf-8")


def test_frozen_cli_runs_the_demo_and_the_window_opens_without_writing_into_the_bundle(unpacked):
    folder, work, env = unpacked
    build = frozen_build(folder)
    before = tree_listing(folder)

    _, models = run_step([*build.cli, "models", "list"], env, work)
    assert f"installed  {folder / '_internal' / 'rembg' / 'u2netp.onnx'}" in models  # the bundled copy, no install step
    run_step([*build.cli, "gui", "--help"], env, work)
    try:
        run_demo(build, work, env)
        picture = work / "frozen-main-window.png"
        window_startup(build, work, env, picture, project=work / "project")
    except StepFailed as exc:
        pytest.fail(str(exc))

    captures = (work / "export-secr" / "captures.txt").read_text(encoding="utf-8").splitlines()
    assert len(captures) > 1, "the secr export holds no capture"
    _, proposal = run_step([*build.cli, "propose", "project", "--json"], env, work)
    assert json.loads(proposal)["candidates"], "the frozen model proposed no candidate"
    with Image.open(picture) as image:
        assert image.width >= 1000 and image.height >= 600
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50, "the window picture is blank"
    assert tree_listing(folder) == before, "running the app wrote into its own folder"
    home = work / "home"  # the user's folders instead, where platformdirs says
    assert (home / ".config" / "pelage" / "settings.json").is_file()
    assert any((home / ".cache" / "pelage" / "numba").iterdir()), "pymatting's compiled code is not cached for the next run"
