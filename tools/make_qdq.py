#!/usr/bin/python3
"""Turns an FP32 ONNX model and Nereid's calibration table into a QDQ model.

    nereid compile model.onnx -o model.plan --precision int8 \
        --calibration-data DIR --write-calibration-table table.json
    /usr/bin/python3 tools/make_qdq.py model.onnx table.json -o model_qdq.onnx

The QDQ format is the one ONNX Runtime's quantizer writes and runs in INT8
(QLinearConv / QLinearMatMul after its QDQ fusions); Nereid's fuse_qdq pass
runs the same model on its INT8 kernels. What is inserted:

  * activations: for every tensor of the table, one QuantizeLinear ->
    DequantizeLinear pair (uint8 for never-negative tensors, int8 otherwise,
    zero point 0, the table's scale) feeding each Conv / MatMul / Gemm that
    reads it. The pair is copied backwards through MaxPool (which keeps the
    range), so that ONNX Runtime sees Q right after the Relu that ends the
    previous convolution (it then folds that Relu into the uint8 Q and the
    convolution into a QLinearConv);
  * weights of those products: per output channel (Conv: axis 0; MatMul and
    Gemm: per column of B), symmetric int8 with scale max|w| / 127, as
    Nereid's INT8 kernels quantize them, so both runtimes use the same
    integers; a Conv / Gemm bias becomes int32 with scale x_scale * w_scale.

Products whose input is not in the table stay FP32. Convolutions whose
output feeds no quantized tensor (the last one, or one before a residual
Add) have no Q after them, so ONNX Runtime runs them as DQ -> FP32 Conv
(its QDQ fusion needs Q on the output); Nereid runs them in INT8 anyway.

Needs python3-onnx and numpy (Debian's /usr/bin/python3). The model's
opset is raised to 13 when lower (per-axis DequantizeLinear).
"""
import argparse
import json
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

PRODUCTS = ("Conv", "MatMul", "Gemm")
RANGE_KEEPING = ("MaxPool",)  # output range == input range: Q/DQ copied backwards


def fail(msg):
    print(f"make_qdq: error: {msg}", file=sys.stderr)
    sys.exit(1)


def load_table(path):
    with open(path) as f:
        table = json.load(f)
    if table.get("format") != "nereid-calibration-table" or table.get("version") != 1:
        fail(f"{path} is not a Nereid calibration table (format/version)")
    tensors = table.get("tensors", {})
    for name, entry in tensors.items():
        scale = entry.get("scale")
        if not isinstance(scale, (int, float)) or not scale > 0:
            fail(f"{path}: tensor '{name}' has no positive scale")
    return tensors


def weight_axis(node, weight):
    if node.op_type == "Conv":
        return 0
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return weight.ndim - 1  # MatMul: per column of B


