"""End-to-end check of QDQ models of ours: the Fashion-MNIST CNN compiled in
INT8 with a calibration table (`nereid compile --write-calibration-table`),
turned into a QDQ model by tools/make_qdq.py, then run
  (a) by Nereid, whose fuse_qdq pass puts its convolutions on the INT8
      kernels: top-1 within 1 point of FP32 on the 10,000 test images;
  (b) by ONNX Runtime (tools/ortref, when installed): logits close to ours,
      and at least one QLinearConv in the graph it runs.

Needs Debian's dataset-fashion-mnist (skips without it).
Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest tests/e2e/test_qdq.py
"""
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import numpy as np
import onnx

from server_fixture import REPO_ROOT, run_cli

DATA = "/usr/share/datasets/fashion-mnist"
FASHION_ONNX = os.path.join(REPO_ROOT, "tests", "models", "fashion_mnist", "fashion_cnn.onnx")
MAKE_QDQ = os.path.join(REPO_ROOT, "tools", "make_qdq.py")
ORTREF = os.path.join(REPO_ROOT, "tools", "ortref")


def read_idx(name, header):
    with gzip.open(os.path.join(DATA, name)) as f:
        return np.frombuffer(f.read()[header:], np.uint8)


@unittest.skipUnless(os.path.exists(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")),
                     "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
class QdqFashionMnist(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="nereid_qdq_")
        train = read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
        calib = os.path.join(cls.dir, "calib")
        os.makedirs(calib)
        for i in range(10):  # 500 training images, 50 per sample
            np.save(os.path.join(calib, f"{i:02d}.npy"),
                    (train[i * 50:(i + 1) * 50] / np.float32(255)).astype(np.float32))
        cls.images = os.path.join(cls.dir, "test.npy")
        test = read_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
        np.save(cls.images, (test / np.float32(255)).astype(np.float32))
        cls.labels = read_idx("t10k-labels-idx1-ubyte.gz", 8)
        cls.table = os.path.join(cls.dir, "table.json")
        rc, out, err = run_cli("compile", FASHION_ONNX, "-o", os.path.join(cls.dir, "int8.plan"),
                               "--precision", "int8", "--calibration-data", calib,
                               "--write-calibration-table", cls.table, timeout=300)
        assert rc == 0, out + err
        cls.qdq = os.path.join(cls.dir, "fashion_cnn_qdq.onnx")
        p = subprocess.run(["/usr/bin/python3", MAKE_QDQ, FASHION_ONNX, cls.table, "-o", cls.qdq],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def ours(self, model, name):
        out = os.path.join(self.dir, name)
        rc, stdout, stderr = run_cli("run", model, "--input", f"image={self.images}",
                                     "--threads", "2", "--save-outputs", out, timeout=300)
        self.assertEqual(rc, 0, stdout + stderr)
        return np.load(os.path.join(out, "logits.npy"))

    def top1(self, logits):
        return 100.0 * float((logits.argmax(1) == self.labels).mean())

    def test_table_names_are_the_models_tensors(self):
        with open(self.table) as f:
            table = json.load(f)
        self.assertEqual(table["format"], "nereid-calibration-table")
        self.assertEqual(table["calibrator"], "minmax")
        model = onnx.load(FASHION_ONNX)
        names = {o for n in model.graph.node for o in n.output}
        # The two convolutions after the first (1 input channel, kept FP32)
        # and the two fully connected Gemms.
        self.assertEqual(len(table["tensors"]), 4)
        for name, entry in table["tensors"].items():
            self.assertIn(name, names)
            self.assertTrue(entry["unsigned"])  # post-ReLU/MaxPool
            self.assertGreater(entry["scale"], 0)

    def test_nereid_runs_the_qdq_model_in_int8_within_a_point_of_fp32(self):
        rc, out, err = run_cli("compile", self.qdq, "-o", os.path.join(self.dir, "qdq.plan"),
                               "--verbose", timeout=300)
        self.assertEqual(rc, 0, out + err)
        rewrites = re.search(r"fuse_qdq\s+(\d+) rewrite", out)
        self.assertIsNotNone(rewrites, out)
        # Both QDQ convolutions and both QDQ Gemms on INT8 kernels.
        self.assertEqual(int(rewrites.group(1)), 4)
        fp32 = self.top1(self.ours(FASHION_ONNX, "fp32"))
        qdq = self.top1(self.ours(self.qdq, "qdq"))
        print(f"\nFashion-MNIST top-1: FP32 {fp32:.2f} %, QDQ on Nereid INT8 {qdq:.2f} %")
        self.assertGreater(fp32, 85.0)
        self.assertLess(abs(qdq - fp32), 1.0)

    @unittest.skipUnless(os.path.isdir(os.path.join(ORTREF, "node_modules", "onnxruntime-node"))
                         and shutil.which("node"),
                         "onnxruntime-node not installed (scripts/install_bench_deps.sh)")
    def test_onnx_runtime_runs_it_close_to_nereid(self):
        ours = self.ours(self.qdq, "qdq_ours")
        out = os.path.join(self.dir, "ort")
        optimized = os.path.join(self.dir, "ort_optimized.onnx")
        p = subprocess.run(["node", os.path.join(ORTREF, "run.js"), self.qdq, "--input",
                            f"image={self.images}", "--out", out, "--save-optimized", optimized],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        ort = np.load(os.path.join(out, "logits.npy"))
        ops = [n.op_type for n in onnx.load(optimized).graph.node]
        self.assertIn("QLinearConv", ops)  # ORT's QDQ fusion ran it in INT8
        rel = float(np.linalg.norm(ours - ort) / np.linalg.norm(ort))
        agree = 100.0 * float((ours.argmax(1) == ort.argmax(1)).mean())
        print(f"\nQDQ model, Nereid vs ONNX Runtime: relative L2 {rel:.2e}, top-1 agreement "
              f"{agree:.2f} %, ORT top-1 {self.top1(ort):.2f} %")
        self.assertLess(rel, 1e-3)
        self.assertGreater(agree, 99.5)


if __name__ == "__main__":
    unittest.main()
