"""Export a training checkpoint to the ONNX file the app loads (models/mycnn.onnx), and prove it matches PyTorch.

  python -m fer.export --checkpoint runs/emonet/checkpoint.pt --out ../models/mycnn.onnx

Contract: input `input` float32 [N,1,48,48] raw grey 0..255 (normalisation is inside the graph), output `logits`
float32 [N,7], metadata_props `labels` = angry,disgust,fear,happy,neutral,sad,surprise, weights inside the one
file. The model's accuracy is measured here with ONNX Runtime on the full test set and written to the metadata
(`test_accuracy`, `public_test_accuracy`, `private_test_accuracy`), next to the training configuration, the
command that trained it and the dataset manifest hash. `label_source` says which labels it was trained on
(`fer2013` or `ferplus`); a FER+ model also gets its PublicTest_ FER+ plurality accuracy. `--calibration
calibration.json` (from `fer.calibrate`) divides the last layer by the fitted temperature T, so the logits the app
softmaxes give calibrated probabilities; `temperature` and the ECE before/after go into the metadata
(`temperature` = 1 when no calibration was baked in). `--no-data` skips everything that needs FER2013
(parity then runs on random images; used by the tests).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from . import LABELS, onnx_io
from .models import build, count_macs

PARITY_TOL = 1e-3  # max |logit difference| ORT vs PyTorch; float32 reordering gives ~1e-6


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt written by fer.train")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--summary", help="summary.json of the run (default: beside the checkpoint, if present)")
    p.add_argument("--data", help="dataset root (default: the run's --data, $FER2013_DIR, ../shared/data/fer2013)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--test-accuracy", type=float, help="write this instead of measuring it (fraction 0..1)")
    p.add_argument("--no-data", action="store_true", help="no dataset: parity on random images, no accuracy/manifest")
    p.add_argument("--calibration", help="calibration.json from fer.calibrate: bake its temperature into the graph")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = build(ckpt["arch"], ckpt.get("dropout", 0.0))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt


def training_command(config: dict) -> str:
    """The fer.train command line that reproduces `config` (vars(args) of the run)."""
    parts = ["python -m fer.train"]
    for k, v in config.items():
        flag = "--" + k.replace("_", "-")
        if v is None or v is False:
            continue
        parts.append(flag if v is True else f"{flag} {v}")
    return " ".join(parts)


def export_onnx(model: torch.nn.Module, out: Path, opset: int) -> str:
    """Write `model` to `out` as one self-contained file; returns which exporter succeeded.

    The legacy TorchScript exporter gives a compact graph at opset 17 and never writes external data; the dynamo
    exporter (torch's default since 2.9) is the fallback, forced to inline its weights.
    """
    x = torch.zeros(2, 1, 48, 48)
    try:
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript", category=DeprecationWarning)
        torch.onnx.export(
            model, (x,), str(out), dynamo=False, opset_version=opset, input_names=[onnx_io.INPUT_NAME],
            output_names=[onnx_io.OUTPUT_NAME], dynamic_axes={onnx_io.INPUT_NAME: {0: "N"}, onnx_io.OUTPUT_NAME: {0: "N"}},
            do_constant_folding=True,
        )
        return f"torch.onnx legacy (TorchScript) exporter, opset {opset}"
    except Exception as e:  # noqa: BLE001 - any legacy failure falls back to dynamo, the error is reported
        print(f"legacy exporter failed ({type(e).__name__}: {e}); trying the dynamo exporter", file=sys.stderr)
    n = torch.export.Dim("N", min=1, max=4096)
    torch.onnx.export(
        model, (x,), str(out), dynamo=True, external_data=False, input_names=[onnx_io.INPUT_NAME],
        output_names=[onnx_io.OUTPUT_NAME], dynamic_shapes=({0: n},),
    )
    return "torch.onnx dynamo exporter"


@torch.no_grad()
def torch_logits(model: torch.nn.Module, images: np.ndarray, batch: int = 256) -> np.ndarray:
    outs = [model(torch.from_numpy(images[i : i + batch]).float().unsqueeze(1)).numpy() for i in range(0, len(images), batch)]
    return np.concatenate(outs)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpt_path = Path(args.checkpoint)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model, ckpt = load_checkpoint(ckpt_path)
    config = ckpt.get("config", {})
    summary_path = Path(args.summary) if args.summary else ckpt_path.with_name("summary.json")
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    n_params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model)
    calib = json.loads(Path(args.calibration).read_text()) if args.calibration else None
    if calib:
        from .calibrate import bake_temperature

        bake_temperature(model, float(calib["temperature"]))
        print(f"baked temperature T = {calib['temperature']} into the last layer (ECE on {calib.get('fitted_on')}: "
              f"{calib.get('ece_before')} -> {calib.get('ece_after')})")

    # Export into a scratch folder so that a stray .onnx.data can never end up beside the shipped file.
    with tempfile.TemporaryDirectory() as tmp:
        tmp_onnx = Path(tmp) / "model.onnx"
        how = export_onnx(model, tmp_onnx, args.opset)
        leftovers = [p.name for p in Path(tmp).iterdir() if p.name != "model.onnx"]
        if leftovers:
            print(f"exporter wrote extra files {leftovers}; folding them into the single file", file=sys.stderr)
        import onnx

        m = onnx.load(str(tmp_onnx))  # loads external data too, if any
        m.doc_string = ("Facial expression classifier. input: float32 [N,1,48,48] raw grey 0..255 (normalised inside "
                        "the graph); output: float32 [N,7] logits in the order of metadata 'labels'.")
        onnx.save_model(m, str(out), save_as_external_data=False)
    print(f"exported {ckpt['arch']} ({n_params:,} params, {macs / 1e6:.1f} M MACs) with the {how} -> {out} "
          f"({out.stat().st_size / 1e6:.2f} MB)")

    meta = {
        "labels": ",".join(LABELS),
        "model_name": ckpt["arch"],
        "input": "float32 [N,1,48,48] raw grey 0..255, normalisation inside the graph",
        "output": "float32 [N,7] logits",
        "params": str(n_params),
        "macs": str(macs),
        "epochs": str(ckpt.get("epoch", summary.get("epochs", ""))),
        "config": json.dumps(config, sort_keys=True),
        "training_command": training_command(config) if config else "",
        "exporter": how,
        "label_source": config.get("labels", "fer2013"),
        "temperature": str(calib["temperature"]) if calib else "1",
        "torch_version": torch.__version__,
        "exported_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if calib:
        meta["calibration"] = json.dumps({k: calib.get(k) for k in (
            "fitted_on", "n", "ece_bins", "ece_before", "ece_after", "nll_before", "nll_after")}, sort_keys=True)
    if ckpt.get("class_bias") is not None:  # fer.class_bias: per-class logit bias fitted on PublicTest_
        meta["class_bias"] = json.dumps(dict(zip(LABELS, ckpt["class_bias"])))
    if summary.get("final_public_acc") is not None:
        meta["train_log_public_test_accuracy"] = f"{summary['final_public_acc']:.4f}"

    sess = onnx_io.session(out, threads=args.threads)
    if args.no_data:
        images = np.random.default_rng(0).integers(0, 256, size=(64, 48, 48), dtype=np.uint8)
        split = None
    else:
        from .data import find_dataset, load_split, manifest_hash, usage_mask

        root = find_dataset(args.data or config.get("data"))
        split = load_split(root, "test")
        images = split.images
        meta["dataset_manifest_sha256"] = manifest_hash(root)
        meta["dataset"] = "FER2013 (Kaggle image-folder layout), train/ for training, PublicTest_ for selection"

    t = time.time()
    ref = torch_logits(model, images)
    got = onnx_io.logits(sess, images)
    diff = float(np.abs(ref - got).max())
    agree = float((ref.argmax(1) == got.argmax(1)).mean())
    print(f"parity ORT vs PyTorch on {len(images)} {'random' if split is None else 'test'} images: "
          f"max |logit diff| = {diff:.3g}, argmax agreement {agree:.4%} ({time.time() - t:.1f}s)")
    meta["parity_max_abs_logit_diff"] = f"{diff:.3g}"

    if split is not None:
        from .data import usage_mask

        pred = got.argmax(1)
        acc = float((pred == split.labels).mean())
        pub, priv = usage_mask(split, "PublicTest_"), usage_mask(split, "PrivateTest_")
        meta["test_accuracy"] = f"{acc:.4f}"
        meta["public_test_accuracy"] = f"{float((pred[pub] == split.labels[pub]).mean()):.4f}"
        meta["private_test_accuracy"] = f"{float((pred[priv] == split.labels[priv]).mean()):.4f}"
        meta["test_set"] = f"FER2013 test/, {len(split)} images ({int(pub.sum())} PublicTest_ + {int(priv.sum())} PrivateTest_)"
        meta["accuracy_labels"] = "test_accuracy, public_test_accuracy, private_test_accuracy: FER2013 labels"
        print(f"ORT accuracy (FER2013 labels): full test {acc:.4f}, PublicTest {meta['public_test_accuracy']}, "
              f"PrivateTest {meta['private_test_accuracy']}")
        if meta["label_source"] == "ferplus":
            from .data import attach_ferplus, find_ferplus, plurality_sets, read_ferplus_votes

            votes = read_ferplus_votes(find_ferplus(config.get("ferplus")))
            public, soft, _ = attach_ferplus(split.subset(pub), votes)
            fp_pred = onnx_io.logits(sess, public.images).argmax(1)
            fp_acc = float(plurality_sets(soft)[np.arange(len(public)), fp_pred].mean())
            meta["ferplus_public_test_accuracy"] = f"{fp_acc:.4f}"
            print(f"ORT accuracy on PublicTest_ against the FER+ plurality ({len(public)} images): {fp_acc:.4f}")
    if args.test_accuracy is not None:
        meta["test_accuracy"] = f"{args.test_accuracy:.4f}"
    onnx_io.write_metadata(out, meta)

    problems = onnx_io.check_contract(out)
    for p in problems:
        print(f"CONTRACT: {p}", file=sys.stderr)
    if diff > PARITY_TOL:
        print(f"PARITY: max |logit diff| {diff:.3g} > {PARITY_TOL}", file=sys.stderr)
    ok = not problems and diff <= PARITY_TOL
    print(f"contract {'OK' if not problems else 'FAILED'} (input [N,1,48,48] dynamic N checked at N=1 and N=5, "
          f"output [N,7], labels, single file); metadata keys: {', '.join(sorted(onnx_io.read_metadata(out)))}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
