#!/usr/bin/python3
"""Generates the ONNX models of examples/model_repository.

Run with Debian's interpreter (it has python3-onnx, python3-numpy and
python3-sklearn):   /usr/bin/python3 tools/make_example_models.py

- simple/1/model.onnx: Triton's classic example. INT32 INPUT0, INPUT1 [-1,16];
  OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1.
- digits_mlp/1/model.onnx: a 64-32-10 MLP trained with scikit-learn on its
  bundled 8x8 digits data (fixed seed), exported by hand as Gemm/Relu/Softmax.
  Prints the test accuracy; README.md quotes it.
The outputs are deterministic for a given scikit-learn/numpy version.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                    "model_repository")


def save(model, name):
    path = os.path.join(ROOT, name, "1", "model.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def make_simple():
    dims = ["batch", 16]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT32, dims) for n in ("INPUT0", "INPUT1")]
    outputs = [helper.make_tensor_value_info(n, TensorProto.INT32, dims) for n in ("OUTPUT0", "OUTPUT1")]
    nodes = [
        helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"], name="add"),
        helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"], name="sub"),
    ]
    graph = helper.make_graph(nodes, "simple", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="nereid-examples")
    model.ir_version = 7
    save(model, "simple")


def make_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    # Inputs are raw pixel intensities 0..16; the model scales them itself.
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=600, random_state=0)
    clf.fit(x_train / 16.0, y_train)
    accuracy = clf.score(x_test / 16.0, y_test)

    w1, w2 = [w.astype(np.float32) for w in clf.coefs_]
    b1, b2 = [b.astype(np.float32) for b in clf.intercepts_]
    inits = [
        numpy_helper.from_array(np.array([1.0 / 16.0], dtype=np.float32), "scale"),
        numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2"),
    ]
    nodes = [
        helper.make_node("Mul", ["pixels", "scale"], ["scaled"], name="scale"),
        helper.make_node("Gemm", ["scaled", "w1", "b1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["h_relu"], name="relu1"),
        helper.make_node("Gemm", ["h_relu", "w2", "b2"], ["logits"], name="fc2"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="nereid-examples")
    model.ir_version = 7
    save(model, "digits_mlp")

    # Reference data for tests: a few test digits and the model's own answers.
    ref = os.path.join(ROOT, "..", "digits_samples.npz")
    probs = clf.predict_proba(x_test[:32] / 16.0).astype(np.float32)
    np.savez(ref, pixels=x_test[:32].astype(np.float32), labels=y_test[:32], probabilities=probs)
    print(f"digits MLP test accuracy: {accuracy * 100:.2f}% on {len(y_test)} held-out images")
    return accuracy


if __name__ == "__main__":
    make_simple()
    acc = make_digits()
    sys.exit(0 if acc > 0.9 else 1)
