"""End-to-end tests of the gRPC front end: the real nereid binary on loopback,
driven with Debian's python3-grpcio through generic stubs. The Python message
classes are generated from our proto/ files at test time (protoc --python_out).

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest tests/e2e/test_grpc.py
"""
import os
import queue
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import grpc
import numpy as np
import requests

from server_fixture import Server, copy_example, generate_pb, make_repo, run_cli, \
    served_examples

TIMEOUT = 30
SERVICE = "/inference.GRPCInferenceService/"
server = None
channel = None
pb = None
health_pb = None
gen_dir = None


def setUpModule():
    global server, channel, pb, health_pb, gen_dir
    gen_dir = tempfile.mkdtemp(prefix="nereid_grpc_py_")
    pb, health_pb = generate_pb(gen_dir, health=True)
    server = Server()
    channel = new_channel()


def tearDownModule():
    channel.close()
    server.__exit__(None, None, None)
    shutil.rmtree(gen_dir, ignore_errors=True)


def new_channel():
    return grpc.insecure_channel(server.grpc_target, options=[
        ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])


def response_type(method):
    return {"ModelStreamInfer": "ModelStreamInferResponse"}.get(method, method + "Response")


def call(method, request, ch=None):
    """Unary call of GRPCInferenceService/<method>."""
    stub = (ch or channel).unary_unary(
        SERVICE + method, request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=getattr(pb, response_type(method)).FromString)
    return stub(request, timeout=TIMEOUT)


def stream(requests_iter, ch=None):
    stub = (ch or channel).stream_stream(
        SERVICE + "ModelStreamInfer", request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=pb.ModelStreamInferResponse.FromString)
    return stub(requests_iter, timeout=TIMEOUT)


def raw_tensor(arr):
    return np.ascontiguousarray(arr).tobytes()


def bytes_tensor(items):
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


def parse_bytes(raw):
    out, pos = [], 0
    while pos < len(raw):
        (n,) = struct.unpack_from("<I", raw, pos)
        out.append(raw[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def simple_request(a, b, raw=True, **kw):
    req = pb.ModelInferRequest(model_name="simple", **kw)
    for name, arr in (("INPUT0", a), ("INPUT1", b)):
        t = req.inputs.add(name=name, datatype="INT32", shape=list(arr.shape))
        if raw:
            req.raw_input_contents.append(raw_tensor(arr.astype("<i4")))
        else:
            t.contents.int_contents.extend(arr.flatten().tolist())
    return req


def outputs(resp):
    """{name: (datatype, shape, raw bytes)} of a ModelInferResponse."""
    return {o.name: (o.datatype, list(o.shape), resp.raw_output_contents[i])
            for i, o in enumerate(resp.outputs)}


class GrpcTestCase(unittest.TestCase):
    def assertRpcError(self, fn, code, fragment):
        with self.assertRaises(grpc.RpcError) as cm:
            fn()
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        self.assertIn(fragment, cm.exception.details())
        return cm.exception


class Health(GrpcTestCase):
    def test_live_ready(self):
        self.assertTrue(call("ServerLive", pb.ServerLiveRequest()).live)
        self.assertTrue(call("ServerReady", pb.ServerReadyRequest()).ready)

    def test_model_ready(self):
        self.assertTrue(call("ModelReady", pb.ModelReadyRequest(name="simple")).ready)
        self.assertTrue(call("ModelReady", pb.ModelReadyRequest(name="simple", version="1")).ready)
        self.assertFalse(call("ModelReady", pb.ModelReadyRequest(name="simple", version="7")).ready)
        self.assertFalse(call("ModelReady", pb.ModelReadyRequest(name="nope")).ready)
        self.assertRpcError(lambda: call("ModelReady", pb.ModelReadyRequest(name="simple",
                                                                            version="v1")),
                            grpc.StatusCode.INVALID_ARGUMENT, "invalid model version")

    def test_grpc_health_v1(self):
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=health_pb.HealthCheckResponse.FromString)
        serving = health_pb.HealthCheckResponse.SERVING
        self.assertEqual(check(health_pb.HealthCheckRequest(), timeout=TIMEOUT).status, serving)
        self.assertEqual(check(health_pb.HealthCheckRequest(
            service="inference.GRPCInferenceService"), timeout=TIMEOUT).status, serving)
        self.assertRpcError(lambda: check(health_pb.HealthCheckRequest(service="other"),
                                          timeout=TIMEOUT), grpc.StatusCode.NOT_FOUND, "other")
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch",
                                     request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=health_pb.HealthCheckResponse.FromString)
        got = [r.status for r in watch(health_pb.HealthCheckRequest(), timeout=TIMEOUT)]
        self.assertEqual(got, [serving])


