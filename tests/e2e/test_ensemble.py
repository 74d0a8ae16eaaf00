"""End-to-end tests of ensembles (platform "ensemble", ensemble_scheduling):
values through HTTP and gRPC, parallel branches, load-time validation errors
in the repository index, explicit-mode loads and unload_dependents, failing
steps, composing models unloaded mid-request, and statistics.

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest -v test_ensemble
(from tests/e2e)
"""
import shutil
import tempfile
import threading
import time
import unittest

import grpc
import numpy as np
import requests

from server_fixture import Server, copy_example, generate_pb, make_repo

TIMEOUT = 30
DELAY_MS = 400  # of each branch of the diamond


def identity(dtype="TYPE_FP32", dims="[ -1 ]", delay_ms=0, max_batch=4, names=("IN",),
             outs=("OUT",)):
    """An identity model config: input i is echoed as output i."""
    ins = ", ".join(f'{{ name: "{n}" data_type: {dtype} dims: {dims} }}' for n in names)
    ots = ", ".join(f'{{ name: "{n}" data_type: {dtype} dims: {dims} }}' for n in outs)
    c = (f'backend: "identity"\nmax_batch_size: {max_batch}\ninput [ {ins} ]\n'
         f'output [ {ots} ]\ninstance_group [ {{ count: 1 kind: KIND_CPU }} ]\n')
    if delay_ms:
        c += (f'parameters {{ key: "execute_delay_ms" value {{ string_value: "{delay_ms}" }} }}\n')
    return c


def ensemble(steps, inputs=(("IN", "TYPE_FP32", "[ -1 ]"),),
             outputs=(("OUT", "TYPE_FP32", "[ -1 ]"),), max_batch=4):
    """steps: [(model, {model input: tensor}, {model output: tensor})]."""
    def tensors(items):
        return ", ".join(f'{{ name: "{n}" data_type: {t} dims: {d} }}' for n, t, d in items)
    body = []
    for model, ins, outs in steps:
        maps = "".join(f' input_map {{ key: "{k}" value: "{v}" }}' for k, v in ins.items())
        maps += "".join(f' output_map {{ key: "{k}" value: "{v}" }}' for k, v in outs.items())
        body.append(f'{{ model_name: "{model}" model_version: -1{maps} }}')
    return (f'platform: "ensemble"\nmax_batch_size: {max_batch}\n'
            f'input [ {tensors(inputs)} ]\noutput [ {tensors(outputs)} ]\n'
            f'ensemble_scheduling {{ step [ {", ".join(body)} ] }}\n')


def model_files(configs):
    """{name: config} -> make_repo entries (config.pbtxt and an empty version 1)."""
    files = {}
    for name, config in configs.items():
        files[f"{name}/config.pbtxt"] = config
        files[f"{name}/1"] = None
    return files


# The models most tests share: a chain of identities, a diamond with two slow
# branches, an ensemble whose step rejects some shapes, and the example.
SHARED = {
    "first": identity(),
    "second": identity(),
    "chain": ensemble([("first", {"IN": "IN"}, {"OUT": "MID"}),
                       ("second", {"IN": "MID"}, {"OUT": "OUT"})]),
    "src": identity(),
    "left": identity(delay_ms=DELAY_MS),
    "right": identity(delay_ms=DELAY_MS),
    "join": identity(names=("A", "B"), outs=("A_OUT", "B_OUT")),
    "diamond": ensemble(
        [("src", {"IN": "IN"}, {"OUT": "S"}),
         ("left", {"IN": "S"}, {"OUT": "L"}),
         ("right", {"IN": "S"}, {"OUT": "R"}),
         ("join", {"A": "L", "B": "R"}, {"A_OUT": "OUT_L", "B_OUT": "OUT_R"})],
        outputs=(("OUT_L", "TYPE_FP32", "[ -1 ]"), ("OUT_R", "TYPE_FP32", "[ -1 ]"))),
    "fixed2": identity(dims="[ 2 ]"),
    "picky": ensemble([("first", {"IN": "IN"}, {"OUT": "MID"}),
                       ("fixed2", {"IN": "MID"}, {"OUT": "OUT"})]),
}


