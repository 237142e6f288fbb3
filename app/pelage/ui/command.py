"""The ``pelage gui`` command. PySide6 loads only when the command runs, so the rest of the CLI starts fast."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("gui")
@click.argument("project_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
def gui_command(project_dir: Path | None) -> None:
    """Open the desktop application (optionally on PROJECT_DIR)."""
    try:
        from pelage.ui.app import run
    except ImportError as exc:
        raise click.ClickException(f"the desktop application needs PySide6 ({exc}); install it with `pip install PySide6-Essentials`") from exc
    sys.exit(run(project_dir))


COMMANDS = (gui_command,)
