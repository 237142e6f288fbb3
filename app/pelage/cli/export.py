"""``pelage stations / export``: station metadata in, capture histories and data packages out.

Options not given on the command line come from the project's ``export-settings.json`` (species, UTC
offset, contributor…) and then from the built-in defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

project_argument = click.argument("project_dir", type=click.Path(path_type=Path))


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@click.command("stations")
@project_argument
@click.option("--import", "table", type=click.Path(path_type=Path), default=None,
              help="CSV with station,x,y,setup,retrieval (metres, YYYY-MM-DD) and optional crs,lat,lon,problem1_from,problem1_to,…")
@click.option("--add-new", is_flag=True, help="Also add stations the table names that no image came from (cameras that took no photo).")
@click.option("--write", "write_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the project's station table to this CSV (to edit in a spreadsheet and import again).")
@click.option("--json", "as_json", is_flag=True)
def stations_command(project_dir: Path, table: Path | None, add_new: bool, write_to: Path | None, as_json: bool) -> None:
    """Import, show or write the station table (coordinates, setup and retrieval dates, camera outages)."""
    from pelage.export.stations import import_station_table, load_stations, station_table_text
    from pelage.store import open_project, transaction

    with open_project(project_dir) as project:
        if write_to is not None:  # checked first: a refused file name changes nothing
            from pelage.export.registry import protected_folders
            from pelage.export.target import check_table_file

            write_to = check_table_file(write_to, protected_folders(project))
        if table is not None:
            with transaction(project.sessions) as session:
                result = import_station_table(session, table, add_new=add_new)
            click.echo(f"Station table imported: {len(result.updated)} updated, {len(result.added)} added"
                       + (f" ({', '.join(result.added)})" if result.added else "") + ".", err=as_json)
            if result.without_metadata:
                click.echo(f"warning: still without setup/retrieval dates: {', '.join(result.without_metadata)}", err=True)
        with project.sessions() as session:
            stations = load_stations(session)
    if write_to is not None:
        write_to.write_bytes(station_table_text(stations).encode("utf-8"))
        click.echo(f"Wrote {len(stations)} stations to {write_to}.", err=as_json)
    if as_json:
        _echo_json([{"station": s.name, "x": s.x, "y": s.y, "crs": s.crs, "lat": s.lat, "lon": s.lon, "setup": s.setup,
                     "retrieval": s.retrieval, "outages": [[a, b] for a, b in s.outages], "working_days": len(s.operational_days())}
                    for s in stations])
        return
    if table is None and write_to is None:
        for s in stations:
            when = f"{s.setup} – {s.retrieval}, {len(s.operational_days())} working days" if s.has_dates else "no dates"
            where = f"{s.x:.1f}, {s.y:.1f}" if s.x is not None and s.y is not None else "no coordinates"
            problems = f"; not working {s.problems()}" if s.outages else ""
            click.echo(f"{s.name:<16} {where:<28} {when}{problems}")


@click.command("export")
@project_argument
@click.option("--format", "format_name", required=True,
              type=click.Choice(["individuals", "occasions", "secr", "camtrapr", "mark", "camtrapdp"]), help="What to write.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to create for the files.")
@click.option("--force", is_flag=True, help="Replace the --out folder if it holds an earlier Pelage export (and nothing else).")
@click.option("--species", default=None, help="Species name written into the files (default: export-settings.json, else 'unknown').")
@click.option("--flanks", type=click.Choice(["linked", "separate", "left", "right"]), default=None,
              help="linked: an individual's two flanks are one animal; separate: each flank is its own entity; left/right: one side only.")
@click.option("--occasion-days", type=click.IntRange(1), default=None, help="Days per sampling occasion (default 1).")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day of occasion 1 (default: the earliest setup).")
@click.option("--independence-minutes", type=click.FloatRange(0), default=None,
              help="Photos of one individual at one station less than this apart count once (default 30).")
@click.option("--session-per-survey", is_flag=True, default=None, help="secr: one session per survey instead of one for the project.")
@click.option("--utc-offset", default=None, help="The cameras' clock offset from UTC, e.g. +03:00 (Camtrap DP needs it).")
@click.option("--contributor", default=None, help="Camtrap DP: who made the data (default: export-settings.json, else 'unknown').")
@click.option("--sampling-design", default=None,
              type=click.Choice(["simpleRandom", "systematicRandom", "clusteredRandom", "experimental", "targeted", "opportunistic"]),
              help="Camtrap DP project.samplingDesign (default targeted).")
@click.option("--max-span-years", type=click.IntRange(1), default=None,
              help="Refuse occasions spanning more years than this, a sign of mistyped dates (default 5).")
@click.option("--json", "as_json", is_flag=True, help="Print the export's manifest as JSON.")
def export_command(project_dir: Path, format_name: str, out_dir: Path, force: bool, species: str | None, flanks: str | None,
                   occasion_days: int | None, start, independence_minutes: float | None, session_per_survey: bool | None,
                   utc_offset: str | None, contributor: str | None, sampling_design: str | None, max_span_years: int | None,
                   as_json: bool) -> None:
    """Write individuals, capture histories (occasions, secr, camtrapR, MARK) or a Camtrap DP package."""
    from pelage.export import ExportOptions, export_project, load_export_settings
    from pelage.store import open_project

    with open_project(project_dir) as project:
        saved = load_export_settings(project.root)
        given = {"species": species, "flanks": flanks, "occasion_days": occasion_days, "start": start.date() if start else None,
                 "independence_minutes": independence_minutes, "session_per_survey": session_per_survey, "utc_offset": utc_offset,
                 "contributor": contributor, "sampling_design": sampling_design, "max_span_years": max_span_years}
        values = {**saved, **{key: value for key, value in given.items() if value is not None}}
        manifest = export_project(project, format_name, out_dir, ExportOptions(**values), force=force)
    if as_json:
        _echo_json(manifest)
        return
    click.echo(f"Wrote {format_name} export to {out_dir}: {', '.join(manifest['files'])} (flanks {manifest['flanks']}).")
    for reason, ids in manifest.get("left_out", {}).items():
        shown = ", ".join(str(i) for i in ids[:8]) + (" …" if len(ids) > 8 else "")
        click.echo(f"  left out, {reason}: {len(ids)} animal(s) ({shown})")
    for reason, names in manifest.get("photos_left_out", {}).items():
        click.echo(f"  left out, {reason}: {len(names)} photo(s) ({names[0]}{' …' if len(names) > 1 else ''})")


COMMANDS = [stations_command, export_command]
