"""Detector backends on real images: the offline saliency default and the Ultralytics YOLO loader."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from pelage.ingest.decode import decode_image
from pelage.ingest.detect import Box, DetectorConfig, SaliencyDetector, UltralyticsDetector, create_detector, iou
from pelage.ingest.detect.yolo import DetectorWeightsError, map_label
from pelage.ingest.pipeline import resolve_detector
from pelage.ingest.saliency import ModelMissingError, SaliencyModel
from pelage.weights import KNOWN_WEIGHTS, DamagedWeightsError
from pelage.weights.verify import VERIFIED_FILE
from tests.conftest import shared_dataset
from tests.images import pattern_rgb, save_jpeg
from tests.test_cli import pelage


def voc_box(xml_path: Path) -> Box:
    node = ET.parse(xml_path).find("object/bndbox")
    x0, y0, x1, y1 = (float(node.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
    return Box(x0, y0, x1, y1, 1.0)


@pytest.fixture(scope="module")
def saliency_model(installed_u2netp) -> SaliencyModel:
    return SaliencyModel(installed_u2netp.parent, threads=2)


def test_saliency_detector_finds_the_blob(saliency_model):
    rgb = pattern_rgb(640, 480)
    boxes = SaliencyDetector(saliency_model).detect(rgb)
    truth = Box(640 / 2 - 640 / 3.5, 480 / 4, 640 / 2 + 640 / 3.5, 480 * 3 / 4, 1)
    assert boxes and iou(boxes[0], truth) > 0.6


def test_missing_model_file_is_explained(tmp_path):
    with pytest.raises(ModelMissingError, match="pelage models install u2netp"):
        SaliencyModel(tmp_path)


def test_snow_leopard_boxes_match_the_annotations(saliency_model):
    """Acceptance: the offline default finds >= 15 of the 22 annotated snow leopards (IoU >= 0.5)."""
    root = shared_dataset("snow-leopards")
    detector = SaliencyDetector(saliency_model)
    hits, frames = 0, sorted(root.glob("*/*.JPG"))
    assert len(frames) == 22
    for frame in frames:
        truth = voc_box(frame.parent / "annotation" / f"{frame.stem}.xml")
        boxes = detector.detect(decode_image(frame).rgb)
        hits += any(iou(box, truth) >= 0.5 for box in boxes)
    print(f"saliency detector: {hits}/22 frames with IoU >= 0.5")
    assert hits >= 15


def test_auto_picks_yolo_only_when_weights_are_installed(saliency_model, tmp_path):
    assert isinstance(create_detector(DetectorConfig(), saliency_model, None), SaliencyDetector)
    with pytest.raises(FileNotFoundError, match="megadetector"):
        create_detector(DetectorConfig(name="yolo"), saliency_model, None)
    with pytest.raises(ValueError, match="Unknown detector"):
        create_detector(DetectorConfig(name="hog"), saliency_model, None)


@pytest.mark.parametrize(("name", "label"), [("animal", "animal"), ("Person", "person"), ("zebra", "animal"), ("car", "car")])
def test_label_mapping(name, label):
    assert map_label(name) == label


@pytest.fixture(scope="module")
def yolo_weights(tmp_path_factory) -> Path:
    """A real (untrained) YOLOv8n in MegaDetector's class layout, built offline from its YAML and exported to
    ONNX, the form in which Pelage takes a detector it does not know (a ``.pt`` is a pickle)."""
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    model = YOLO("yolov8n.yaml")
    model.model = DetectionModel("yolov8n.yaml", nc=3, verbose=False)
    model.model.names = {0: "animal", 1: "person", 2: "vehicle"}
    path = tmp_path_factory.mktemp("yolo") / "md-layout.pt"
    model.save(str(path))
    return Path(YOLO(str(path)).export(format="onnx", imgsz=640, simplify=False))


class RunsCode:
    """What a crafted ``.pt`` holds: unpickling it calls ``Path(marker).touch()``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_an_unknown_pickle_detector_file_is_refused_before_anything_runs(tmp_path, yolo_weights):
    import torch

    crafted = tmp_path / "my-detector.pt"
    torch.save({"model": RunsCode(tmp_path / "ran")}, crafted)
    with pytest.raises(DetectorWeightsError, match=r"pickle file, which can run code .*format=onnx"):
        UltralyticsDetector(crafted)
    assert not (tmp_path / "ran").exists()
    pickled_real = yolo_weights.with_suffix(".pt")  # a genuine YOLO .pt is refused all the same: not a published file
    with pytest.raises(DetectorWeightsError, match="not a published file"):
        UltralyticsDetector(pickled_real)