def quantize_weight(w, axis):
    """Per-channel symmetric int8: scale max|w| / 127 (1 for an all-zero channel)."""
    moved = np.moveaxis(w.astype(np.float32), axis, 0)
    absmax = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    scale = np.where(absmax > 0, absmax / np.float32(127), np.float32(1)).astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("table")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()

    model = onnx.load(args.model)
    table = load_table(args.table)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    # Exporters sometimes read initializers through Identity nodes.
    for n in graph.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]
    producers = {o: n for n in graph.node for o in n.output}
    known = set(producers) | {i.name for i in graph.input}
    missing = sorted(set(table) - known)
    if missing:
        fail("table tensors not in the model (was the table written for another model?): " +
             ", ".join(missing))

    # Tensors to quantize: the table's, copied backwards through MaxPool.
    quant = dict(table)
    todo = list(table)
    while todo:
        name = todo.pop()
        node = producers.get(name)
        if node is not None and node.op_type in RANGE_KEEPING and node.input[0] not in quant:
            quant[node.input[0]] = quant[name]
            todo.append(node.input[0])

    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < 13:
            opset.version = 13

    new_nodes = []  # (insert before index, node)
    new_inits = []
    dq_of = {}  # tensor -> its DequantizeLinear output

    def qdq(name):
        if name in dq_of:
            return dq_of[name]
        entry = quant[name]
        unsigned = bool(entry.get("unsigned", False))
        base = name.replace("/", "_").strip("_") or "t"
        s_name, z_name = f"{base}_qdq_scale", f"{base}_qdq_zero_point"
        new_inits.append(numpy_helper.from_array(np.array(entry["scale"], np.float32), s_name))
        new_inits.append(numpy_helper.from_array(np.array(0, np.uint8 if unsigned else np.int8),
                                                 z_name))
        q_out, dq_out = f"{base}_quantized", f"{base}_dequantized"
        new_nodes.append(helper.make_node("QuantizeLinear", [name, s_name, z_name], [q_out],
                                          name=f"{base}_QuantizeLinear"))
        new_nodes.append(helper.make_node("DequantizeLinear", [q_out, s_name, z_name], [dq_out],
                                          name=f"{base}_DequantizeLinear"))
        dq_of[name] = dq_out
        return dq_out

    quantized = set()  # indices of the products given int8 weights
    for index, node in enumerate(graph.node):
        if node.op_type not in PRODUCTS or len(node.input) < 2:
            continue
        x, w_name = node.input[0], node.input[1]
        if x not in table or w_name not in inits:
            continue
        if node.op_type == "Gemm" and any(a.name == "transA" and a.i for a in node.attribute):
            continue
        w = numpy_helper.to_array(inits[w_name])
        if w.dtype != np.float32:
            continue
        axis = weight_axis(node, w)
        q, w_scale = quantize_weight(w, axis)
        base = (w_name.replace("/", "_").strip("_") or "w") + f"_{index}"  # one per product
        new_inits += [numpy_helper.from_array(q, f"{base}_quantized"),
                      numpy_helper.from_array(w_scale, f"{base}_scale"),
                      numpy_helper.from_array(np.zeros(w_scale.shape, np.int8), f"{base}_zero_point")]
        new_nodes.append(helper.make_node(
            "DequantizeLinear", [f"{base}_quantized", f"{base}_scale", f"{base}_zero_point"],
            [f"{base}_dequantized"], name=f"{base}_DequantizeLinear", axis=axis))
        node.input[1] = f"{base}_dequantized"
        if len(node.input) > 2 and node.input[2] in inits and node.op_type in ("Conv", "Gemm"):
            b = numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
            if b.ndim == 1 and b.shape[0] == w_scale.shape[0]:
                b_scale = (np.float32(table[x]["scale"]) * w_scale).astype(np.float32)
                bq = np.clip(np.rint(b / b_scale), -2**31, 2**31 - 1).astype(np.int32)
                bb = (node.input[2].replace("/", "_").strip("_") or "b") + f"_{index}"
                new_inits += [numpy_helper.from_array(bq, f"{bb}_quantized"),
                              numpy_helper.from_array(b_scale, f"{bb}_scale"),
                              numpy_helper.from_array(np.zeros(b_scale.shape, np.int32),
                                                      f"{bb}_zero_point")]
                new_nodes.append(helper.make_node(
                    "DequantizeLinear", [f"{bb}_quantized", f"{bb}_scale", f"{bb}_zero_point"],
                    [f"{bb}_dequantized"], name=f"{bb}_DequantizeLinear", axis=0))
                node.input[2] = f"{bb}_dequantized"
        quantized.add(index)

    # Activation Q/DQ: every reader of a quantized tensor that is a product
    # of the table, or a MaxPool on the way to one, reads the DQ output.
    for index, node in enumerate(graph.node):
        if index in quantized:
            node.input[0] = qdq(node.input[0])
        elif node.op_type in RANGE_KEEPING and node.input[0] in quant and \
                node.output[0] in quant:
            node.input[0] = qdq(node.input[0])

    # Insert the new nodes and re-sort topologically.
    nodes = list(graph.node) + new_nodes
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | \
        {t.name for t in new_inits} | {""}
    ordered, pending = [], nodes
    while pending:
        rest = []
        for n in pending:
            if all(i in available for i in n.input):
                ordered.append(n)
                available.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            fail("cannot order the graph (a cycle or a missing input)")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
    graph.initializer.extend(new_inits)
    onnx.checker.check_model(model)
    onnx.save(model, args.output)
    print(f"make_qdq: {len(quantized)} products quantized, {len(dq_of)} activation Q/DQ pairs "
          f"-> {args.output}")


if __name__ == "__main__":
    main()
