"""Spot words: a crop's RootSIFT keypoints counted as a bag of visual words, a second look for the shortlist.

The embedding was trained on nyala alone, and at survey scale it lets other coats (lions, scenery, other species in
the frames) crowd a nyala's 100-photo shortlist. Counting which kinds of keypoint a crop holds (each descriptor
assigned to its nearest of a few hundred k-means centres, square-rooted counts weighted by inverse document
frequency, as in Video Google / HotSpotter's vocabulary) tells a striped flank from a lion's coat without any
training on lions. Identification appends the unit word histogram to the embedding (``ModelConfig.spot_words``,
:func:`pelage.reid.embed.identification_vectors`), so one FAISS search ranks by
``(cosine + weight · word cosine) / (1 + weight)``.

Chosen on the bundled model's calibration identities (survey-scale recall of the 100-photo shortlist, gallery of
1,202 photos: 92.1 % with the embedding alone; 256 words at weight 0.5: 98.4 %; 1,024 words: 96.1 to 97.6 %). The
words see the model's own input (the masked crop), so vectors stay a function of what the model is given.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pelage.reid.errors import ModelFolderError
from pelage.reid.rerank import MAX_KEYPOINTS, WORKING_SIDE, extract_features

VOCABULARY_FILE = "spot_words.safetensors"
DESCRIPTOR_DIM = 128
VOCABULARY_SIZE = 256  # words (chosen on calibration, above)
VOCABULARY_PHOTOS = 200  # training photos whose descriptors the words are fitted on (~160,000 descriptors)
MIN_DESCRIPTORS_PER_WORD = 10
_SUFFIX = re.compile(r"-words(\d+)\.[0-9a-f]{8}$")


@dataclass(frozen=True)
class SpotVocabulary:
    centres: np.ndarray  # K×128 float32, k-means centres of RootSIFT descriptors
    idf: np.ndarray  # K float32, log inverse document frequency of each word among the crops it was fitted on

    def __post_init__(self) -> None:
        k = len(self.centres)
        if (self.centres.ndim != 2 or self.centres.shape[1] != DESCRIPTOR_DIM or self.idf.shape != (k,) or k == 0
                or not (np.isfinite(self.centres).all() and np.isfinite(self.idf).all())):
            raise ValueError(f"a spot vocabulary needs K×{DESCRIPTOR_DIM} finite centres and K finite weights, "
                             f"got {self.centres.shape} and {self.idf.shape}")

    @property
    def size(self) -> int:
        return len(self.centres)

    def signature(self) -> str:
        """Eight hex digits of the vocabulary's bytes: part of the model id, since other words give other vectors."""
        digest = hashlib.sha256(np.ascontiguousarray(self.centres, "<f4").tobytes())
        digest.update(np.ascontiguousarray(self.idf, "<f4").tobytes())
        return digest.hexdigest()[:8]

    def counts(self, descriptors: np.ndarray) -> np.ndarray:
        """How many of one crop's descriptors fall to each word (its nearest centre)."""
        counts = np.zeros(self.size, np.float32)
        if len(descriptors):
            centres = self.centres
            distances = (np.einsum("ij,ij->i", descriptors, descriptors)[:, None] - 2.0 * descriptors @ centres.T
                         + np.einsum("ij,ij->i", centres, centres)[None, :])
            np.add.at(counts, distances.argmin(axis=1), 1.0)
        return counts

    def histogram(self, descriptors: np.ndarray) -> np.ndarray:
        """The unit word vector of one crop's descriptors (all zeros for a crop without keypoints)."""
        weighted = np.sqrt(self.counts(descriptors)) * self.idf  # square roots tame bursts of one repeated stripe
        norm = float(np.linalg.norm(weighted))
        return weighted / norm if norm > 0 else weighted


def model_input_descriptors(crop: np.ndarray) -> np.ndarray:
    """RootSIFT descriptors of a model input (H×W×4: masked RGB + edge) inside the animal (the non-black pixels)."""
    rgb = np.ascontiguousarray(crop[..., :3])
    inside = np.where(rgb.max(axis=2) > 0, 255, 0).astype(np.uint8)
    return extract_features(rgb, inside, WORKING_SIDE, MAX_KEYPOINTS).descriptors