def post(url, path, body=None):
    return requests.post(f"{url}{path}", json=body, timeout=TIMEOUT)


def infer_fp32(url, model, values, outputs=None, batch=1):
    arr = np.asarray(values, dtype=np.float32).reshape(batch, -1)
    js = {"inputs": [{"name": "IN", "shape": list(arr.shape), "datatype": "FP32",
                      "data": arr.flatten().tolist()}]}
    if outputs is not None:
        js["outputs"] = outputs
    return post(url, f"/v2/models/{model}/infer", js)


def infer_simple_twice(url, a, b):
    js = {"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "INT32", "data": a},
                     {"name": "INPUT1", "shape": [1, 16], "datatype": "INT32", "data": b}]}
    return post(url, "/v2/models/ensemble_simple_twice/infer", js)


def stats(url, model):
    r = requests.get(f"{url}/v2/models/{model}/stats", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()["model_stats"][0]


def index(url):
    r = post(url, "/v2/repository/index")
    assert r.status_code == 200, r.text
    return {e["name"]: e for e in r.json()}


def outputs_by_name(body):
    return {o["name"]: o for o in body["outputs"]}


class Serving(unittest.TestCase):
    """none mode: the shared models plus the example ensemble."""

    @classmethod
    def setUpClass(cls):
        cls.root = make_repo(model_files(SHARED))
        copy_example(cls.root, "simple")
        copy_example(cls.root, "ensemble_simple_twice")
        cls.server = Server(repos=[cls.root])
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)

    def test_index_and_metadata(self):
        idx = index(self.url)
        for name in ("chain", "diamond", "picky", "ensemble_simple_twice"):
            self.assertEqual(idx[name]["state"], "READY", idx[name])
        md = requests.get(f"{self.url}/v2/models/ensemble_simple_twice", timeout=TIMEOUT).json()
        self.assertEqual(md["platform"], "ensemble")
        self.assertEqual(md["inputs"][0], {"name": "INPUT0", "datatype": "INT32",
                                           "shape": [-1, 16]})
        cfg = requests.get(f"{self.url}/v2/models/chain/config", timeout=TIMEOUT).json()
        self.assertEqual(cfg["platform"], "ensemble")
        self.assertEqual([s["model_name"] for s in cfg["ensemble_scheduling"]["step"]],
                         ["first", "second"])

    def test_example_values_over_http(self):
        a, b = list(range(16)), [1] * 16
        r = infer_simple_twice(self.url, a, b)
        self.assertEqual(r.status_code, 200, r.text)
        out = outputs_by_name(r.json())
        self.assertEqual(out["OUTPUT0"]["data"], [2 * x for x in a])
        self.assertEqual(out["OUTPUT1"]["data"], [2] * 16)
        self.assertEqual(out["OUTPUT0"]["shape"], [1, 16])
        self.assertEqual(r.json()["model_name"], "ensemble_simple_twice")

    def test_chain_batch_requested_output_and_classification(self):
        values = [[0.5, 3.0, 1.0], [7.0, -1.0, 2.0]]
        r = infer_fp32(self.url, "chain", values, batch=2)
        self.assertEqual(r.status_code, 200, r.text)
        out = r.json()["outputs"][0]
        self.assertEqual(out["shape"], [2, 3])
        self.assertEqual(out["data"], [0.5, 3.0, 1.0, 7.0, -1.0, 2.0])
        # Classification is applied to ensemble outputs as to any model's.
        r = infer_fp32(self.url, "chain", values, batch=2,
                       outputs=[{"name": "OUT", "parameters": {"classification": 1}}])
        self.assertEqual(r.status_code, 200, r.text)
        out = r.json()["outputs"][0]
        self.assertEqual(out["datatype"], "BYTES")
        self.assertEqual([s.split(":")[1] for s in out["data"]], ["1", "0"])
        # Only the requested output of the diamond comes back.
        r = infer_fp32(self.url, "diamond", [1.0, 2.0], outputs=[{"name": "OUT_R"}])
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual([o["name"] for o in r.json()["outputs"]], ["OUT_R"])

    def test_parallel_branches_overlap(self):
        infer_fp32(self.url, "diamond", [0.0])  # warm up
        before = stats(self.url, "diamond")
        start = time.monotonic()
        r = infer_fp32(self.url, "diamond", [1.0, 2.0, 3.0])
        elapsed = time.monotonic() - start
        self.assertEqual(r.status_code, 200, r.text)
        out = outputs_by_name(r.json())
        self.assertEqual(out["OUT_L"]["data"], [1.0, 2.0, 3.0])
        self.assertEqual(out["OUT_R"]["data"], [1.0, 2.0, 3.0])
        serial = 2 * DELAY_MS / 1000.0
        self.assertGreaterEqual(elapsed, DELAY_MS / 1000.0)
        self.assertLess(elapsed, 0.8 * serial, f"{elapsed:.3f}s: the branches did not overlap")
        # Server side: the request took less than the steps' compute summed.
        after = stats(self.url, "diamond")
        request_ns = after["inference_stats"]["success"]["ns"] - \
            before["inference_stats"]["success"]["ns"]
        compute_ns = after["inference_stats"]["compute_infer"]["ns"] - \
            before["inference_stats"]["compute_infer"]["ns"]
        self.assertGreaterEqual(compute_ns, 2 * DELAY_MS * 1e6)
        self.assertLess(request_ns, 0.8 * compute_ns)

    def test_failing_step_fails_the_request_and_the_server_keeps_serving(self):
        r = infer_fp32(self.url, "picky", [1.0, 2.0, 3.0])
        self.assertEqual(r.status_code, 400, r.text)
        err = r.json()["error"]
        self.assertIn("in ensemble 'picky', step 1 (model 'fixed2')", err)
        self.assertIn("unexpected shape for input 'IN' for model 'fixed2'", err)
        r = infer_fp32(self.url, "picky", [1.0, 2.0])
        self.assertEqual(r.status_code, 200, r.text)
        # The ensemble's own validation comes first, like any model's.
        r = post(self.url, "/v2/models/chain/infer", {"inputs": [
            {"name": "IN", "shape": [1, 1], "datatype": "INT32", "data": [1]}]})
        self.assertEqual(r.status_code, 400)
        self.assertIn("model 'chain' expects 'FP32'", r.json()["error"])

    def test_statistics_of_ensemble_and_composing_models(self):
        names = ("chain", "first", "second")
        before = {n: stats(self.url, n) for n in names}
        for i in range(5):
            self.assertEqual(infer_fp32(self.url, "chain", [float(i)] * 4).status_code, 200)
        self.assertEqual(infer_fp32(self.url, "chain", [1.0], batch=1).status_code, 200)
        after = {n: stats(self.url, n) for n in names}

        def delta(n, *path):
            a, b = after[n], before[n]
            for p in path:
                a, b = a[p], b[p]
            return a - b
        for n in names:
            self.assertEqual(delta(n, "inference_stats", "success", "count"), 6, n)
            self.assertEqual(delta(n, "inference_count"), 6, n)
            self.assertEqual(delta(n, "execution_count"), 6, n)
        e = after["chain"]["inference_stats"]
        self.assertEqual(e["queue"]["count"], e["success"]["count"])
        # An ensemble's compute times are the sums of its steps' (Triton).
        for key in ("compute_input", "compute_infer", "compute_output"):
            steps = sum(delta(n, "inference_stats", key, "ns") for n in ("first", "second"))
            self.assertEqual(delta("chain", "inference_stats", key, "ns"), steps, key)
        self.assertIn(1, [b["batch_size"] for b in after["chain"]["batch_stats"]])
        # A failed ensemble request counts as the ensemble's failure.
        fails = stats(self.url, "picky")["inference_stats"]["fail"]["count"]
        infer_fp32(self.url, "picky", [1.0, 2.0, 3.0])
        self.assertEqual(stats(self.url, "picky")["inference_stats"]["fail"]["count"], fails + 1)