class Metadata(GrpcTestCase):
    def test_server_metadata(self):
        md = call("ServerMetadata", pb.ServerMetadataRequest())
        self.assertEqual(md.name, "nereid")
        self.assertTrue(md.version)
        http = requests.get(server.url + "/v2", timeout=TIMEOUT).json()
        self.assertEqual(list(md.extensions), http["extensions"])

    def test_model_metadata(self):
        md = call("ModelMetadata", pb.ModelMetadataRequest(name="simple"))
        self.assertEqual(md.name, "simple")
        self.assertEqual(list(md.versions), ["1"])
        self.assertEqual(md.platform, "onnxruntime_onnx")
        self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in md.inputs],
                         [("INPUT0", "INT32", [-1, 16]), ("INPUT1", "INT32", [-1, 16])])
        self.assertEqual([t.name for t in md.outputs], ["OUTPUT0", "OUTPUT1"])
        self.assertRpcError(lambda: call("ModelMetadata", pb.ModelMetadataRequest(name="nope")),
                            grpc.StatusCode.NOT_FOUND, "nope")
        self.assertRpcError(lambda: call("ModelMetadata",
                                         pb.ModelMetadataRequest(name="simple", version="9")),
                            grpc.StatusCode.NOT_FOUND, "unknown version 9")

    def test_model_config(self):
        cfg = call("ModelConfig", pb.ModelConfigRequest(name="simple")).config
        self.assertEqual(cfg.name, "simple")
        self.assertEqual(cfg.max_batch_size, 8)
        self.assertEqual([i.name for i in cfg.input], ["INPUT0", "INPUT1"])
        self.assertEqual(list(cfg.input[0].dims), [16])
        # digits_mlp's inputs come from auto-complete: the loaded config is returned.
        cfg = call("ModelConfig", pb.ModelConfigRequest(name="digits_mlp", version="1")).config
        self.assertEqual(len(cfg.input), 1)
        self.assertRpcError(lambda: call("ModelConfig", pb.ModelConfigRequest(name="nope")),
                            grpc.StatusCode.NOT_FOUND, "nope")

    def test_repository_index(self):
        idx = call("RepositoryIndex", pb.RepositoryIndexRequest()).models
        got = sorted((m.name, m.version, m.state) for m in idx)
        served = sorted(os.listdir(served_examples()))
        self.assertEqual(got, [(n, "1", "READY") for n in served])
        self.assertIn("digits_mlp", served)
        ready = call("RepositoryIndex", pb.RepositoryIndexRequest(ready=True)).models
        self.assertEqual(len(ready), len(served))
        self.assertRpcError(lambda: call("RepositoryIndex",
                                         pb.RepositoryIndexRequest(repository_name="other")),
                            grpc.StatusCode.UNIMPLEMENTED, "repository_name")

    def test_repository_index_reports_failed_models(self):
        root = make_repo({"bad/config.pbtxt": "max_batch_size: [", "bad/1": None})
        copy_example(root, "identity_fp32")
        try:
            with Server("--exit-on-error=false", "--strict-readiness=false", repos=[root]) as s:
                ch = grpc.insecure_channel(s.grpc_target)
                idx = {m.name: m for m in
                       call("RepositoryIndex", pb.RepositoryIndexRequest(), ch).models}
                self.assertEqual(idx["identity_fp32"].state, "READY")
                self.assertEqual(idx["bad"].state, "UNAVAILABLE")
                self.assertIn("config.pbtxt", idx["bad"].reason)
                ready = call("RepositoryIndex", pb.RepositoryIndexRequest(ready=True), ch).models
                self.assertEqual([m.name for m in ready], ["identity_fp32"])
                self.assertFalse(call("ModelReady", pb.ModelReadyRequest(name="bad"), ch).ready)
                ch.close()
        finally:
            shutil.rmtree(root)


class Extensions(GrpcTestCase):
    def test_cuda_shared_memory(self):
        self.assertEqual(len(call("CudaSharedMemoryStatus",
                                  pb.CudaSharedMemoryStatusRequest()).regions), 0)
        call("CudaSharedMemoryUnregister", pb.CudaSharedMemoryUnregisterRequest())
        call("CudaSharedMemoryUnregister", pb.CudaSharedMemoryUnregisterRequest(name="r"))
        self.assertRpcError(lambda: call("CudaSharedMemoryRegister",
                                         pb.CudaSharedMemoryRegisterRequest(name="r",
                                                                            byte_size=16)),
                            grpc.StatusCode.UNIMPLEMENTED,
                            "CUDA shared memory is not supported on this build/machine")
        self.assertRpcError(lambda: call("CudaSharedMemoryStatus",
                                         pb.CudaSharedMemoryStatusRequest(name="r")),
                            grpc.StatusCode.NOT_FOUND, "'r'")

    def test_shared_memory_is_off_by_default(self):
        # System shared memory works (test_shm_classify_trace) but is off by default.
        for method, req in (("SystemSharedMemoryStatus", pb.SystemSharedMemoryStatusRequest()),
                            ("SystemSharedMemoryUnregister",
                             pb.SystemSharedMemoryUnregisterRequest())):
            with self.subTest(method=method):
                self.assertRpcError(lambda: call(method, req),
                                    grpc.StatusCode.FAILED_PRECONDITION, "--allow-client-shm=true")