def word_vectors(vocabulary: SpotVocabulary, crops: list[np.ndarray]) -> np.ndarray:
    """N×K unit word vectors of model inputs."""
    if not crops:
        return np.zeros((0, vocabulary.size), np.float32)
    return np.stack([vocabulary.histogram(model_input_descriptors(crop)) for crop in crops]).astype(np.float32)


def model_id_suffix(vocabulary: SpotVocabulary) -> str:
    """What a model id ends with when its vectors carry these words (:func:`words_in_model_id` reads it back)."""
    return f"-words{vocabulary.size}.{vocabulary.signature()}"


def words_in_model_id(model_id: str) -> int:
    """How many spot words end the vectors of ``model_id`` (0: none), read off the id without loading the model."""
    found = _SUFFIX.search(model_id)
    return int(found.group(1)) if found else 0


def fit_vocabulary(descriptor_sets: list[np.ndarray], size: int, seed: int = 0) -> SpotVocabulary:
    """k-means centres of every crop's descriptors, and each word's inverse document frequency over those crops."""
    import faiss

    pooled = np.concatenate([np.asarray(d, np.float32).reshape(-1, DESCRIPTOR_DIM) for d in descriptor_sets])
    if len(pooled) < size:
        raise ValueError(f"{len(pooled)} descriptors cannot make {size} words")
    kmeans = faiss.Kmeans(DESCRIPTOR_DIM, size, niter=20, seed=seed, max_points_per_centroid=256)
    kmeans.train(pooled)
    centres = np.asarray(kmeans.centroids, np.float32)
    unweighted = SpotVocabulary(centres, np.ones(size, np.float32))
    present = sum((unweighted.counts(np.asarray(d, np.float32)) > 0 for d in descriptor_sets), np.zeros(size, np.float32))
    idf = np.log((len(descriptor_sets) + 1) / (present + 1)).astype(np.float32)
    return SpotVocabulary(centres, idf)


def fit_crop_vocabulary(crops: list[np.ndarray], size: int = VOCABULARY_SIZE, photos: int = VOCABULARY_PHOTOS,
                        seed: int = 0) -> SpotVocabulary:
    """A vocabulary fitted on the descriptors of up to ``photos`` of these model inputs (training crops), drawn with
    ``seed``: what ``pelage train`` gives a new model and what the bundled model's words were fitted with."""
    chosen = np.sort(np.random.default_rng(seed).permutation(len(crops))[:photos])
    descriptors = [model_input_descriptors(crops[i]) for i in chosen]
    found = sum(len(d) for d in descriptors)
    if found < MIN_DESCRIPTORS_PER_WORD * size:
        raise ValueError(f"{found} keypoints in {len(chosen)} crops are too few for {size} spot words "
                         f"(at least {MIN_DESCRIPTORS_PER_WORD * size} are needed)")
    return fit_vocabulary(descriptors, size, seed)


def save_vocabulary(vocabulary: SpotVocabulary, directory: Path) -> Path:
    from safetensors.numpy import save_file

    path = Path(directory) / VOCABULARY_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({"centres": vocabulary.centres.astype(np.float32), "idf": vocabulary.idf.astype(np.float32)}, str(tmp))
    tmp.replace(path)
    return path


def load_vocabulary(directory: Path, size: int) -> SpotVocabulary:
    """The model folder's vocabulary of ``size`` words; a missing, damaged or other-sized file is a ModelFolderError."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(directory) / VOCABULARY_FILE
    try:
        tensors = load_file(str(path))
        vocabulary = SpotVocabulary(np.asarray(tensors["centres"], np.float32), np.asarray(tensors["idf"], np.float32))
    except (OSError, KeyError, ValueError, SafetensorError) as exc:
        raise ModelFolderError(f"{path} is not a readable spot vocabulary ({exc}): copy the model folder again") from exc
    if vocabulary.size != size:
        raise ModelFolderError(f"{path} holds {vocabulary.size} words but config.json says {size}: copy the model folder again")
    return vocabulary
