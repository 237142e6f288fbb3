"""``camtrapdp``: a Camtrap DP 1.0 data package (``datapackage.json``, ``deployments.csv``, ``media.csv``,
``observations.csv``) with each animal's ``individualID``.

A deployment is one camera at one station over one unbroken working period: outages split a station's
setup..retrieval into several deployments, so the package's effort is the true effort. Times in the
package carry the cameras' UTC offset (the standard requires one; Pelage keeps camera-local clock times),
bounding boxes are relative to the image (0–1), and ``media.filePath`` is ``SURVEY/relative/path`` (the
images themselves are not copied). Observations are media-based, one per detected animal; the flank is in
``observationTags`` (``flank:left``) and the flank mode in the package description.
"""

from __future__ import annotations

import json
import mimetypes
import posixpath
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pelage.export.dataset import ExportError, ExportOptions, ProjectData
from pelage.export.files import csv_text, write_text
from pelage.export.occasions import require_dates
from pelage.export.stations import StationInfo, format_number

VERSION_URL = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0"
DEPLOYMENT_HEADER = ("deploymentID", "locationID", "locationName", "latitude", "longitude", "coordinateUncertainty", "deploymentStart",
                     "deploymentEnd", "setupBy", "cameraID", "cameraModel", "cameraDelay", "cameraHeight", "cameraDepth", "cameraTilt",
                     "cameraHeading", "detectionDistance", "timestampIssues", "baitUse", "featureType", "habitat", "deploymentGroups",
                     "deploymentTags", "deploymentComments")
MEDIA_HEADER = ("mediaID", "deploymentID", "captureMethod", "timestamp", "filePath", "filePublic", "fileName", "fileMediatype",
                "exifData", "favorite", "mediaComments")
OBSERVATION_HEADER = ("observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd", "observationLevel",
                      "observationType", "cameraSetupType", "scientificName", "count", "lifeStage", "sex", "behavior", "individualID",
                      "individualPositionRadius", "individualPositionAngle", "individualSpeed", "bboxX", "bboxY", "bboxWidth",
                      "bboxHeight", "classificationMethod", "classifiedBy", "classificationTimestamp", "classificationProbability",
                      "observationTags", "observationComments")
FLANK_WORDS = {"linked": "an individual's left and right flanks are one individualID",
               "separate": "each flank of an individual is its own individualID (suffix -left / -right); animals of unknown flank have none",
               "left": "only left flanks carry an individualID", "right": "only right flanks carry an individualID"}


@dataclass(frozen=True)
class Deployment:
    id: str
    station: StationInfo
    camera: str
    first: date
    last: date


def working_periods(station: StationInfo) -> list[tuple[date, date]]:
    """Runs of consecutive working days."""
    periods: list[list[date]] = []
    for day in station.operational_days():
        if periods and (day - periods[-1][1]).days == 1:
            periods[-1][1] = day
        else:
            periods.append([day, day])
    return [(first, last) for first, last in periods]


def deployments(data: ProjectData) -> list[Deployment]:
    cameras: dict[str, set[str]] = {s.name: set() for s in data.stations}
    for media in data.media:
        if media.station:
            cameras[media.station].add(media.camera or "")
    out = []
    for station in data.stations:
        periods = working_periods(station)
        for camera in sorted(cameras[station.name] or {""}):
            base = f"{station.name}-{camera}" if camera else station.name
            for n, (first, last) in enumerate(periods, start=1):
                out.append(Deployment(f"{base}-{n}" if len(periods) > 1 else base, station, camera, first, last))
    ids = [d.id for d in out]
    if len(set(ids)) < len(ids):
        raise ExportError("two deployments would share an id (a station named like another station's camera); rename one station")
    return out


def _stamp(when: datetime, offset: str) -> str:
    return f"{when:%Y-%m-%dT%H:%M:%S}{offset}"


def _mediatype(path: str) -> str:
    guessed = mimetypes.guess_type(path, strict=False)[0]
    return guessed if guessed and guessed.startswith(("image/", "video/")) else "image/jpeg"


def _relative_box(box, width: int | None, height: int | None) -> tuple[str, str, str, str]:
    if not width or not height:
        return ("", "", "", "")
    x0, y0 = min(max(box[0], 0.0), width), min(max(box[1], 0.0), height)
    x1, y1 = min(max(box[2], 0.0), width), min(max(box[3], 0.0), height)
    if x1 <= x0 or y1 <= y0:
        return ("", "", "", "")
    return tuple(format_number(v) for v in (x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height))


def _package_name(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "pelage-project"


def _spatial(stations: list[StationInfo]) -> dict:
    lons, lats = [s.lon for s in stations], [s.lat for s in stations]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    if west == east and south == north:
        return {"type": "Point", "coordinates": [west, south]}
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "bbox": [west, south, east, north], "coordinates": [ring]}


