"""U²-Net-p salient-object maps through rembg, shared by the offline detector and the masker.

rembg finds its model files through the ``U2NET_HOME`` environment variable only; we set it for the
moment the session is created and restore it, so nothing else in the process sees a change.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from pelage.weights.install import U2NETP_CHECKSUM
from pelage.weights.verify import WeightsState, installed_state

MODEL_NAME = "u2netp"
INPUT_SIZE = 320
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class ModelMissingError(RuntimeError):
    """A model file Pelage needs is not installed; the message gives the command that installs it."""


@contextmanager
def _env(name: str, value: str):
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def check_model_file(rembg_home: Path) -> Path:
    """The U²-Net-p file, or :class:`ModelMissingError` when it is missing or damaged.

    A damaged file must be caught here: rembg would try to download a fresh copy, which an offline laptop cannot.
    """
    model_file = Path(rembg_home) / f"{MODEL_NAME}.onnx"
    state = installed_state(model_file, U2NETP_CHECKSUM).state
    if state == WeightsState.MISSING:
        raise ModelMissingError(f"The background-removal model is missing ({model_file}). Install it with `pelage models install u2netp`.")
    if state == WeightsState.DAMAGED:
        raise ModelMissingError(f"The background-removal model {model_file} is damaged (checksum mismatch). "
                                "Reinstall it with `pelage models install u2netp`.")
    return model_file


class SaliencyModel:
    """Salient-object probability maps (0 = background, 1 = object) at the input image's size."""

    def __init__(self, rembg_home: Path, threads: int | None = None) -> None:
        check_model_file(rembg_home)
        import onnxruntime as ort
        from rembg import new_session  # heavy import, only when a model is really needed

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        with _env("U2NET_HOME", str(rembg_home)):
            self._session = new_session(MODEL_NAME, sess_opts=options, providers=["CPUExecutionProvider"])
        self._inner = self._session.inner_session
        self._input_name = self._inner.get_inputs()[0].name

    def predict_square(self, rgb: np.ndarray) -> np.ndarray:
        """Saliency at the network's 320×320 resolution for an H×W×3 uint8 image (squashed)."""
        small = cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        tensor = ((small.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None]
        output = self._inner.run(None, {self._input_name: np.ascontiguousarray(tensor)})[0]
        return np.clip(output[0, 0], 0.0, 1.0).astype(np.float32)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Saliency at the image's own size."""
        height, width = rgb.shape[:2]
        return cv2.resize(self.predict_square(rgb), (width, height), interpolation=cv2.INTER_LINEAR)
