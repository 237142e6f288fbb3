"""Exports of capture histories and data packages for secr, camtrapR, MARK and Camtrap DP.

``stations`` reads and stores the station table (coordinates, setup/retrieval, outages); ``dataset``
snapshots the project's animals with their individuals and flanks; ``occasions`` turns photos into
independent captures per occasion; one module per format writes files; ``registry`` names the formats;
``target`` decides where an export may be written and swaps it into place.
"""

from pelage.export.dataset import ExportError, ExportOptions, FlankMode, load_export_settings, save_export_settings
from pelage.export.registry import FORMATS, export_project, write_export
from pelage.export.stations import StationInfo, StationTableError, import_station_table, load_stations, save_stations

__all__ = ["FORMATS", "ExportError", "ExportOptions", "FlankMode", "StationInfo", "StationTableError", "export_project",
           "import_station_table", "load_export_settings", "load_stations", "save_export_settings", "save_stations", "write_export"]
