"""FER2013 in the Kaggle image-folder layout: <root>/{train,test}/<class>/*.jpg.

Everything is loaded once into uint8 arrays (35,887 x 48 x 48 = 83 MB); augmentation runs on whole
batches in torch, so no DataLoader workers compete for the two cores.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import LABELS

DEFAULT_CANDIDATES = ("../shared/data/fer2013", "data/fer2013")


def _first_default(candidates, ok) -> Path | None:
    """The first relative candidate, tried against the current directory then the repository root, that passes `ok`."""
    repo = Path(__file__).resolve().parents[2]
    for cand in candidates:
        for base in (Path.cwd(), repo):
            p = (base / cand).resolve()
            if ok(p):
                return p
    return None


def find_dataset(explicit: str | None = None) -> Path:
    """The dataset root: --data, then $FER2013_DIR, then ../shared/data/fer2013, then data/fer2013.

    Relative defaults are tried against the current directory and the repository root.
    """
    if explicit:
        p = Path(explicit)
        if not (p / "train").is_dir():
            raise FileNotFoundError(f"--data {p}: no train/ folder there (expected <root>/train/<class>/*.jpg)")
        return p
    env = os.environ.get("FER2013_DIR")
    if env:
        p = Path(env)
        if not (p / "train").is_dir():
            raise FileNotFoundError(f"FER2013_DIR={p}: no train/ folder there")
        return p
    found = _first_default(DEFAULT_CANDIDATES, lambda p: (p / "train").is_dir())
    if found:
        return found
    raise FileNotFoundError(
        "FER2013 not found: pass --data <dir> or set FER2013_DIR (tried ../shared/data/fer2013 and data/fer2013)"
    )


@dataclass
class Split:
    images: np.ndarray  # uint8 [N,48,48]
    labels: np.ndarray  # int64 [N]
    paths: list[str]    # relative to the dataset root, e.g. "test/angry/PublicTest_123.jpg"

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> "Split":
        idx = np.nonzero(mask)[0]
        return Split(self.images[idx], self.labels[idx], [self.paths[i] for i in idx])


def load_split(root: Path, split: str, limit_per_class: int | None = None) -> Split:
    images, labels, paths = [], [], []
    for ci, name in enumerate(LABELS):
        folder = root / split / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: the dataset must hold one folder per class {LABELS}")
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith((".jpg", ".jpeg", ".png")))
        if limit_per_class is not None:
            files = files[:limit_per_class]
        for f in files:
            with Image.open(folder / f) as im:
                a = np.asarray(im.convert("L"), dtype=np.uint8)
            if a.shape != (48, 48):
                a = np.asarray(Image.fromarray(a).resize((48, 48), Image.BILINEAR), dtype=np.uint8)
            images.append(a)
            labels.append(ci)
            paths.append(f"{split}/{name}/{f}")
    return Split(np.stack(images), np.asarray(labels, dtype=np.int64), paths)


def usage_mask(split: Split, prefix: str) -> np.ndarray:
    """Select PublicTest_ / PrivateTest_ files of the test split by their file-name prefix."""
    return np.array([os.path.basename(p).startswith(prefix) for p in split.paths])


def manifest_hash(root: Path) -> str:
    """sha256 of MANIFEST.sha256 when the dataset ships one, else of the sorted file list."""
    m = root / "MANIFEST.sha256"
    if m.is_file():
        return hashlib.sha256(m.read_bytes()).hexdigest()
    h = hashlib.sha256()
    for split in ("train", "test"):
        for p in sorted((root / split).rglob("*.jpg")):
            h.update(str(p.relative_to(root)).encode())
    return h.hexdigest()


def duplicate_test_paths(root: Path) -> set[str]:
    """Test images that have a pixel-identical image in train (DUPLICATES.csv, crosses_train_test=1)."""
    import csv

    f = root / "DUPLICATES.csv"
    if not f.is_file():
        return set()
    out = set()
    with open(f, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] == "test" and row["crosses_train_test"] == "1":
                out.add(row["path"])
    return out


# ---------------------------------------------------------------------------------------------------------------
# FER+ (Barsoum et al., ICMI 2016): ten annotators' votes for the FER2013 train and PublicTest_ images.

FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
# FER+ vote column feeding each of our LABELS (angry, disgust, fear, happy, neutral, sad, surprise).
FERPLUS_TO_LABEL = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
                    "neutral": "neutral", "sadness": "sad", "surprise": "surprise"}
FERPLUS_DEFAULT_CANDIDATES = ("../shared/data/ferplus/ferplus_votes.csv", "data/ferplus/ferplus_votes.csv")


def find_ferplus(explicit: str | None = None) -> Path:
    """ferplus_votes.csv: --ferplus, then $FERPLUS_VOTES, then ../shared/data/ferplus/, then data/ferplus/."""
    for given, what in ((explicit, "--ferplus"), (os.environ.get("FERPLUS_VOTES"), "FERPLUS_VOTES")):
        if given:
            p = Path(given)
            if not p.is_file():
                raise FileNotFoundError(f"{what} {p}: no such file (expected ferplus_votes.csv)")
            return p
    found = _first_default(FERPLUS_DEFAULT_CANDIDATES, Path.is_file)
    if found:
        return found
    raise FileNotFoundError("FER+ votes not found: pass --ferplus <csv> or set FERPLUS_VOTES "
                            "(tried ../shared/data/ferplus/ferplus_votes.csv and data/ferplus/ferplus_votes.csv)")


def read_ferplus_votes(csv_path: Path) -> dict[str, np.ndarray | None]:
    """path (relative to the FER2013 root) -> the 10 vote counts in FERPLUS_COLUMNS order, or None where FER+
    dropped the image (empty vote columns)."""
    import csv

    out: dict[str, np.ndarray | None] = {}
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = [f"ferplus_{c}" for c in FERPLUS_COLUMNS]
        missing = [c for c in ["path", *cols] if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: missing columns {missing}")
        for row in reader:
            raw = [row[c].strip() for c in cols]
            out[row["path"]] = None if all(v == "" for v in raw) else np.array([float(v or 0) for v in raw], np.float32)
    return out


def ferplus_soft_targets(votes: np.ndarray | None) -> np.ndarray | None:
    """The 7-class vote distribution (LABELS order) for one image, or None when the image is dropped.

    Dropped: FER+ dropped it (no votes); or not-a-face + unknown hold at least half of the votes; or none of
    the votes is for one of our 7 classes (e.g. all contempt). Contempt, unknown and NF votes are then left out
    and the 7 remaining counts renormalised to sum to 1.
    """
    if votes is None:
        return None
    col = {c: i for i, c in enumerate(FERPLUS_COLUMNS)}
    total = float(votes.sum())
    if total <= 0 or votes[col["unknown"]] + votes[col["NF"]] >= 0.5 * total:
        return None
    label_index = {name: i for i, name in enumerate(LABELS)}
    seven = np.zeros(len(LABELS), np.float32)
    for src, dst in FERPLUS_TO_LABEL.items():
        seven[label_index[dst]] = votes[col[src]]
    if seven.sum() <= 0:
        return None
    return seven / seven.sum()


def attach_ferplus(split: Split, votes: dict[str, np.ndarray | None]) -> tuple[Split, np.ndarray, dict[str, int]]:
    """Keep the images of `split` that FER+ labels usefully; return (the kept subset with `labels` = FER+
    plurality, soft targets float32 [n,7], counts of what was dropped and why).

    Images without a row in the votes (PrivateTest_) are dropped as `no_votes`. Plurality ties resolve to the
    first tied class in LABELS order (the soft target keeps the tie).
    """
    keep = np.zeros(len(split), dtype=bool)
    targets = []
    stats = {"kept": 0, "no_votes": 0, "ferplus_dropped": 0, "not_a_face_or_unknown": 0}
    for i, p in enumerate(split.paths):
        if p not in votes:
            stats["no_votes"] += 1
            continue
        v = votes[p]
        if v is None:
            stats["ferplus_dropped"] += 1
            continue
        t = ferplus_soft_targets(v)
        if t is None:
            stats["not_a_face_or_unknown"] += 1
            continue
        keep[i] = True
        targets.append(t)
    stats["kept"] = int(keep.sum())
    sub = split.subset(keep)
    soft = np.stack(targets).astype(np.float32) if targets else np.zeros((0, len(LABELS)), np.float32)
    sub.labels = soft.argmax(1).astype(np.int64)
    return sub, soft, stats


def plurality_sets(soft: np.ndarray) -> np.ndarray:
    """bool [n,7]: the classes with the most votes for each image (more than one where the vote is tied)."""
    return soft >= soft.max(1, keepdims=True) - 1e-6


def load_public_ferplus(data: str | None = None, ferplus: str | None = None) -> tuple[Split, np.ndarray, dict[str, int]]:
    """The PublicTest_ images FER+ keeps, their soft targets and the drop counts (the selection split's FER+ view)."""
    test = load_split(find_dataset(data), "test")
    return attach_ferplus(test.subset(usage_mask(test, "PublicTest_")), read_ferplus_votes(find_ferplus(ferplus)))