class Grpc(unittest.TestCase):
    """The example ensemble and a failing step over gRPC."""

    @classmethod
    def setUpClass(cls):
        cls.gen = tempfile.mkdtemp(prefix="nereid_ens_py_")
        cls.pb = generate_pb(cls.gen)
        cls.root = make_repo(model_files(SHARED))
        copy_example(cls.root, "simple")
        copy_example(cls.root, "ensemble_simple_twice")
        cls.server = Server(repos=[cls.root])
        cls.channel = grpc.insecure_channel(cls.server.grpc_target)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)
        shutil.rmtree(cls.gen, ignore_errors=True)

    def infer(self, req):
        stub = self.channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=self.pb.ModelInferResponse.FromString)
        return stub(req, timeout=TIMEOUT)

    def test_example_values(self):
        req = self.pb.ModelInferRequest(model_name="ensemble_simple_twice", id="g1")
        a = np.arange(16, dtype="<i4").reshape(1, 16)
        b = np.full((1, 16), 5, dtype="<i4")
        for name, arr in (("INPUT0", a), ("INPUT1", b)):
            req.inputs.add(name=name, datatype="INT32", shape=[1, 16])
            req.raw_input_contents.append(arr.tobytes())
        resp = self.infer(req)
        self.assertEqual(resp.id, "g1")
        self.assertEqual(resp.model_name, "ensemble_simple_twice")
        got = {o.name: np.frombuffer(resp.raw_output_contents[i], "<i4")
               for i, o in enumerate(resp.outputs)}
        np.testing.assert_array_equal(got["OUTPUT0"], 2 * a.flatten())
        np.testing.assert_array_equal(got["OUTPUT1"], 2 * b.flatten())
        self.assertEqual(list(resp.outputs[0].shape), [1, 16])

    def test_failing_step(self):
        req = self.pb.ModelInferRequest(model_name="picky")
        req.inputs.add(name="IN", datatype="FP32", shape=[1, 3])
        req.raw_input_contents.append(np.ones(3, dtype="<f4").tobytes())
        with self.assertRaises(grpc.RpcError) as cm:
            self.infer(req)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("in ensemble 'picky', step 1 (model 'fixed2')", cm.exception.details())


