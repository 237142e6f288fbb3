"""Where a frozen build finds its bundled models, and that it never writes into its bundle.

A frozen build is Python with ``sys._MEIPASS`` set to the unpacked bundle; setting it here is that state.
"""

from __future__ import annotations

import shutil
import sys

import pytest

from pelage.ingest.saliency import check_model_file
from pelage.paths import bundle_dir, resolve_user_paths
from pelage.reid.folders import bundled_models_dir
from pelage.weights.verify import VERIFIED_FILE, WeightsState, installed_state


@pytest.fixture
def frozen(tmp_path, monkeypatch, installed_u2netp):
    """A bundle holding u2netp where the spec puts it, as the running build's ``sys._MEIPASS``."""
    bundle = tmp_path / "bundle"
    (bundle / "rembg").mkdir(parents=True)
    shutil.copy2(installed_u2netp, bundle / "rembg" / "u2netp.onnx")
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.delenv("PELAGE_MODELS", raising=False)
    return bundle


def test_from_python_there_is_no_bundle(tmp_path):
    assert bundle_dir() is None
    paths = resolve_user_paths({"PELAGE_HOME": str(tmp_path)})
    assert paths.rembg_home == tmp_path / "models" / "rembg"


def test_a_frozen_build_uses_its_bundled_u2netp_without_an_install_and_writes_nothing_there(frozen, tmp_path):
    paths = resolve_user_paths({"PELAGE_HOME": str(tmp_path / "home")})
    assert paths.rembg_home == frozen / "rembg"
    assert check_model_file(paths.rembg_home) == frozen / "rembg" / "u2netp.onnx"
    from pelage.weights.install import U2NETP_CHECKSUM

    assert installed_state(frozen / "rembg" / "u2netp.onnx", U2NETP_CHECKSUM).state == WeightsState.INSTALLED
    assert not (frozen / "rembg" / VERIFIED_FILE).exists()
    assert bundled_models_dir() == frozen / "models"


def test_a_copy_the_user_installed_wins_over_the_bundled_one(frozen, tmp_path):
    paths = resolve_user_paths({"PELAGE_HOME": str(tmp_path / "home")})
    paths.user_rembg_home.mkdir(parents=True)
    shutil.copy2(frozen / "rembg" / "u2netp.onnx", paths.user_rembg_home)
    assert paths.rembg_home == paths.user_rembg_home
