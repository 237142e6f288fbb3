"""Import with worker threads: the same rows as one photo at a time, the detector's map as the mask, a prompt stop."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select

from pelage.ingest import DetectorConfig, ImportOptions, build_pipeline, import_survey, run_import
from pelage.store import Detection, MaskSource, open_project
from tests.test_import import image_rows


def _factory(user_home, project, reuse_detector_masks: bool = True):
    return partial(build_pipeline, user_home, project.artefacts, DetectorConfig(name="saliency"), threads=1,
                   reuse_detector_masks=reuse_detector_masks)


def _mask_sources(project) -> list[MaskSource]:
    with project.sessions() as session:
        return list(session.scalars(select(Detection.mask_source)))


def test_workers_record_what_one_photo_at_a_time_records(tmp_path, user_home, demo_survey):
    runs = {}
    for workers in (1, 3):
        with open_project(tmp_path / f"project-{workers}", create=True) as project:
            events = []
            summary = import_survey(project, demo_survey, _factory(user_home, project), ImportOptions(workers=workers),
                                    on_progress=events.append)
            runs[workers] = (image_rows(project), [(e.done, e.path, e.outcome) for e in events], summary.failures)
    assert runs[1] == runs[3]  # same rows, same boxes and masks, events in the scan's order
    assert [done for done, _, _ in runs[3][1]] == list(range(1, 26))


def test_the_offline_detectors_map_is_the_mask_and_rembg_runs_only_without_one(tmp_path, user_home, demo_survey):
    with open_project(tmp_path / "current", create=True) as project:
        import_survey(project, demo_survey, _factory(user_home, project))
        current = _mask_sources(project)
    with open_project(tmp_path / "reference", create=True) as project:
        import_survey(project, demo_survey, _factory(user_home, project, reuse_detector_masks=False), ImportOptions(workers=1))
        reference = _mask_sources(project)
    assert len(current) == len(reference) >= 16
    assert current.count(MaskSource.SALIENCY) >= 0.9 * len(current) and MaskSource.SALIENCY not in reference


def test_stop_ends_before_the_next_file_and_records_nothing_more(tmp_path, user_home, demo_survey):
    with open_project(tmp_path / "project", create=True) as project:
        events = []
        importing = run_import(project, demo_survey, _factory(user_home, project), ImportOptions(workers=2),
                               should_stop=lambda: len(events) >= 4)
        try:
            while True:
                events.append(next(importing))
        except StopIteration as stop:
            summary = stop.value
        assert summary.cancelled and len(events) == 4 and len(image_rows(project)) == 4
        rest = import_survey(project, demo_survey, _factory(user_home, project))
        assert rest.already_imported == 4 and rest.imported + rest.failed == 21
