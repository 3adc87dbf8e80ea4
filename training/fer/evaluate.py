"""Score the exported ONNX model with ONNX Runtime on the FER2013 test set and time it on one CPU thread.

  python -m fer.evaluate --model ../models/mycnn.onnx --out ../models/card [--flip-tta] [--write-metadata]

Writes <out>/metrics.json (accuracy on the full test set, PublicTest_ and PrivateTest_, with and without the test
images that duplicate a train image; per-class precision/recall/F1, macro-F1, confusion matrix; latency per face
at batch 1 and batch 16; params and multiply-adds) and <out>/confusion_matrix.png. `--flip-tta` also scores the
average of the logits of each image and its mirror image (reported separately, never mixed into the main
numbers). `--write-metadata` writes the measured accuracies back into the model's metadata_props.

When the FER+ votes are found (`--ferplus`, $FERPLUS_VOTES, ../shared/data/ferplus/ferplus_votes.csv), metrics.json
also gets `ferplus`: accuracy on PublicTest_ against the FER+ plurality label (a tied plurality counts for any
tied class; also on the images with a unique plurality only), per-class precision/recall against the plurality,
the calibration (ECE, 15 bins) of the model's softmax on PublicTest_, the agreement between FER2013's labels and
the FER+ plurality on train + PublicTest_, and the model's FER2013-label accuracy on the PublicTest_ images where
the two label sets agree and where they disagree (why FER2013-label accuracy drops for a FER+ model).

Latency is only meaningful on an idle machine: the load average at measurement time is recorded beside it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import LABELS, onnx_io
from .data import (Split, attach_ferplus, duplicate_test_paths, find_dataset,
                   find_ferplus, ferplus_soft_targets, load_split, manifest_hash, plurality_sets, read_ferplus_votes,
                   usage_mask)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True, help="folder for metrics.json and confusion_matrix.png")
    p.add_argument("--data", help="dataset root (default: $FER2013_DIR, ../shared/data/fer2013, data/fer2013)")
    p.add_argument("--summary", help="summary.json of the training run (params, MACs, epochs, training minutes)")
    p.add_argument("--ferplus", help="ferplus_votes.csv (default: $FERPLUS_VOTES, ../shared/data/ferplus/ferplus_votes.csv)")
    p.add_argument("--no-ferplus", action="store_true", help="skip the FER+ section even when the votes are found")
    p.add_argument("--flip-tta", action="store_true", help="also score mirror-averaged logits")
    p.add_argument("--write-metadata", action="store_true", help="write the measured accuracies into the model")
    p.add_argument("--latency-runs", type=int, default=2000, help="timed batch-1 runs (median reported); 0 = skip")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads for scoring and latency")
    p.add_argument("--limit-per-class", type=int, help="score only this many test images per class (smoke tests)")
    return p.parse_args(argv)


def classification_report(y: np.ndarray, pred: np.ndarray) -> dict:
    k = len(LABELS)
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)  # rows = true class, columns = predicted
    tp = np.diag(cm).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(cm.sum(0) > 0, tp / cm.sum(0), 0.0)
        recall = np.where(cm.sum(1) > 0, tp / cm.sum(1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = {
        name: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
               "f1": round(float(f1[i]), 4), "support": int(cm[i].sum())}
        for i, name in enumerate(LABELS)
    }
    return {"per_class": per_class, "macro_f1": round(float(f1.mean()), 4), "confusion_matrix": cm.tolist()}


def accuracy(y: np.ndarray, pred: np.ndarray, mask: np.ndarray | None = None) -> dict:
    if mask is not None:
        y, pred = y[mask], pred[mask]
    return {"accuracy": round(float((y == pred).mean()), 4) if len(y) else None, "n": int(len(y))}


def score(split: Split, logits: np.ndarray, dups: set[str]) -> dict:
    """Accuracies per usage and with/without train duplicates, plus the per-class report on the full test set."""
    y, pred = split.labels, logits.argmax(1)
    pub, priv = usage_mask(split, "PublicTest_"), usage_mask(split, "PrivateTest_")
    dup = np.array([p in dups for p in split.paths])
    out = {
        "full_test": accuracy(y, pred),
        "public_test": accuracy(y, pred, pub),
        "private_test": accuracy(y, pred, priv),
        "full_test_without_train_duplicates": accuracy(y, pred, ~dup),
        "public_test_without_train_duplicates": accuracy(y, pred, pub & ~dup),
        "private_test_without_train_duplicates": accuracy(y, pred, priv & ~dup),
        "train_duplicates_only": accuracy(y, pred, dup),
        "macro_f1_public_test": classification_report(y[pub], pred[pub])["macro_f1"] if pub.any() else None,
        "macro_f1_private_test": classification_report(y[priv], pred[priv])["macro_f1"] if priv.any() else None,
    }
    out.update(classification_report(y, pred))
    return out


def label_agreement(votes: dict) -> dict:
    """How often FER2013's label (the class folder in the path) is the FER+ plurality, over the images FER+
    labels usefully (per usage and overall; `tie_aware` counts a tie for any tied class)."""
    out: dict = {}
    for usage in ("train/", "test/", ""):
        n = strict = tie = 0
        for path, v in votes.items():
            if not path.startswith(usage):
                continue
            t = ferplus_soft_targets(v)
            if t is None:
                continue
            c = LABELS.index(path.split("/")[1])
            n += 1
            strict += int(t.argmax() == c)
            tie += int(t[c] >= t.max() - 1e-6)
        key = {"train/": "train", "test/": "public_test", "": "train_and_public_test"}[usage]
        out[key] = {"n": n, "agreement": round(strict / max(n, 1), 4), "agreement_tie_aware": round(tie / max(n, 1), 4)}
    return out


def score_ferplus(split: Split, logits: np.ndarray, votes: dict) -> dict:
    """FER+ numbers on the PublicTest_ images of `split` (the only test images with votes)."""
    from .calibrate import ece, softmax

    pub_mask = usage_mask(split, "PublicTest_")
    fer_labels_pub = split.labels[pub_mask]
    pub_logits = logits[pub_mask]
    public, soft, stats = attach_ferplus(split.subset(pub_mask), votes)
    kept = set(public.paths)
    keep = np.array([p in kept for p in split.subset(pub_mask).paths])
    lg = pub_logits[keep]
    pred = lg.argmax(1)
    sets = plurality_sets(soft)
    rows = np.arange(len(pred))
    correct = sets[rows, pred]
    unique = sets.sum(1) == 1
    probs = softmax(lg)
    rep = classification_report(public.labels, pred)
    agree = fer_labels_pub[keep] == public.labels
    fer_correct = pred == fer_labels_pub[keep]
    return {
        "split": "PublicTest_", "images": stats,
        "plurality_accuracy": round(float(correct.mean()), 4),
        "plurality_accuracy_unique_plurality_only": round(float((pred[unique] == public.labels[unique]).mean()), 4),
        "n_unique_plurality": int(unique.sum()), "n_tied_plurality": int((~unique).sum()),
        "neutral_recall": rep["per_class"]["neutral"]["recall"],
        "per_class": rep["per_class"], "macro_f1": rep["macro_f1"], "confusion_matrix": rep["confusion_matrix"],
        "per_class_note": "against the plurality label, a tie resolved to the first tied class in label order",
        "ece_15_bins": round(ece(probs, correct), 4), "mean_confidence": round(float(probs.max(1).mean()), 4),
        "fer2013_label_accuracy_where_labels_agree": round(float(fer_correct[agree].mean()), 4),
        "fer2013_label_accuracy_where_labels_disagree": round(float(fer_correct[~agree].mean()), 4),
        "n_labels_agree": int(agree.sum()), "n_labels_disagree": int((~agree).sum()),
        "label_agreement_fer2013_vs_ferplus_plurality": label_agreement(votes),
    }


def latency(sess, runs: int, warmup: int) -> dict:
    """Median wall time per face of one session.run at batch 1 and at batch 16 (random crops)."""
    name = sess.get_inputs()[0].name
    rng = np.random.default_rng(0)
    res = {}
    for batch, n in ((1, runs), (16, max(50, runs // 8))):
        x = rng.integers(0, 256, size=(batch, 1, 48, 48)).astype(np.float32)
        for _ in range(warmup):
            sess.run(None, {name: x})
        times = np.empty(n)
        for i in range(n):
            t = time.perf_counter()
            sess.run(None, {name: x})
            times[i] = time.perf_counter() - t
        per_face = times * 1e3 / batch
        res[f"batch{batch}"] = {
            "runs": n, "median_ms_per_face": round(float(np.median(per_face)), 4),
            "p90_ms_per_face": round(float(np.percentile(per_face, 90)), 4),
            "mean_ms_per_face": round(float(per_face.mean()), 4),
        }
    return res


def plot_confusion(cm: np.ndarray, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    for ax, mat, sub, fmt in ((axes[0], cm, "counts", "{:d}"), (axes[1], rows, "row-normalised (recall)", "{:.2f}")):
        ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(LABELS)):
            for j in range(len(LABELS)):
                v = mat[i, j]
                ax.text(j, i, fmt.format(int(v) if fmt == "{:d}" else v), ha="center", va="center", fontsize=8,
                        color="white" if rows[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
        ax.set_yticks(range(len(LABELS)), LABELS)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(sub)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def limit_per_class(split: Split, n: int) -> Split:
    """The first n PublicTest_ and the first n PrivateTest_ images of every class (both usages stay present)."""
    keep = np.zeros(len(split), dtype=bool)
    for prefix in ("PublicTest_", "PrivateTest_"):
        m = usage_mask(split, prefix)
        for c in range(len(LABELS)):
            keep[np.nonzero(m & (split.labels == c))[0][:n]] = True
    return split.subset(keep)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    model_path, out = Path(args.model), Path(args.out)
    if not model_path.is_file():
        sys.exit(f"--model {model_path}: no such file (export one with python -m fer.export)")
    if args.summary and not Path(args.summary).is_file():
        sys.exit(f"--summary {args.summary}: no such file (fer.train writes summary.json when the run ends)")
    summary = json.loads(Path(args.summary).read_text()) if args.summary else {}
    out.mkdir(parents=True, exist_ok=True)
    meta = onnx_io.read_metadata(model_path)
    problems = onnx_io.check_contract(model_path)
    if problems:
        print("contract problems:\n  " + "\n  ".join(problems), file=sys.stderr)

    root = find_dataset(args.data)
    t = time.time()
    split = load_split(root, "test")
    if args.limit_per_class:
        split = limit_per_class(split, args.limit_per_class)
    dups = duplicate_test_paths(root)
    print(f"loaded {len(split)} test images from {root} in {time.time() - t:.1f}s "
          f"({sum(p in dups for p in split.paths)} duplicate a train image)")

    sess = onnx_io.session(model_path, threads=args.threads)
    t = time.time()
    logits = onnx_io.logits(sess, split.images)
    metrics: dict = {
        "model": str(model_path), "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "model_bytes": model_path.stat().st_size, "model_name": meta.get("model_name"),
        "dataset": str(root), "dataset_manifest_sha256": manifest_hash(root),
        "complete_test_set": not args.limit_per_class,
        "contract_problems": problems,
        "scoring_seconds": round(time.time() - t, 1),
    }
    metrics.update(score(split, logits, dups))
    if args.flip_tta:
        tta = (logits + onnx_io.logits(sess, split.images, flip=True)) / 2
        metrics["flip_tta"] = score(split, tta, dups)
    votes = None
    if not args.no_ferplus:
        try:
            votes = read_ferplus_votes(find_ferplus(args.ferplus))
        except FileNotFoundError as e:
            if args.ferplus:
                raise
            print(f"FER+ section skipped: {e}", file=sys.stderr)
    if votes is not None:
        metrics["ferplus"] = score_ferplus(split, logits, votes)
        if args.flip_tta:
            metrics["flip_tta"]["ferplus_plurality_accuracy"] = score_ferplus(split, tta, votes)["plurality_accuracy"]
    for k in ("label_source", "temperature"):
        metrics[k] = meta.get(k, "fer2013" if k == "label_source" else "1")

    params = int(meta.get("params") or summary.get("params") or 0) or None
    macs = int(meta.get("macs") or summary.get("macs") or 0) or None
    metrics["params"] = params
    metrics["macs_per_image"] = macs
    metrics["flops_per_image"] = 2 * macs if macs else None
    for k in ("epochs", "train_minutes", "images_per_s", "final_public_acc", "best_public_acc"):
        if k in summary:
            metrics[f"train_{k}" if not k.startswith("train") else k] = summary[k]

    if args.latency_runs > 0:
        lsess = onnx_io.session(model_path, threads=1)
        load_before = os.getloadavg()
        metrics["latency"] = latency(lsess, args.latency_runs, args.warmup)
        metrics["latency"].update({
            "threads": 1, "provider": "CPUExecutionProvider", "onnxruntime": __import__("onnxruntime").__version__,
            "loadavg_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "cpu_count": os.cpu_count(),
            "note": "median of timed session.run calls after warm-up; flip TTA would cost two runs per face",
        })

    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    full = metrics["full_test"]["accuracy"]
    plot_confusion(np.array(metrics["confusion_matrix"]),
                   f"{meta.get('model_name', model_path.stem)} on FER2013 test ({len(split)} images), accuracy {full:.2%}",
                   out / "confusion_matrix.png")

    print(f"full test {full:.4f} | PublicTest {metrics['public_test']['accuracy']} | PrivateTest "
          f"{metrics['private_test']['accuracy']} | without train duplicates "
          f"{metrics['full_test_without_train_duplicates']['accuracy']} (n={metrics['full_test_without_train_duplicates']['n']})"
          f" | macro-F1 {metrics['macro_f1']}")
    for name, r in metrics["per_class"].items():
        print(f"  {name:9s} precision {r['precision']:.3f} recall {r['recall']:.3f} f1 {r['f1']:.3f} n={r['support']}")
    if args.flip_tta:
        t = metrics["flip_tta"]
        print(f"flip TTA: full test {t['full_test']['accuracy']} | PublicTest {t['public_test']['accuracy']} | "
              f"PrivateTest {t['private_test']['accuracy']} | macro-F1 {t['macro_f1']}")
    if "ferplus" in metrics:
        f = metrics["ferplus"]
        print(f"FER+ PublicTest_ ({f['images']['kept']} images): plurality accuracy {f['plurality_accuracy']} "
              f"(unique-plurality images only: {f['plurality_accuracy_unique_plurality_only']}, n={f['n_unique_plurality']}), "
              f"neutral recall {f['neutral_recall']}, macro-F1 {f['macro_f1']}, ECE {f['ece_15_bins']}")
        for name, r in f["per_class"].items():
            print(f"  {name:9s} precision {r['precision']:.3f} recall {r['recall']:.3f} n={r['support']}")
        print(f"FER2013-label accuracy on PublicTest_: {f['fer2013_label_accuracy_where_labels_agree']} where the FER2013 "
              f"label is the FER+ plurality (n={f['n_labels_agree']}), {f['fer2013_label_accuracy_where_labels_disagree']} "
              f"where it is not (n={f['n_labels_disagree']}); label agreement "
              f"{f['label_agreement_fer2013_vs_ferplus_plurality']['train_and_public_test']}")
        plot_confusion(np.array(f["confusion_matrix"]),
                       f"{meta.get('model_name', model_path.stem)} on PublicTest_ vs FER+ plurality, accuracy "
                       f"{f['plurality_accuracy']:.2%}", out / "confusion_matrix_ferplus.png")
    if "latency" in metrics:
        lat = metrics["latency"]
        print(f"latency (ORT CPU, 1 thread): batch 1 {lat['batch1']['median_ms_per_face']} ms/face (median of "
              f"{lat['batch1']['runs']}), batch 16 {lat['batch16']['median_ms_per_face']} ms/face; "
              f"load average {lat['loadavg_1min_before_after']}")
    print(f"wrote {out / 'metrics.json'} and {out / 'confusion_matrix.png'}")

    if args.write_metadata:
        if args.limit_per_class:
            print("not writing metadata: --limit-per-class scores a subset, not the test set", file=sys.stderr)
        else:
            values = {
                "test_accuracy": f"{full:.4f}",
                "public_test_accuracy": f"{metrics['public_test']['accuracy']:.4f}",
                "private_test_accuracy": f"{metrics['private_test']['accuracy']:.4f}",
                "test_accuracy_without_train_duplicates": f"{metrics['full_test_without_train_duplicates']['accuracy']:.4f}",
                "test_macro_f1": f"{metrics['macro_f1']:.4f}",
                "dataset_manifest_sha256": metrics["dataset_manifest_sha256"],
            }
            if "ferplus" in metrics:
                values["ferplus_public_test_accuracy"] = f"{metrics['ferplus']['plurality_accuracy']:.4f}"
                values["ferplus_public_test_neutral_recall"] = f"{metrics['ferplus']['neutral_recall']:.4f}"
            if "latency" in metrics:
                values["latency_ms_batch1_1thread"] = f"{metrics['latency']['batch1']['median_ms_per_face']:.3f}"
            onnx_io.write_metadata(model_path, values)
            print(f"wrote {', '.join(values)} into {model_path} metadata")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