# Broken ensembles: name -> (config, fragments of the index reason).
BROKEN = {
    "e_missing": (ensemble([("nope", {"IN": "IN"}, {"OUT": "OUT"})]),
                  ["step 0 (model 'nope')", "not available", "unknown model"]),
    "e_broken_dep": (ensemble([("broken", {"IN": "IN"}, {"OUT": "OUT"})]),
                     ["step 0 (model 'broken')", "failed to load 'broken'"]),
    "e_cycle": (ensemble([("pair", {"A": "IN", "B": "T2"}, {"A_OUT": "OUT", "B_OUT": "T1"}),
                          ("idf", {"IN": "T1"}, {"OUT": "T2"})]),
                ["ensemble 'e_cycle': steps form a cycle", "step 0 (model 'pair')",
                 "step 1 (model 'idf')"]),
    "e_twice": (ensemble([("idf", {"IN": "IN"}, {"OUT": "T"}),
                          ("idf", {"IN": "IN"}, {"OUT": "T"}),
                          ("idf", {"IN": "T"}, {"OUT": "OUT"})]),
                ["step 1 (model 'idf')", "tensor 'T' is already produced by step 0"]),
    "e_no_output": (ensemble([("idf", {"IN": "IN"}, {"OUT": "OUT"})],
                             outputs=(("OUT", "TYPE_FP32", "[ -1 ]"),
                                      ("OUT2", "TYPE_FP32", "[ -1 ]"))),
                    ["ensemble 'e_no_output': output 'OUT2' is not produced by any step"]),
    "e_undefined": (ensemble([("idf", {"IN": "IN"}, {"OUT": "T"}),
                              ("pair", {"A": "T", "B": "GHOST"}, {"A_OUT": "OUT"})]),
                    ["step 1 (model 'pair')", "'GHOST'",
                     "neither an ensemble input nor produced by any step"]),
    "e_input_key": (ensemble([("idf", {"WRONG": "IN"}, {"OUT": "OUT"})]),
                    ["step 0 (model 'idf')", "input_map key 'WRONG' is not an input"]),
    "e_output_key": (ensemble([("idf", {"IN": "IN"}, {"WRONG": "OUT"})]),
                     ["step 0 (model 'idf')", "output_map key 'WRONG' is not an output"]),
    "e_dtype": (ensemble([("idf", {"IN": "IN"}, {"OUT": "OUT"})],
                         inputs=(("IN", "TYPE_INT32", "[ -1 ]"),)),
                ["tensor 'IN' is TYPE_INT32 as ensemble input 'IN'",
                 "TYPE_FP32 as input 'IN' of step 0 (model 'idf')"]),
    "e_dims": (ensemble([("idf4", {"IN": "IN"}, {"OUT": "OUT"})],
                        inputs=(("IN", "TYPE_FP32", "[ 3 ]"),)),
               ["tensor 'IN' has shape [-1,3]", "step 0 (model 'idf4')", "cannot match"]),
    "e_batch": (ensemble([("idf", {"IN": "IN"}, {"OUT": "OUT"})], max_batch=16),
                ["step 0 (model 'idf')", "max_batch_size 16 exceeds the model's 4"]),
    "e_loop_a": (ensemble([("e_loop_b", {"IN": "IN"}, {"OUT": "OUT"})]),
                 ["cannot contain each other"]),
    "e_loop_b": (ensemble([("e_loop_a", {"IN": "IN"}, {"OUT": "OUT"})]),
                 ["cannot contain each other"]),
}