class RepositoryAndLogging(GrpcTestCase):
    def test_load_unload_refused_in_mode_none(self):
        for method, req in (("RepositoryModelLoad", pb.RepositoryModelLoadRequest(model_name="simple")),
                            ("RepositoryModelUnload",
                             pb.RepositoryModelUnloadRequest(model_name="simple"))):
            with self.subTest(method=method):
                self.assertRpcError(lambda: call(method, req),
                                    grpc.StatusCode.FAILED_PRECONDITION,
                                    "--model-control-mode=explicit")

    def test_explicit_mode_load_unload_over_grpc(self):
        root = make_repo({})
        copy_example(root, "simple")
        copy_example(root, "identity_fp32")
        try:
            with Server("--model-control-mode=explicit", repos=[root]) as srv:
                ch = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}")
                self.assertFalse(call("ModelReady", pb.ModelReadyRequest(name="simple"), ch).ready)
                call("RepositoryModelLoad", pb.RepositoryModelLoadRequest(model_name="simple"), ch)
                self.assertTrue(call("ModelReady", pb.ModelReadyRequest(name="simple"), ch).ready)
                a = np.arange(16, dtype=np.int32).reshape(1, 16)
                call("ModelInfer", simple_request(a, a), ch)
                req = pb.RepositoryModelUnloadRequest(model_name="simple")
                req.parameters["unload_dependents"].bool_param = True
                call("RepositoryModelUnload", req, ch)
                self.assertFalse(call("ModelReady", pb.ModelReadyRequest(name="simple"), ch).ready)
                self.assertRpcError(
                    lambda: call("RepositoryModelLoad",
                                 pb.RepositoryModelLoadRequest(model_name="nope"), ch),
                    grpc.StatusCode.NOT_FOUND, "failed to load 'nope'")
                bad = pb.RepositoryModelLoadRequest(model_name="simple")
                bad.parameters["config"].string_param = "{not json"
                self.assertRpcError(lambda: call("RepositoryModelLoad", bad, ch),
                                    grpc.StatusCode.INVALID_ARGUMENT, "")
                ch.close()
        finally:
            shutil.rmtree(root)

    def test_unload_during_heavy_inference_loses_nothing(self):
        root = make_repo({"busy/1": None, "busy/config.pbtxt": """
backend: "identity"
max_batch_size: 4
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
parameters { key: "execute_delay_ms" value { string_value: "5" } }
"""})
        try:
            with Server("--model-control-mode=explicit", "--load-model", "busy",
                        repos=[root]) as srv:
                ch = grpc.insecure_channel(srv.grpc_target)
                stop = threading.Event()
                outcomes, lock = [], threading.Lock()
                req = pb.ModelInferRequest(model_name="busy")
                req.inputs.add(name="IN", datatype="FP32", shape=[1, 1])
                req.raw_input_contents.append(raw_tensor(np.array([[3.0]], "<f4")))

                def client():
                    while not stop.is_set():
                        try:
                            out = outputs(call("ModelInfer", req, ch))["OUT"][2]
                            result = ("ok", out)
                        except grpc.RpcError as e:
                            result = (e.code(), e.details())
                        with lock:
                            outcomes.append(result)

                threads = [threading.Thread(target=client) for _ in range(16)]
                for t in threads:
                    t.start()
                try:
                    deadline = time.time() + TIMEOUT
                    while (sum(1 for c, _ in outcomes if c == "ok") < 50
                           and time.time() < deadline):
                        time.sleep(0.01)
                    call("RepositoryModelUnload", pb.RepositoryModelUnloadRequest(
                        model_name="busy"), ch)
                    time.sleep(0.2)
                finally:
                    stop.set()
                    for t in threads:
                        t.join(TIMEOUT)
                self.assertFalse(any(t.is_alive() for t in threads), "a request hung")
                ok = [o for c, o in outcomes if c == "ok"]
                refused = [(c, o) for c, o in outcomes if c != "ok"]
                self.assertGreaterEqual(len(ok), 50)
                self.assertTrue(all(o == raw_tensor(np.array([[3.0]], "<f4")) for o in ok))
                self.assertGreater(len(refused), 0)
                for code, text in refused:
                    self.assertIn(code, (grpc.StatusCode.NOT_FOUND,
                                         grpc.StatusCode.UNAVAILABLE), text)
                    self.assertIn("busy", text)
                self.assertTrue(call("ServerLive", pb.ServerLiveRequest(), ch).live)
                ch.close()
        finally:
            shutil.rmtree(root)

    def test_log_settings_round_trip(self):
        now = call("LogSettings", pb.LogSettingsRequest()).settings
        self.assertEqual(now["log_format"].string_param, "default")
        req = pb.LogSettingsRequest()
        req.settings["log_verbose_level"].uint32_param = 1
        self.assertEqual(call("LogSettings", req).settings["log_verbose_level"].uint32_param, 1)
        req.settings["log_verbose_level"].uint32_param = 0
        call("LogSettings", req)
        bad = pb.LogSettingsRequest()
        bad.settings["log_format"].string_param = "fancy"
        self.assertRpcError(lambda: call("LogSettings", bad), grpc.StatusCode.INVALID_ARGUMENT,
                            "")
        unknown = pb.LogSettingsRequest()
        unknown.settings["log_colour"].bool_param = True
        self.assertRpcError(lambda: call("LogSettings", unknown),
                            grpc.StatusCode.INVALID_ARGUMENT, "log_colour")


