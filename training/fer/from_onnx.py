"""Turn an exported EmoNet ONNX file back into a fer.train checkpoint, for a warm start (`fer.train --init-from`).

  python -m fer.from_onnx --model ../models/mycnn.onnx --out runs/from_onnx.pt

The exported graph has BatchNorm folded into the convolutions (conv weight and bias) and the calibration
temperature T (metadata `temperature`) folded into the last linear layer (weight and bias divided by T). Here:

- each Conv's weight goes into the matching nn.Conv2d (the i-th Conv node of the graph is the i-th convolution
  EmoNet runs), and its bias into the BatchNorm after it. With `--stats-images N` the BatchNorm gets running
  statistics measured on N train images, and weight/bias chosen so that the layer computes the same function:
  running_mean = m, running_var = v, weight = sqrt(v + eps), bias = m + b. Fine-tuning in train mode (batch
  statistics) then starts close to the exported model; without statistics (mean 0, var 1 - eps, weight 1) the
  function is also exact, but batch statistics would rescale every layer at the first step.
- the last linear layer is multiplied back by T: the checkpoint outputs the uncalibrated logits (ONNX logits x T).

The result is checked against ONNX Runtime (max |PyTorch logits - T x ONNX logits|, `--tol`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .models import build, run_with_hooks


def onnx_layers(path: str | Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray], dict]:
    """(weight, bias) of every Conv node in graph order, the last Gemm's (weight [out,in], bias), metadata_props."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    convs, gemms = [], []
    for node in m.graph.node:
        if node.op_type == "Conv":
            w = init[node.input[1]]
            b = init[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
            convs.append((w, b))
        elif node.op_type == "Gemm":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            w = init[node.input[1]]
            gemms.append((w if attrs.get("transB", 0) else w.T, init[node.input[2]]))
    if len(gemms) != 1:
        raise ValueError(f"{path}: expected one Gemm (the classifier), found {len(gemms)}")
    return convs, gemms[0], {p.key: p.value for p in m.metadata_props}


def convs_in_run_order(model: nn.Module) -> list[nn.Conv2d]:
    """The model's Conv2d modules in the order a forward pass runs them (the order the exporter wrote them)."""
    order: list[nn.Conv2d] = []
    run_with_hooks(model, {nn.Conv2d: lambda mod, _i, _o: order.append(mod)})
    return order


def bn_after(model: nn.Module) -> dict[nn.Conv2d, nn.BatchNorm2d]:
    """Each Conv2d's BatchNorm: in EmoNet it is the next module registered after the convolution."""
    mods = list(model.modules())
    out = {}
    for a, b in zip(mods, mods[1:]):
        if isinstance(a, nn.Conv2d):
            if not isinstance(b, nn.BatchNorm2d):
                raise ValueError(f"conv {a} is not followed by a BatchNorm2d")
            out[a] = b
    return out


@torch.no_grad()
def set_bn_statistics(model: nn.Module, conv_bias: dict[nn.BatchNorm2d, torch.Tensor], images: np.ndarray,
                      batch: int = 256) -> None:
    """Measure each BatchNorm's input mean/variance on `images` (model in eval mode, so the function is the exported
    one) and re-parametrise it to the same function with those running statistics."""
    sums: dict[nn.BatchNorm2d, list] = {bn: [0.0, 0.0, 0] for bn in conv_bias}

    def hook(bn, inp, _out):
        x = inp[0].double()
        s = sums[bn]
        s[0] = s[0] + x.sum((0, 2, 3))
        s[1] = s[1] + (x * x).sum((0, 2, 3))
        s[2] += x.numel() // x.shape[1]

    hooks = [bn.register_forward_hook(hook) for bn in conv_bias]
    model.eval()
    for i in range(0, len(images), batch):
        model(torch.from_numpy(images[i : i + batch]).float().unsqueeze(1))
    for h in hooks:
        h.remove()
    for bn, b in conv_bias.items():
        s1, s2, n = sums[bn]
        mean = s1 / n
        var = (s2 / n - mean * mean).clamp_min(0)
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_(var.float())
        bn.weight.copy_(torch.sqrt(var + bn.eps).float())
        bn.bias.copy_(mean.float() + b)


@torch.no_grad()
def convert(path: str | Path, stats_images: np.ndarray | None = None) -> tuple[nn.Module, float, dict]:
    """(EmoNet with the ONNX file's weights and T undone, T, metadata). See the module doc."""
    convs, (lw, lb), meta = onnx_layers(path)
    arch = meta.get("model_name", "emonet")
    config = json.loads(meta.get("config") or "{}")
    model = build(arch, float(config.get("dropout", 0.0))).eval()
    t = float(meta.get("temperature", "1") or 1)
    order = convs_in_run_order(model)
    if len(order) != len(convs):
        raise ValueError(f"{path}: {len(convs)} Conv nodes, but {arch} has {len(order)} convolutions")
    bns = bn_after(model)
    conv_bias = {}
    for i, (conv, (w, b)) in enumerate(zip(order, convs)):
        if tuple(conv.weight.shape) != w.shape:
            raise ValueError(f"Conv node {i}: weight {w.shape}, model expects {tuple(conv.weight.shape)}")
        conv.weight.copy_(torch.from_numpy(np.array(w)))
        bn = bns[conv]
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)
        bn.weight.fill_(1.0)
        bn.bias.copy_(torch.from_numpy(np.array(b)))
        conv_bias[bn] = torch.from_numpy(np.array(b))
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    if tuple(last.weight.shape) != lw.shape:
        raise ValueError(f"Gemm weight {lw.shape}, model expects {tuple(last.weight.shape)}")
    last.weight.copy_(torch.from_numpy(np.array(lw)) * t)
    last.bias.copy_(torch.from_numpy(np.array(lb)) * t)
    if stats_images is not None and len(stats_images):
        set_bn_statistics(model, conv_bias, stats_images)
    return model.eval(), t, meta


