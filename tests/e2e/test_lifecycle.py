"""End-to-end tests of start-up, bad repositories, CLI flags and shutdown."""
import json
import os
import shutil
import signal
import threading
import time
import unittest

import requests
from onnx import TensorProto, helper

from server_fixture import Server, copy_example, make_repo, run_cli

TIMEOUT = 30

IDENTITY_CONFIG = """
backend: "identity"
max_batch_size: 4
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
"""


def unsupported_op_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    # A custom-domain op no engine ships: the load must fail naming node and op.
    node = helper.make_node("FancyOp", ["x"], ["y"], name="the_fancy_op", domain="com.example")
    graph = helper.make_graph([node], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.example", 1)])
    model.ir_version = 7
    return model.SerializeToString()


class BrokenRepository(unittest.TestCase):
    """Bad models fail alone: the others keep serving."""

    @classmethod
    def setUpClass(cls):
        cls.root = make_repo({
            "good/config.pbtxt": IDENTITY_CONFIG,
            "good/1": None,
            "bad_syntax/config.pbtxt": 'backend: "identity"\nmax_batch_size: "x"\n',
            "bad_syntax/1": None,
            "bad_field/config.pbtxt": IDENTITY_CONFIG.replace("TYPE_FP32 dims: [ -1 ] } ]\noutput",
                                                              "TYPE_INVALID dims: [ -1 ] } ]\noutput"),
            "bad_field/1": None,
            "no_file/config.pbtxt": 'platform: "onnxruntime_onnx"\nmax_batch_size: 0\n'
                                    'input [{name: "x" data_type: TYPE_FP32 dims: [1]}]\n'
                                    'output [{name: "y" data_type: TYPE_FP32 dims: [1]}]\n',
            "no_file/1": None,
            "unsupported/1/model.onnx": unsupported_op_model(),
            "garbage_onnx/1/model.onnx": b"this is not a protobuf",
        })
        cls.server = Server("--exit-on-error=false", repos=[cls.root])

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)

    def error_of(self, model):
        r = requests.get(f"{self.server.url}/v2/models/{model}", timeout=TIMEOUT)
        self.assertEqual(r.status_code, 503, r.text)
        return r.json()["error"]

    def test_good_model_serves_and_server_not_ready(self):
        js = {"inputs": [{"name": "IN", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}
        r = requests.post(f"{self.server.url}/v2/models/good/infer", json=js, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"][0]["data"], [1.0, 2.0])
        self.assertEqual(requests.get(f"{self.server.url}/v2/health/ready",
                                      timeout=TIMEOUT).status_code, 400)
        self.assertEqual(requests.get(f"{self.server.url}/v2/models/bad_syntax/ready",
                                      timeout=TIMEOUT).status_code, 400)

    def test_syntax_error_names_file_and_line(self):
        err = self.error_of("bad_syntax")
        self.assertIn("bad_syntax/config.pbtxt:2:", err)

    def test_field_error_names_line_and_field(self):
        err = self.error_of("bad_field")
        self.assertIn("bad_field/config.pbtxt:4: field 'input[0].data_type'", err)

    def test_missing_model_file(self):
        err = self.error_of("no_file")
        self.assertIn("model file 'model.onnx' not found", err)

    def test_unsupported_op_names_node_and_op(self):
        err = self.error_of("unsupported")
        self.assertIn("the_fancy_op", err)
        self.assertIn("FancyOp", err)

    def test_garbage_onnx(self):
        self.assertIn("failed to load", self.error_of("garbage_onnx"))


class StartupAndFlags(unittest.TestCase):
    def test_exit_on_error_is_the_default(self):
        root = make_repo({"bad/config.pbtxt": "max_batch_size: [", "bad/1": None})
        try:
            code, out, err = run_cli("serve", "--model-repository", root, "--http-port", "0")
            self.assertEqual(code, 1)
            self.assertIn("failed to load all models", err)
        finally:
            shutil.rmtree(root)

    def test_unknown_flag_is_named(self):
        code, out, err = run_cli("serve", "--model-repository", "/tmp", "--no-such-flag")
        self.assertNotEqual(code, 0)
        self.assertIn("--no-such-flag", out + err)

    def test_help_lists_flags(self):
        code, out, _ = run_cli("--help")
        self.assertEqual(code, 0)
        for flag in ("--model-repository", "--http-port", "--http-max-input-size",
                     "--exit-timeout-secs", "--disable-auto-complete-config", "--log-verbose",
                     "--model-control-mode", "--strict-model-config"):
            self.assertIn(flag, out)

    def test_unknown_control_mode_is_refused(self):
        code, _, err = run_cli("serve", "--model-repository", "/tmp", "--model-control-mode=bogus")
        self.assertNotEqual(code, 0)
        self.assertIn("bogus not in {none,poll,explicit}", err)
        code, _, err = run_cli("serve", "--model-repository", "/tmp", "--load-model", "x")
        self.assertEqual(code, 2)
        self.assertIn("--load-model needs --model-control-mode=explicit", err)

    def test_missing_repository(self):
        code, _, err = run_cli("serve", "--model-repository", "/nonexistent/repo", "--http-port", "0")
        self.assertEqual(code, 1)
        self.assertIn("/nonexistent/repo", err)

    def test_disable_auto_complete(self):
        root = make_repo({})
        copy_example(root, "simple")
        os.remove(os.path.join(root, "simple", "config.pbtxt"))
        try:
            # Without a config, auto-complete builds one from the ONNX model.
            with Server(repos=[root]) as s:
                cfg = requests.get(f"{s.url}/v2/models/simple/config", timeout=TIMEOUT).json()
                self.assertEqual(cfg["max_batch_size"], 4)
                self.assertEqual([i["name"] for i in cfg["input"]], ["INPUT0", "INPUT1"])
            code, _, err = run_cli("serve", "--model-repository", root, "--http-port", "0",
                                   "--disable-auto-complete-config")
            self.assertEqual(code, 1)
            self.assertIn("auto-complete is disabled", err)
        finally:
            shutil.rmtree(root)

    def test_several_repositories_and_version_policy(self):
        r1 = make_repo({"a/config.pbtxt": IDENTITY_CONFIG, "a/1": None, "a/2": None, "a/3": None})
        r2 = make_repo({"b/config.pbtxt": IDENTITY_CONFIG + "version_policy: { all {} }\n",
                        "b/1": None, "b/5": None})
        try:
            with Server(repos=[r1, r2]) as s:
                md = requests.get(f"{s.url}/v2/models/a", timeout=TIMEOUT).json()
                self.assertEqual(md["versions"], ["3"])
                md = requests.get(f"{s.url}/v2/models/b", timeout=TIMEOUT).json()
                self.assertEqual(md["versions"], ["1", "5"])
                r = requests.get(f"{s.url}/v2/models/b/versions/1/ready", timeout=TIMEOUT)
                self.assertEqual(r.status_code, 200)
        finally:
            shutil.rmtree(r1)
            shutil.rmtree(r2)


class Limits(unittest.TestCase):
    def test_body_over_max_input_size(self):
        root = make_repo({"m/config.pbtxt": IDENTITY_CONFIG, "m/1": None})
        try:
            with Server("--http-max-input-size", "1000", repos=[root]) as s:
                js = {"inputs": [{"name": "IN", "shape": [1, 500], "datatype": "FP32",
                                  "data": [1.0] * 500}]}
                r = requests.post(f"{s.url}/v2/models/m/infer", json=js, timeout=TIMEOUT)
                self.assertEqual(r.status_code, 413)
                self.assertIn("--http-max-input-size", r.json()["error"])
                js["inputs"][0].update(shape=[1, 2], data=[1.0, 2.0])
                r = requests.post(f"{s.url}/v2/models/m/infer", json=js, timeout=TIMEOUT)
                self.assertEqual(r.status_code, 200)
        finally:
            shutil.rmtree(root)


class Shutdown(unittest.TestCase):
    def test_sigterm_drains_in_flight_requests(self):
        cfg = IDENTITY_CONFIG + 'parameters { key: "execute_delay_ms" value: { string_value: "800" } }\n'
        root = make_repo({"slow/config.pbtxt": cfg, "slow/1": None})
        try:
            s = Server("--exit-timeout-secs", "20", repos=[root])
            result = {}

            def call():
                js = {"inputs": [{"name": "IN", "shape": [1, 1], "datatype": "FP32", "data": [5]}]}
                result["r"] = requests.post(f"{s.url}/v2/models/slow/infer", json=js,
                                            timeout=TIMEOUT)

            t = threading.Thread(target=call)
            t.start()
            time.sleep(0.3)  # let the request reach the model (it runs 800 ms)
            code = s.stop(signal.SIGTERM)
            t.join(TIMEOUT)
            self.assertEqual(code, 0, s.stderr())
            self.assertEqual(result["r"].status_code, 200)
            self.assertEqual(result["r"].json()["outputs"][0]["data"], [5.0])
            self.assertIn("draining", s.stderr())
            s.__exit__(None, None, None)
        finally:
            shutil.rmtree(root)


if __name__ == "__main__":
    unittest.main()