class Statistics(GrpcTestCase):
    def test_model_statistics_count_inferences_like_http(self):
        before = call("ModelStatistics", pb.ModelStatisticsRequest(name="simple", version="1"))
        self.assertEqual(len(before.model_stats), 1)
        n0 = before.model_stats[0].inference_count
        a = np.arange(16, dtype=np.int32).reshape(1, 16)
        for _ in range(3):
            call("ModelInfer", simple_request(a, a))
        after = call("ModelStatistics", pb.ModelStatisticsRequest(name="simple")).model_stats[0]
        self.assertEqual(after.name, "simple")
        self.assertEqual(after.version, "1")
        self.assertEqual(after.inference_count, n0 + 3)
        self.assertGreaterEqual(after.inference_stats.success.count, 3)
        self.assertGreater(after.inference_stats.compute_infer.ns, 0)
        self.assertTrue(any(b.batch_size == 1 for b in after.batch_stats))
        everything = call("ModelStatistics", pb.ModelStatisticsRequest())
        self.assertIn("simple", [m.name for m in everything.model_stats])

    def test_unknown_model_statistics_is_an_error(self):
        self.assertRpcError(lambda: call("ModelStatistics",
                                         pb.ModelStatisticsRequest(name="nope")),
                            grpc.StatusCode.INVALID_ARGUMENT, "not available")