class ValidationErrors(unittest.TestCase):
    """Each broken ensemble fails to load with a reason naming the problem;
    the rest of the repository serves."""

    @classmethod
    def setUpClass(cls):
        configs = {name: config for name, (config, _) in BROKEN.items()}
        configs.update({
            "idf": identity(),
            "idf4": identity(dims="[ 4 ]"),
            "pair": identity(names=("A", "B"), outs=("A_OUT", "B_OUT")),
            "broken": 'backend: "identity"\nmax_batch_size: "x"\n',
            "e_good": ensemble([("idf", {"IN": "IN"}, {"OUT": "OUT"})]),
        })
        cls.root = make_repo(model_files(configs))
        cls.server = Server("--exit-on-error=false", "--strict-readiness=false", repos=[cls.root])
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)

    def test_every_broken_ensemble_reports_why(self):
        idx = index(self.url)
        for name, (_, fragments) in BROKEN.items():
            with self.subTest(name):
                e = idx[name]
                self.assertEqual(e["state"], "UNAVAILABLE", e)
                self.assertIn(f"failed to load '{name}'", e["reason"])
                for f in fragments:
                    self.assertIn(f, e["reason"])
                r = infer_fp32(self.url, name, [1.0])
                self.assertEqual(r.status_code, 503, r.text)

    def test_other_models_keep_serving(self):
        idx = index(self.url)
        self.assertEqual(idx["e_good"]["state"], "READY", idx["e_good"])
        self.assertEqual(idx["idf"]["state"], "READY")
        r = infer_fp32(self.url, "e_good", [4.0, 5.0])
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"][0]["data"], [4.0, 5.0])


class ExplicitMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        configs = {
            # ens_a and ens_b share a1.
            "a1": identity(), "a2": identity(), "b2": identity(),
            "ens_a": ensemble([("a1", {"IN": "IN"}, {"OUT": "MID"}),
                               ("a2", {"IN": "MID"}, {"OUT": "OUT"})]),
            "ens_b": ensemble([("a1", {"IN": "IN"}, {"OUT": "MID"}),
                               ("b2", {"IN": "MID"}, {"OUT": "OUT"})]),
            "first": SHARED["first"], "fixed2": SHARED["fixed2"], "picky": SHARED["picky"],
            "slow": identity(delay_ms=600), "second": identity(),
            "slow_chain": ensemble([("slow", {"IN": "IN"}, {"OUT": "MID"}),
                                    ("second", {"IN": "MID"}, {"OUT": "OUT"})]),
        }
        cls.root = make_repo(model_files(configs))
        cls.server = Server("--model-control-mode=explicit", repos=[cls.root])
        cls.url = cls.server.url

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root)

    def load(self, name, expect=200):
        r = post(self.url, f"/v2/repository/models/{name}/load")
        self.assertEqual(r.status_code, expect, r.text)
        return r

    def unload(self, name, dependents=None):
        body = None if dependents is None else {"parameters": {"unload_dependents": dependents}}
        r = post(self.url, f"/v2/repository/models/{name}/unload", body)
        self.assertEqual(r.status_code, 200, r.text)

    def test_load_pulls_in_composing_models_and_unload_dependents_removes_them(self):
        idx = index(self.url)
        self.assertEqual(idx["a1"]["reason"], "not loaded")
        self.load("ens_a")
        idx = index(self.url)
        for name in ("ens_a", "a1", "a2"):
            self.assertEqual(idx[name]["state"], "READY", idx[name])
        self.assertEqual(idx["b2"]["reason"], "not loaded")
        self.assertEqual(infer_fp32(self.url, "ens_a", [2.0]).json()["outputs"][0]["data"],
                         [2.0])
        # Plain unload: the composing models stay.
        self.unload("ens_a")
        idx = index(self.url)
        self.assertEqual(idx["ens_a"]["state"], "UNAVAILABLE")
        self.assertEqual(idx["a1"]["state"], "READY")
        self.assertEqual(infer_fp32(self.url, "a1", [1.0]).status_code, 200)
        # unload_dependents: they go too, except a1 while ens_b uses it.
        self.load("ens_a")
        self.load("ens_b")
        self.unload("ens_a", dependents=True)
        idx = index(self.url)
        self.assertEqual(idx["a2"]["reason"], "unloaded")
        self.assertEqual(idx["a1"]["state"], "READY")
        self.assertEqual(infer_fp32(self.url, "ens_b", [5.0]).status_code, 200)
        self.unload("ens_b", dependents=True)
        idx = index(self.url)
        for name in ("ens_a", "ens_b", "a1", "a2", "b2"):
            self.assertEqual(idx[name]["state"], "UNAVAILABLE", idx[name])
            self.assertEqual(idx[name]["reason"], "unloaded")

    def test_composing_model_unloaded_fails_requests_until_reloaded(self):
        self.load("picky")
        self.unload("fixed2")
        r = infer_fp32(self.url, "picky", [1.0, 2.0])
        self.assertEqual(r.status_code, 503, r.text)
        self.assertIn("in ensemble 'picky', step 1 (model 'fixed2')", r.json()["error"])
        self.assertIn("not ready", r.json()["error"])
        self.assertEqual(index(self.url)["picky"]["state"], "READY")
        self.load("fixed2")
        r = infer_fp32(self.url, "picky", [1.0, 2.0])
        self.assertEqual(r.status_code, 200, r.text)

    def test_unload_mid_request_does_not_hang(self):
        self.load("slow_chain")
        result = {}

        def run():
            result["r"] = infer_fp32(self.url, "slow_chain", [3.0])
        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.2)  # the slow first step is running
        self.unload("second")
        t.join(TIMEOUT)
        self.assertFalse(t.is_alive(), "the ensemble request hung")
        r = result["r"]
        self.assertEqual(r.status_code, 503, r.text)
        self.assertIn("step 1 (model 'second')", r.json()["error"])
        # Unloading the ensemble itself waits for its running request.
        self.load("second")
        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.2)
        self.unload("slow_chain")
        t.join(TIMEOUT)
        self.assertEqual(result["r"].status_code, 200, result["r"].text)
        self.assertEqual(infer_fp32(self.url, "slow_chain", [3.0]).status_code, 503)


if __name__ == "__main__":
    unittest.main()