def test_a_name_ultralytics_would_complete_to_a_pickle_is_refused(tmp_path):
    """Given ``yolov8n`` (no suffix), Ultralytics loads ``yolov8n.pt`` beside it: only exact .onnx names pass."""
    import torch

    torch.save({"model": RunsCode(tmp_path / "ran")}, tmp_path / "yolov8n.pt")
    (tmp_path / "yolov8n").write_bytes(b"anything")
    with pytest.raises(DetectorWeightsError, match=r"is not a YOLO detector exported to ONNX \(a .onnx file\)"):
        UltralyticsDetector(tmp_path / "yolov8n")
    assert not (tmp_path / "ran").exists()


def test_ultralytics_backend_loads_weights_and_maps_classes(yolo_weights, saliency_model):
    detector = create_detector(DetectorConfig(name="auto", confidence=0.0001), saliency_model, yolo_weights)
    assert isinstance(detector, UltralyticsDetector) and detector.name == "yolo:md-layout"
    rgb = pattern_rgb(640, 480)
    boxes = detector.detect(rgb)
    assert boxes, "an untrained head at a near-zero threshold still proposes boxes"
    assert {box.label for box in boxes} <= {"animal", "person", "vehicle"}
    assert all(0 <= b.x0 <= b.x1 <= 640 and 0 <= b.y0 <= b.y1 <= 480 for b in boxes)
    assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)


def test_missing_yolo_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        UltralyticsDetector(tmp_path / "absent.pt")


def test_two_animals_give_two_detections(saliency_model):
    left, right = pattern_rgb(400, 300, seed=1), pattern_rgb(400, 300, seed=2)
    frame = np.concatenate([left, np.full((300, 400, 3), 60, np.uint8), right], axis=1)
    boxes = SaliencyDetector(saliency_model).detect(frame)
    centres = sorted((b.x0 + b.x1) / 2 for b in boxes)
    assert len(boxes) == 2 and centres[0] < 400 < 800 < centres[1]


def damaged_megadetector(models_dir: Path) -> Path:
    """A file with MegaDetector's name and the wrong bytes: what a disk error or a half-finished copy leaves."""
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / KNOWN_WEIGHTS["megadetector"].filename
    path.write_bytes(b"\x00" * 65536)
    return path


def test_damaged_megadetector_is_refused_for_yolo_and_passed_over_by_auto(tmp_path):
    damaged = damaged_megadetector(tmp_path / "models")
    with pytest.raises(DamagedWeightsError, match=r"is damaged \(checksum mismatch\); reinstall it with `pelage models install megadetector`"):
        resolve_detector(DetectorConfig(name="yolo"), tmp_path / "models")
    warnings: list[str] = []
    chosen = resolve_detector(DetectorConfig(name="auto"), tmp_path / "models", warn=warnings.append)
    assert chosen.name == "saliency" and len(warnings) == 1 and str(damaged) in warnings[0]
    assert not (tmp_path / "models" / VERIFIED_FILE).exists()  # a damaged file is never remembered as checked


def test_resolving_leaves_other_choices_alone(tmp_path):
    own = tmp_path / "mine.pt"
    assert resolve_detector(DetectorConfig(name="yolo", weights=own), tmp_path / "models").weights == own
    assert resolve_detector(DetectorConfig(name="saliency"), tmp_path / "models").name == "saliency"
    assert resolve_detector(DetectorConfig(name="auto"), tmp_path / "models").name == "saliency"
    with pytest.raises(FileNotFoundError, match="MegaDetector is not installed"):
        resolve_detector(DetectorConfig(name="yolo"), tmp_path / "models")


def test_models_list_says_damaged(user_home):
    damaged_megadetector(user_home.models)
    result = pelage("models", "list")
    assert "megadetector (" in result.stdout and "damaged (checksum mismatch" in result.stdout
    assert "u2netp (background removal, offline detector): installed" in result.stdout


def test_auto_import_with_a_damaged_detector_warns_and_uses_the_offline_one(tmp_path, user_home):
    damaged_megadetector(user_home.models)
    survey = tmp_path / "survey"
    save_jpeg(survey / "ST1" / "C1" / "a.jpg", pattern_rgb())
    result = pelage("import", str(survey), "--project", str(tmp_path / "project"), "--threads", "2", "--json")
    assert result.stderr.startswith("pelage: warning: the installed megadetector file") and "using the offline detector" in result.stderr
    animals = json.loads(pelage("animals", str(tmp_path / "project"), "--json").stdout)
    assert animals and {a["detector"] for a in animals} == {SaliencyDetector.name}


def test_a_file_that_is_not_yolo_weights_is_explained(tmp_path):
    garbage = tmp_path / "weights.onnx"
    garbage.write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(DetectorWeightsError, match="cannot load the detector weights .*--detector saliency"):
        UltralyticsDetector(garbage)