class Infer(GrpcTestCase):
    def check_simple(self, resp, a, b):
        out = outputs(resp)
        self.assertEqual(out["OUTPUT0"][:2], ("INT32", list(a.shape)))
        np.testing.assert_array_equal(np.frombuffer(out["OUTPUT0"][2], "<i4").reshape(a.shape),
                                      a + b)
        np.testing.assert_array_equal(np.frombuffer(out["OUTPUT1"][2], "<i4").reshape(a.shape),
                                      a - b)

    def test_simple_raw_and_typed(self):
        a = np.arange(32, dtype=np.int32).reshape(2, 16)
        b = np.full((2, 16), 3, dtype=np.int32)
        for raw in (True, False):
            with self.subTest(raw=raw):
                resp = call("ModelInfer", simple_request(a, b, raw=raw, id="req-7"))
                self.assertEqual((resp.model_name, resp.model_version, resp.id),
                                 ("simple", "1", "req-7"))
                self.assertEqual([o.name for o in resp.outputs], ["OUTPUT0", "OUTPUT1"])
                self.check_simple(resp, a, b)

    def test_requested_outputs_and_parameters(self):
        a = np.ones((1, 16), np.int32)
        req = simple_request(a, a, model_version="1")
        req.outputs.add(name="OUTPUT1")
        req.parameters["d"].double_param = 0.25
        req.parameters["u"].uint64_param = 2**63
        req.parameters["s"].string_param = "x"
        resp = call("ModelInfer", req)
        self.assertEqual([o.name for o in resp.outputs], ["OUTPUT1"])
        self.assertEqual(len(resp.raw_output_contents), 1)
        np.testing.assert_array_equal(np.frombuffer(resp.raw_output_contents[0], "<i4"),
                                      np.zeros(16))

    def test_identity_fp32_raw_and_typed(self):
        x = np.linspace(-1, 1, 10, dtype=np.float32).reshape(1, 10)
        req = pb.ModelInferRequest(model_name="identity_fp32")
        req.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 10])
        req.raw_input_contents.append(raw_tensor(x.astype("<f4")))
        out = outputs(call("ModelInfer", req))["OUTPUT0"]
        self.assertEqual(out[:2], ("FP32", [1, 10]))
        np.testing.assert_array_equal(np.frombuffer(out[2], "<f4"), x.flatten())
        req = pb.ModelInferRequest(model_name="identity_fp32")
        req.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 10]).contents.fp32_contents \
            .extend(x.flatten().tolist())
        out = outputs(call("ModelInfer", req))["OUTPUT0"]
        np.testing.assert_array_equal(np.frombuffer(out[2], "<f4"), x.flatten())

    def test_identity_bytes_raw_and_typed(self):
        items = [b"hello", b"", b"\x00\xffbinary", "ü".encode()]
        req = pb.ModelInferRequest(model_name="identity_bytes")
        req.inputs.add(name="INPUT0", datatype="BYTES", shape=[1, 4])
        req.raw_input_contents.append(bytes_tensor(items))
        out = outputs(call("ModelInfer", req))["OUTPUT0"]
        self.assertEqual(out[:2], ("BYTES", [1, 4]))
        self.assertEqual(parse_bytes(out[2]), items)
        req = pb.ModelInferRequest(model_name="identity_bytes")
        req.inputs.add(name="INPUT0", datatype="BYTES",
                       shape=[1, 4]).contents.bytes_contents.extend(items)
        self.assertEqual(parse_bytes(outputs(call("ModelInfer", req))["OUTPUT0"][2]), items)

    def test_digits_mlp_matches_http(self):
        md = call("ModelMetadata", pb.ModelMetadataRequest(name="digits_mlp"))
        name, out_name = md.inputs[0].name, md.outputs[0].name
        x = (np.arange(128, dtype=np.float32) % 17).reshape(2, 64)
        req = pb.ModelInferRequest(model_name="digits_mlp")
        req.inputs.add(name=name, datatype="FP32", shape=[2, 64]).contents.fp32_contents.extend(
            x.flatten().tolist())
        out = outputs(call("ModelInfer", req))[out_name]
        probs = np.frombuffer(out[2], "<f4").reshape(2, 10)
        np.testing.assert_allclose(probs.sum(axis=1), [1, 1], rtol=1e-5)
        http = requests.post(server.url + "/v2/models/digits_mlp/infer", timeout=TIMEOUT, json={
            "inputs": [{"name": name, "datatype": "FP32", "shape": [2, 64],
                        "data": x.flatten().tolist()}]}).json()
        np.testing.assert_allclose(np.array(http["outputs"][0]["data"]).reshape(2, 10), probs,
                                   rtol=1e-6)

    def test_4_8_mb_request_has_no_size_limit(self):
        x = np.random.default_rng(1).random((8, 150528), dtype=np.float32)
        req = pb.ModelInferRequest(model_name="identity_fp32")
        req.inputs.add(name="INPUT0", datatype="FP32", shape=[8, 150528])
        req.raw_input_contents.append(raw_tensor(x.astype("<f4")))
        self.assertGreater(req.ByteSize(), 4_800_000)
        out = outputs(call("ModelInfer", req))["OUTPUT0"]
        self.assertEqual(out[1], [8, 150528])
        self.assertEqual(out[2], raw_tensor(x.astype("<f4")))


