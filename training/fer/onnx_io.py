"""ONNX Runtime sessions, batched inference and metadata_props, shared by export and evaluate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from . import LABELS

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def session(path: str | Path, threads: int = 1):
    """A CPU session pinned to `threads` intra-op threads and one inter-op thread (the app's setting)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def logits(sess, images: np.ndarray, batch: int = 256, flip: bool = False) -> np.ndarray:
    """Logits for uint8 (or float) [N,48,48] images; `flip` mirrors them left-right first."""
    name = sess.get_inputs()[0].name
    outs = []
    for i in range(0, len(images), batch):
        x = images[i : i + batch].astype(np.float32)[:, None]
        if flip:
            x = np.ascontiguousarray(x[..., ::-1])
        outs.append(sess.run(None, {name: x})[0])
    return np.concatenate(outs) if outs else np.zeros((0, len(LABELS)), np.float32)


def read_metadata(path: str | Path) -> dict[str, str]:
    m = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}


def write_metadata(path: str | Path, values: dict[str, str]) -> None:
    """Set (add or replace) metadata_props and save the model back as one self-contained file."""
    m = onnx.load(str(path))
    props = {p.key: p.value for p in m.metadata_props}
    props.update({k: str(v) for k, v in values.items()})
    del m.metadata_props[:]
    for k in sorted(props):
        m.metadata_props.add(key=k, value=props[k])
    onnx.save_model(m, str(path), save_as_external_data=False)


def check_contract(path: str | Path) -> list[str]:
    """Problems with the app's contract (empty list = fine): one input float32 [N,1,48,48] with a symbolic N,
    one output float32 [N,7], labels metadata in output order, weights inside the file, runs at N=1 and N=5."""
    problems = []
    path = Path(path)
    m = onnx.load(str(path), load_external_data=False)
    if len(m.graph.input) != 1 or len(m.graph.output) != 1:
        problems.append(f"{len(m.graph.input)} inputs / {len(m.graph.output)} outputs, expected 1 / 1")
    for vi, want in ((m.graph.input[0], [None, 1, 48, 48]), (m.graph.output[0], [None, len(LABELS)])):
        t = vi.type.tensor_type
        if t.elem_type != onnx.TensorProto.FLOAT:
            problems.append(f"{vi.name} is not float32")
        dims = [d.dim_param or d.dim_value for d in t.shape.dim]
        if len(dims) != len(want) or not isinstance(dims[0], str) or dims[1:] != want[1:]:
            problems.append(f"{vi.name} has shape {dims}, expected [N,{','.join(map(str, want[1:]))}] with symbolic N")
    props = {p.key: p.value for p in m.metadata_props}
    if props.get("labels") != ",".join(LABELS):
        problems.append(f"labels metadata is {props.get('labels')!r}, expected {','.join(LABELS)!r}")
    external = [t.name for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        problems.append(f"{len(external)} initializers stored as external data (e.g. {external[0]})")
    if list(path.parent.glob(path.name + ".data")):
        problems.append(f"{path.name}.data exists beside the model; ship a single file")
    sess = session(path)
    for n in (1, 5):
        try:
            y = logits(sess, np.zeros((n, 48, 48), np.uint8))
        except Exception as e:  # noqa: BLE001 - ORT raises its own types; the message is the problem to report
            problems.append(f"batch {n} does not run: {str(e).splitlines()[0]}")
            continue
        if y.shape != (n, len(LABELS)):
            problems.append(f"batch {n} gave output shape {y.shape}")
    return problems