def max_logit_diff(model: nn.Module, path: str | Path, t: float, images: np.ndarray) -> float:
    """max |PyTorch logits - T x ONNX Runtime logits| on `images` (uint8 [N,48,48])."""
    from . import onnx_io
    from .export import torch_logits

    ref = torch_logits(model.eval(), images)
    got = onnx_io.logits(onnx_io.session(path), images) * t
    return float(np.abs(ref - got).max())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="an exported EmoNet .onnx (BatchNorm folded, T baked in)")
    p.add_argument("--out", required=True, help="checkpoint .pt to write (fer.train --init-from accepts it)")
    p.add_argument("--data", help="FER2013 root (default: $FER2013_DIR, ../shared/data/fer2013, data/fer2013)")
    p.add_argument("--stats-images", type=int, default=4000,
                   help="train images for the BatchNorm running statistics (0 = identity statistics, no dataset)")
    p.add_argument("--tol", type=float, default=1e-4, help="max |logit difference| allowed against ONNX Runtime x T")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    stats = check = None
    if args.stats_images > 0:
        from .data import find_dataset, load_split

        root = find_dataset(args.data)
        train = load_split(root, "train")
        stats = train.images[rng.choice(len(train), size=min(args.stats_images, len(train)), replace=False)]
        test = load_split(root, "test")
        check = test.images[rng.choice(len(test), size=min(1000, len(test)), replace=False)]
    else:
        check = rng.integers(0, 256, size=(64, 48, 48), dtype=np.uint8)
    model, t, meta = convert(args.model, stats)
    diff = max_logit_diff(model, args.model, t, check)
    print(f"{args.model}: {meta.get('model_name')} with T = {t}; max |PyTorch - T x ORT logits| on {len(check)} "
          f"{'test' if stats is not None else 'random'} images: {diff:.3g}")
    config = json.loads(meta.get("config") or "{}")
    ck = {"arch": meta.get("model_name", "emonet"), "dropout": float(config.get("dropout", 0.0)),
          "state_dict": model.state_dict(), "config": config, "epoch": int(meta.get("epochs") or 0) or None,
          "public_acc": float(meta["ferplus_public_test_accuracy"]) if "ferplus_public_test_accuracy" in meta else None,
          "source_onnx": str(args.model), "temperature_undone": t, "max_abs_logit_diff_vs_onnx": diff}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, args.out)
    print(f"wrote {args.out}")
    if diff > args.tol:
        print(f"PARITY: {diff:.3g} > {args.tol}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