class BadInput(GrpcTestCase):
    def invalid(self, req, fragment, code=grpc.StatusCode.INVALID_ARGUMENT):
        return self.assertRpcError(lambda: call("ModelInfer", req), code, fragment)

    def test_malformed_protobuf(self):
        garbage = channel.unary_unary(SERVICE + "ModelInfer")  # bytes in, bytes out
        for payload in (b"\xff\xff\xff\xff\x0f", b"\x0a\xff\xff\xff\xff\x0f" + b"x" * 10):
            self.assertRpcError(lambda: garbage(payload, timeout=TIMEOUT),
                                grpc.StatusCode.INVALID_ARGUMENT, "malformed ModelInferRequest")
        self.assertTrue(call("ServerLive", pb.ServerLiveRequest()).live)

    def test_malformed_protobuf_on_a_stream(self):
        raw = channel.stream_stream(SERVICE + "ModelStreamInfer")  # bytes both ways
        a = np.ones((1, 16), np.int32)
        good = simple_request(a, a, id="ok").SerializeToString()
        got = [pb.ModelStreamInferResponse.FromString(b)
               for b in raw(iter([good, b"\xff\xff\xff", good]), timeout=TIMEOUT)]
        self.assertEqual([r.error_message for r in got][0::2], ["", ""])
        self.assertIn("malformed ModelInferRequest", got[1].error_message)
        self.assertEqual(got[2].infer_response.id, "ok")

    def test_unknown_model_and_version(self):
        a = np.ones((1, 16), np.int32)
        req = simple_request(a, a)
        req.model_name = "nope"
        self.invalid(req, "unknown model", grpc.StatusCode.NOT_FOUND)
        self.invalid(simple_request(a, a, model_version="9"), "unknown version 9",
                     grpc.StatusCode.NOT_FOUND)
        self.invalid(simple_request(a, a, model_version="-1"), "invalid model version")

    def test_wrong_dtype_shape_and_missing_input(self):
        a = np.ones((1, 16), np.int32)
        req = simple_request(a, a)
        req.inputs[0].datatype = "FP32"
        self.invalid(req, "data-type is 'FP32'")
        req = simple_request(a, a)
        req.inputs[0].datatype = "FLOAT"
        self.invalid(req, "unknown datatype 'FLOAT'")
        b = np.ones((1, 8), np.int32)
        self.invalid(simple_request(b, b), "unexpected shape for input 'INPUT0'")
        req = simple_request(a, a)
        del req.inputs[1]
        del req.raw_input_contents[1]
        self.invalid(req, "missing input 'INPUT1'")
        self.invalid(simple_request(np.ones((9, 16), np.int32), np.ones((9, 16), np.int32)),
                     "batch-size must be <= 8")

    def test_raw_contents_mismatch(self):
        a = np.ones((1, 16), np.int32)
        req = simple_request(a, a)
        del req.raw_input_contents[1]
        self.invalid(req, "raw_input_contents has 1 entries but the request has 2 inputs")
        req = simple_request(a, a)
        req.raw_input_contents[1] = req.raw_input_contents[1][:-4]
        self.invalid(req, "holds 60 bytes but shape [1,16] of INT32 needs 64")
        req = simple_request(a, a)
        req.inputs[0].contents.int_contents.extend([1] * 16)
        self.invalid(req, "both typed contents and an entry in raw_input_contents")

    def test_typed_contents_mismatch(self):
        a = np.ones((1, 16), np.int32)
        req = simple_request(a, a, raw=False)
        req.inputs[0].contents.int_contents.append(5)
        self.invalid(req, "has 17 elements in its typed contents but shape [1,16] needs 16")
        req = simple_request(a, a, raw=False)
        req.inputs[0].contents.fp32_contents.append(5)
        self.invalid(req, "must use contents.int_contents only")
        req = pb.ModelInferRequest(model_name="identity_bytes")
        req.inputs.add(name="INPUT0", datatype="BYTES", shape=[1, 2])
        req.raw_input_contents.append(struct.pack("<I", 100) + b"short")
        self.invalid(req, "INPUT0")

    def test_unknown_output_and_classification(self):
        a = np.ones((1, 16), np.int32)
        req = simple_request(a, a)
        req.outputs.add(name="NOPE")
        self.invalid(req, "unexpected inference output 'NOPE'")
        req = simple_request(a, a)
        req.outputs.add(name="OUTPUT0").parameters["classification"].int64_param = 0
        self.invalid(req, "classification must be a positive integer")
        # Classification runs in core, so gRPC gets it too: equal scores keep index order.
        req = simple_request(a, a)
        req.outputs.add(name="OUTPUT0").parameters["classification"].int64_param = 2
        resp = call("ModelInfer", req)
        self.assertEqual((resp.outputs[0].datatype, list(resp.outputs[0].shape)), ("BYTES", [1, 2]))
        raw = resp.raw_output_contents[0]
        self.assertEqual(raw, struct.pack("<I", 3) + b"2:0" + struct.pack("<I", 3) + b"2:1")

    def test_http_and_grpc_report_the_same_error(self):
        # (datatype, shape, elements of INPUT0): a kserve check, then a core one.
        for dtype, shape, n in (("FLOAT", [1, 16], 16), ("INT32", [1, 15], 15),
                                ("INT32", [1, -2], 0)):
            with self.subTest(dtype=dtype, shape=shape):
                req = pb.ModelInferRequest(model_name="simple")
                req.inputs.add(name="INPUT0", datatype=dtype, shape=shape) \
                    .contents.int_contents.extend([1] * n)
                req.inputs.add(name="INPUT1", datatype="INT32", shape=[1, 16]) \
                    .contents.int_contents.extend([1] * 16)
                with self.assertRaises(grpc.RpcError) as cm:
                    call("ModelInfer", req)
                body = {"inputs": [{"name": "INPUT0", "datatype": dtype, "shape": shape,
                                    "data": [1] * n},
                                   {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16],
                                    "data": [1] * 16}]}
                r = requests.post(server.url + "/v2/models/simple/infer", json=body,
                                  timeout=TIMEOUT)
                self.assertEqual(r.status_code, 400)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
                self.assertEqual(r.json()["error"], cm.exception.details())