def write_camtrapdp(data: ProjectData, options: ExportOptions, out: Path) -> dict:
    require_dates(data.stations)
    if options.utc_offset is None:
        raise ExportError("Camtrap DP needs the cameras' UTC offset (times carry a timezone): pass --utc-offset, e.g. +03:00")
    offset = options.utc_offset
    missing = [s.name for s in data.stations if s.lat is None or s.lon is None]
    if missing:
        raise ExportError(f"station(s) {', '.join(missing)} have no lat/lon; Camtrap DP needs WGS84 coordinates for every deployment "
                          "(add lat and lon columns to the station table)")
    all_deployments = deployments(data)
    by_camera: dict[tuple[str, str], list[Deployment]] = {}
    for deployment in all_deployments:
        by_camera.setdefault((deployment.station.name, deployment.camera), []).append(deployment)

    deployment_rows = []
    for d in all_deployments:
        outages = "; ".join(f"{a}..{b}" for a, b in d.station.outages)
        deployment_rows.append((d.id, d.station.name, d.station.name, format_number(d.station.lat), format_number(d.station.lon), "",
                                _stamp(datetime.combine(d.first, datetime.min.time()), offset),
                                f"{d.last.isoformat()}T23:59:59{offset}", "", d.camera, "", "", "", "", "", "", "", "false", "", "", "",
                                "", "", f"camera not working on {outages}" if outages else ""))

    media_rows, media_deployment, left_out_media = [], {}, []
    for media in data.media:
        found = None
        if media.station and media.time:
            found = next((d for d in by_camera.get((media.station, media.camera or ""), []) if d.first <= media.time.date() <= d.last),
                         None)
        if found is None:
            left_out_media.append(media.image_id)
            continue
        media_deployment[media.image_id] = (found.id, media.time)
        media_rows.append((str(media.image_id), found.id, "activityDetection", _stamp(media.time, offset),
                           f"{media.survey}/{media.image}", "false", posixpath.basename(media.image), _mediatype(media.image), "", "", ""))

    observation_rows, left_out_animals = [], []
    for p in sorted(data.photos, key=lambda p: p.animal_id):
        if p.image_id not in media_deployment:
            left_out_animals.append(p.animal_id)
            continue
        deployment_id, when = media_deployment[p.image_id]
        stamp = _stamp(when, offset)
        observation_rows.append((str(p.animal_id), deployment_id, str(p.image_id), "", stamp, stamp, "media", "animal", "",
                                 options.species, 1, "", "", "", p.entity or "", "", "", "", *_relative_box(p.box, p.width, p.height),
                                 "", "", "", "", f"flank:{p.flank or 'unknown'}", ""))

    days = [d.first for d in all_deployments] + [d.last for d in all_deployments]
    package = {
        "profile": f"{VERSION_URL}/camtrap-dp-profile.json",
        "name": _package_name(data.name),
        "title": data.name,
        "description": f"Individual identifications made with Pelage. Flanks: {data.flank_mode.value} ({FLANK_WORDS[data.flank_mode.value]}).",
        "created": f"{data.updated:%Y-%m-%dT%H:%M:%S}Z" if data.updated else f"{max(days).isoformat()}T00:00:00Z",
        "contributors": [{"title": options.contributor, "role": "contributor"}],
        "sources": [{"title": "Pelage"}],
        "project": {"title": data.name, "samplingDesign": options.sampling_design, "captureMethod": ["activityDetection"],
                    "individualAnimals": True, "observationLevel": ["media"]},
        "spatial": _spatial(list(data.stations)),
        "temporal": {"start": min(days).isoformat(), "end": max(days).isoformat()},
        "taxonomic": [{"scientificName": options.species}],
        "resources": [
            {"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource", "format": "csv", "mediatype": "text/csv",
             "encoding": "utf-8", "schema": f"{VERSION_URL}/{name}-table-schema.json"}
            for name in ("deployments", "media", "observations")
        ],
    }
    files = [
        write_text(out / "datapackage.json", json.dumps(package, indent=2, ensure_ascii=False) + "\n"),
        write_text(out / "deployments.csv", csv_text(DEPLOYMENT_HEADER, deployment_rows)),
        write_text(out / "media.csv", csv_text(MEDIA_HEADER, media_rows)),
        write_text(out / "observations.csv", csv_text(OBSERVATION_HEADER, observation_rows)),
    ]
    left_out = {}  # photos the flank mode gives no entity stay as observations, only without individualID
    if left_out_animals:
        left_out["image outside every deployment"] = left_out_animals
    summary = {"files": files, "deployments": len(deployment_rows), "media": len(media_rows), "observations": len(observation_rows),
               "without_individual": sum(1 for row in observation_rows if not row[14]), "left_out": left_out}
    if left_out_media:
        summary["media_left_out"] = left_out_media
    return summary