class Streaming(GrpcTestCase):
    def test_error_in_the_middle_and_order(self):
        reqs = []
        for i in range(12):
            a = np.full((1, 16), i, np.int32)
            req = simple_request(a, a, id=f"r{i}")
            if i == 5:
                req.model_name = "nope"
            if i == 8:
                del req.raw_input_contents[1]
            reqs.append(req)
        got = list(stream(iter(reqs)))
        self.assertEqual(len(got), 12)
        for i, r in enumerate(got):
            self.assertEqual(r.infer_response.id, f"r{i}")
            if i == 5:
                self.assertIn("unknown model", r.error_message)
            elif i == 8:
                self.assertIn("raw_input_contents has 1 entries", r.error_message)
            else:
                self.assertEqual(r.error_message, "")
                np.testing.assert_array_equal(
                    np.frombuffer(r.infer_response.raw_output_contents[0], "<i4"),
                    np.full(16, 2 * i))

    def test_mixed_models_keep_request_order(self):
        reqs = []
        for i in range(20):
            if i % 2:
                req = pb.ModelInferRequest(model_name="identity_bytes", id=str(i))
                req.inputs.add(name="INPUT0", datatype="BYTES", shape=[1, 1])
                req.raw_input_contents.append(bytes_tensor([str(i).encode()]))
            else:
                a = np.full((1, 16), i, np.int32)
                req = simple_request(a, a, id=str(i))
            reqs.append(req)
        got = list(stream(iter(reqs)))
        self.assertEqual([r.infer_response.id for r in got], [str(i) for i in range(20)])
        self.assertTrue(all(r.error_message == "" for r in got))

    def test_concurrent_streams_and_unary_calls(self):
        errors = []

        def one_stream(k):
            try:
                reqs = []
                for i in range(40):
                    a = np.full((1, 16), i + k, np.int32)
                    req = simple_request(a, a, id=f"{k}-{i}")
                    if i % 7 == 3:
                        req.inputs[0].datatype = "FP32"
                    reqs.append(req)
                got = list(stream(iter(reqs)))
                if [r.infer_response.id for r in got] != [f"{k}-{i}" for i in range(40)]:
                    errors.append(f"stream {k}: wrong order")
                for i, r in enumerate(got):
                    if (i % 7 == 3) != bool(r.error_message):
                        errors.append(f"stream {k} item {i}: {r.error_message!r}")
                a = np.ones((1, 16), np.int32)
                for _ in range(10):
                    call("ModelInfer", simple_request(a, a))
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=one_stream, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        self.assertEqual(errors, [])

    def test_client_disconnects_mid_stream(self):
        ch = new_channel()
        q = queue.Queue()

        def gen():
            while True:
                item = q.get()
                if item is None:
                    return
                yield item

        a = np.ones((1, 16), np.int32)
        call_ = stream(gen(), ch)
        q.put(simple_request(a, a, id="first"))
        first = next(call_)
        self.assertEqual(first.infer_response.id, "first")
        for _ in range(5):  # requests in flight when the client goes away
            q.put(simple_request(a, a))
        call_.cancel()
        q.put(None)
        ch.close()
        # A fresh connection is served, unary and streaming.
        resp = call("ModelInfer", simple_request(a, a, id="after"))
        self.assertEqual(resp.id, "after")
        self.assertEqual(len(list(stream(iter([simple_request(a, a)])))), 1)


SLOW_IDENTITY = """
backend: "identity"
max_batch_size: 4
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
parameters { key: "execute_delay_ms" value: { string_value: "800" } }
"""


class Shutdown(unittest.TestCase):
    def test_sigterm_drains_in_flight_unary_and_stream_requests(self):
        root = make_repo({"slow/config.pbtxt": SLOW_IDENTITY, "slow/1": None})
        try:
            s = Server("--exit-timeout-secs", "20", repos=[root])
            ch = grpc.insecure_channel(s.grpc_target)

            def request(rid):
                req = pb.ModelInferRequest(model_name="slow", id=rid)
                req.inputs.add(name="IN", datatype="FP32", shape=[1, 1])
                req.raw_input_contents.append(struct.pack("<f", 5.0))
                return req

            unary = ch.unary_unary(SERVICE + "ModelInfer",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=pb.ModelInferResponse.FromString)
            future = unary.future(request("u"), timeout=TIMEOUT)
            streamed = stream(iter([request("s")]), ch)
            time.sleep(0.3)  # both reach the model (it runs 800 ms each)
            code = s.stop(signal.SIGTERM)
            self.assertEqual(code, 0, s.stderr())
            self.assertEqual(future.result().id, "u")
            self.assertEqual(struct.unpack("<f", future.result().raw_output_contents[0]), (5.0,))
            got = list(streamed)
            self.assertEqual([(r.infer_response.id, r.error_message) for r in got], [("s", "")])
            ch.close()
            s.__exit__(None, None, None)
        finally:
            shutil.rmtree(root)

    def test_sigterm_with_an_open_stream_exits_cleanly(self):
        with Server() as s:
            ch = grpc.insecure_channel(s.grpc_target)
            q = queue.Queue()

            def gen():
                while True:
                    item = q.get()
                    if item is None:
                        return
                    yield item

            stub = ch.stream_stream(SERVICE + "ModelStreamInfer",
                                    request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=pb.ModelStreamInferResponse.FromString)
            call_ = stub(gen(), timeout=TIMEOUT)
            a = np.ones((1, 16), np.int32)
            q.put(simple_request(a, a, id="x"))
            self.assertEqual(next(call_).infer_response.id, "x")
            start = time.time()
            self.assertEqual(s.stop(), 0)
            self.assertLess(time.time() - start, 15)
            q.put(None)
            ch.close()


class Flags(GrpcTestCase):
    def infer_simple(self, ch):
        a = np.arange(16, dtype=np.int32).reshape(1, 16)
        resp = call("ModelInfer", simple_request(a, a, id="f"), ch)
        np.testing.assert_array_equal(np.frombuffer(resp.raw_output_contents[0], "<i4"),
                                      2 * a.flatten())

    def test_response_compression(self):
        with Server("--grpc-infer-response-compression-level", "high") as s:
            ch = grpc.insecure_channel(s.grpc_target)
            self.infer_simple(ch)
            ch.close()
        code, out, err = run_cli("serve", "--model-repository", served_examples(),
                                 "--grpc-infer-response-compression-level", "max")
        self.assertNotEqual(code, 0)
        self.assertIn("--grpc-infer-response-compression-level", out + err)

    def test_message_above_the_size_limit(self):
        with Server("--grpc-max-message-size", "1000000") as s:
            ch = grpc.insecure_channel(s.grpc_target, options=[
                ("grpc.max_send_message_length", -1)])
            x = np.zeros((2, 150528), np.float32)  # 1.2 MB of tensor data
            req = pb.ModelInferRequest(model_name="identity_fp32")
            req.inputs.add(name="INPUT0", datatype="FP32", shape=list(x.shape))
            req.raw_input_contents.append(raw_tensor(x))
            self.assertRpcError(lambda: call("ModelInfer", req, ch),
                                grpc.StatusCode.RESOURCE_EXHAUSTED, "")
            got = stream(iter([req]), ch)
            with self.assertRaises(grpc.RpcError) as cm:
                list(got)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.infer_simple(ch)  # the server and the channel keep working
            ch.close()
        code, out, err = run_cli("serve", "--model-repository", served_examples(),
                                 "--grpc-max-message-size", "0")
        self.assertNotEqual(code, 0)
        self.assertIn("--grpc-max-message-size", out + err)

    def test_allow_grpc_false(self):
        with Server("--allow-grpc=false") as s:
            self.assertIsNone(s.grpc_port)
            self.assertEqual(requests.get(s.url + "/v2/health/live", timeout=TIMEOUT).status_code,
                             200)

    def test_tls(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl is not installed")
        d = tempfile.mkdtemp(prefix="nereid_tls_")
        try:
            key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                            "1", "-subj", "/CN=localhost", "-addext",
                            "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key,
                            "-out", cert], check=True, capture_output=True)
            with Server("--grpc-use-ssl=true", "--grpc-server-cert", cert, "--grpc-server-key",
                        key) as s:
                with open(cert, "rb") as f:
                    creds = grpc.ssl_channel_credentials(root_certificates=f.read())
                ch = grpc.secure_channel(f"localhost:{s.grpc_port}", creds)
                self.infer_simple(ch)
                ch.close()
                plain = grpc.insecure_channel(s.grpc_target)
                with self.assertRaises(grpc.RpcError):
                    call("ServerLive", pb.ServerLiveRequest(), plain)
                plain.close()
            code, _, err = run_cli("serve", "--model-repository", served_examples(), "--http-port", "0",
                                   "--grpc-port", "0", "--grpc-use-ssl=true",
                                   "--grpc-server-cert", os.path.join(d, "missing.pem"),
                                   "--grpc-server-key", key)
            self.assertEqual(code, 1)
            self.assertIn("--grpc-server-cert", err)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
