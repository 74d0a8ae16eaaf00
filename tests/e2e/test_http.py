"""End-to-end tests: the real nereid binary on loopback, driven over HTTP.

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest tests/e2e/test_http.py
"""
import gzip
import json
import os
import socket
import struct
import time
import unittest
import zlib

import numpy as np
import requests

from server_fixture import REPO_ROOT, Server, served_examples

TIMEOUT = 30
server = None


def setUpModule():
    global server
    server = Server()


def tearDownModule():
    server.__exit__(None, None, None)


def url(path):
    return server.url + path


def post_json(path, body, **kw):
    return requests.post(url(path), data=json.dumps(body), timeout=TIMEOUT, **kw)


def binary_request(json_obj, tensors, headers=None):
    header = json.dumps(json_obj).encode()
    body = header + b"".join(tensors)
    h = {"Inference-Header-Content-Length": str(len(header)),
         "Content-Type": "application/octet-stream"}
    h.update(headers or {})
    return body, h


def split_binary_response(resp):
    n = int(resp.headers["Inference-Header-Content-Length"])
    header = json.loads(resp.content[:n])
    offset = n
    tensors = {}
    for out in header["outputs"]:
        size = out.get("parameters", {}).get("binary_data_size")
        if size is not None:
            tensors[out["name"]] = resp.content[offset:offset + size]
            offset += size
    assert offset == len(resp.content)
    return header, tensors


def serialize_bytes(items):
    return b"".join(struct.pack("<I", len(s)) + s for s in items)


class HealthAndMetadata(unittest.TestCase):
    def test_health(self):
        self.assertEqual(requests.get(url("/v2/health/live"), timeout=TIMEOUT).status_code, 200)
        self.assertEqual(requests.get(url("/v2/health/ready"), timeout=TIMEOUT).status_code, 200)

    def test_server_metadata(self):
        md = requests.get(url("/v2"), timeout=TIMEOUT).json()
        self.assertEqual(md["name"], "nereid")
        self.assertIn("binary_tensor_data", md["extensions"])
        self.assertIn("version", md)

    def test_every_example_model_is_ready_with_metadata(self):
        for name in sorted(os.listdir(served_examples())):
            r = requests.get(url(f"/v2/models/{name}/ready"), timeout=TIMEOUT)
            self.assertEqual(r.status_code, 200, name)
            md = requests.get(url(f"/v2/models/{name}"), timeout=TIMEOUT).json()
            self.assertEqual(md["name"], name)
            self.assertEqual(md["versions"], ["1"])
            cfg = requests.get(url(f"/v2/models/{name}/config"), timeout=TIMEOUT).json()
            self.assertEqual(cfg["name"], name)

    def test_simple_metadata_matches_triton(self):
        md = requests.get(url("/v2/models/simple/versions/1"), timeout=TIMEOUT).json()
        self.assertEqual(md["platform"], "onnxruntime_onnx")
        self.assertEqual(md["inputs"][0], {"name": "INPUT0", "datatype": "INT32", "shape": [-1, 16]})
        self.assertEqual([o["name"] for o in md["outputs"]], ["OUTPUT0", "OUTPUT1"])

    def test_auto_complete_fills_digits_config(self):
        cfg = requests.get(url("/v2/models/digits_mlp/config"), timeout=TIMEOUT).json()
        self.assertEqual(cfg["backend"], "onnxruntime")
        self.assertEqual(cfg["platform"], "onnxruntime_onnx")
        self.assertEqual(cfg["max_batch_size"], 64)
        self.assertEqual(cfg["input"][0]["name"], "pixels")
        self.assertEqual(cfg["input"][0]["dims"], [64])
        self.assertEqual(cfg["input"][0]["data_type"], "TYPE_FP32")
        self.assertEqual(cfg["output"][0]["dims"], [10])


class Inference(unittest.TestCase):
    def test_simple_json(self):
        a = np.arange(16, dtype=np.int32)
        b = np.ones(16, dtype=np.int32) * 3
        body = {"id": "req-1", "inputs": [
            {"name": "INPUT0", "shape": [1, 16], "datatype": "INT32", "data": a.tolist()},
            {"name": "INPUT1", "shape": [1, 16], "datatype": "INT32", "data": [b.tolist()]}]}
        r = post_json("/v2/models/simple/infer", body)
        self.assertEqual(r.status_code, 200, r.text)
        out = r.json()
        self.assertEqual(out["id"], "req-1")
        self.assertEqual(out["model_name"], "simple")
        self.assertEqual(out["model_version"], "1")
        got = {o["name"]: o for o in out["outputs"]}
        self.assertEqual(got["OUTPUT0"]["data"], (a + b).tolist())
        self.assertEqual(got["OUTPUT1"]["data"], (a - b).tolist())
        self.assertEqual(got["OUTPUT0"]["shape"], [1, 16])

    def test_simple_binary_batch_and_output_selection(self):
        a = np.random.RandomState(0).randint(-1000, 1000, size=(8, 16)).astype(np.int32)
        b = np.random.RandomState(1).randint(-1000, 1000, size=(8, 16)).astype(np.int32)
        js = {"inputs": [
            {"name": "INPUT0", "shape": [8, 16], "datatype": "INT32",
             "parameters": {"binary_data_size": a.nbytes}},
            {"name": "INPUT1", "shape": [8, 16], "datatype": "INT32",
             "parameters": {"binary_data_size": b.nbytes}}],
            "outputs": [{"name": "OUTPUT1", "parameters": {"binary_data": True}}]}
        body, headers = binary_request(js, [a.tobytes(), b.tobytes()])
        r = requests.post(url("/v2/models/simple/versions/1/infer"), data=body, headers=headers,
                          timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text)
        header, tensors = split_binary_response(r)
        self.assertEqual([o["name"] for o in header["outputs"]], ["OUTPUT1"])
        np.testing.assert_array_equal(np.frombuffer(tensors["OUTPUT1"], np.int32).reshape(8, 16),
                                      a - b)

    def test_binary_data_output_request_parameter(self):
        x = np.linspace(-1, 1, 5, dtype=np.float32)
        js = {"parameters": {"binary_data_output": True},
              "inputs": [{"name": "INPUT0", "shape": [1, 5], "datatype": "FP32", "data": x.tolist()}]}
        r = post_json("/v2/models/identity_fp32/infer", js)
        header, tensors = split_binary_response(r)
        np.testing.assert_array_equal(np.frombuffer(tensors["OUTPUT0"], np.float32), x)

    def test_raw_binary_request(self):
        x = np.arange(7, dtype=np.float32)
        r = requests.post(url("/v2/models/identity_fp32/infer"), data=x.tobytes(),
                          headers={"Inference-Header-Content-Length": "0"}, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text)
        header, tensors = split_binary_response(r)
        self.assertEqual(header["outputs"][0]["shape"], [1, 7])
        np.testing.assert_array_equal(np.frombuffer(tensors["OUTPUT0"], np.float32), x)

    def test_fp32_json_values_round_trip(self):
        x = np.array([[0.1, -2.5e-8, 3.4e38, 1.0 / 3.0]], dtype=np.float32)
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": x.tolist()}]}
        out = post_json("/v2/models/identity_fp32/infer", js).json()
        np.testing.assert_array_equal(np.array(out["outputs"][0]["data"], np.float32), x.ravel())

    def test_bytes_json_and_binary(self):
        items = ["hello", "", "wörld"]
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 3], "datatype": "BYTES", "data": items}]}
        out = post_json("/v2/models/identity_bytes/infer", js).json()
        self.assertEqual(out["outputs"][0]["data"], items)
        raw = serialize_bytes([s.encode() for s in items] + [b"\x00\xff"])
        js = {"inputs": [{"name": "INPUT0", "shape": [2, 2], "datatype": "BYTES",
                          "parameters": {"binary_data_size": len(raw)}}],
              "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]}
        body, headers = binary_request(js, [raw])
        r = requests.post(url("/v2/models/identity_bytes/infer"), data=body, headers=headers,
                          timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text)
        _, tensors = split_binary_response(r)
        self.assertEqual(tensors["OUTPUT0"], raw)

    def test_fp16_and_bf16_binary(self):
        x = np.array([1.5, -2.0, 65504.0], dtype=np.float16)
        # identity_fp32 expects FP32: the error names both types
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 3], "datatype": "FP16",
                          "parameters": {"binary_data_size": x.nbytes}}]}
        body, headers = binary_request(js, [x.tobytes()])
        r = requests.post(url("/v2/models/identity_fp32/infer"), data=body, headers=headers,
                          timeout=TIMEOUT)
        self.assertEqual(r.status_code, 400)
        self.assertIn("FP16", r.json()["error"])

    def test_digits_classifier_matches_sklearn(self):
        ref = np.load(os.path.join(REPO_ROOT, "examples", "digits_samples.npz"))
        pixels, probs = ref["pixels"], ref["probabilities"]
        js = {"inputs": [{"name": "pixels", "shape": list(pixels.shape), "datatype": "FP32",
                          "data": pixels.ravel().tolist()}]}
        r = post_json("/v2/models/digits_mlp/infer", js)
        self.assertEqual(r.status_code, 200, r.text)
        got = np.array(r.json()["outputs"][0]["data"], np.float32).reshape(probs.shape)
        np.testing.assert_allclose(got, probs, rtol=1e-4, atol=1e-6)
        self.assertGreaterEqual((got.argmax(1) == ref["labels"]).mean(), 0.9)

    def test_gzip_and_deflate(self):
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 1000], "datatype": "FP32",
                          "data": [1.0] * 1000}]}
        raw = json.dumps(js).encode()
        for enc, data in (("gzip", gzip.compress(raw)), ("deflate", zlib.compress(raw))):
            r = requests.post(url("/v2/models/identity_fp32/infer"), data=data, timeout=TIMEOUT,
                              headers={"Content-Encoding": enc, "Accept-Encoding": enc})
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.headers.get("Content-Encoding"), enc)
            self.assertEqual(r.json()["outputs"][0]["data"], [1.0] * 1000)  # requests inflates

    def test_keep_alive_reuses_one_connection(self):
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as s:
            for _ in range(3):
                s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(4096)
                self.assertTrue(data.startswith(b"HTTP/1.1 200"))


class Connections(unittest.TestCase):
    def test_pipelined_requests_are_answered_in_order(self):
        bodies = [json.dumps({"id": str(i), "inputs": [{"name": "INPUT0", "shape": [1, 1],
                                                         "datatype": "FP32", "data": [i]}]}).encode()
                  for i in range(5)]
        wire = b"".join(b"POST /v2/models/identity_fp32/infer HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies)
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as s:
            s.sendall(wire)
            data = b""
            ids = []
            while len(ids) < 5:
                chunk = s.recv(65536)
                self.assertTrue(chunk, "connection closed early")
                data += chunk
                while b"\r\n\r\n" in data:
                    head, rest = data.split(b"\r\n\r\n", 1)
                    length = int([l for l in head.split(b"\r\n")
                                  if l.lower().startswith(b"content-length")][0].split(b":")[1])
                    if len(rest) < length:
                        break
                    ids.append(json.loads(rest[:length])["id"])
                    data = rest[length:]
        self.assertEqual(ids, ["0", "1", "2", "3", "4"])

    def test_large_response_larger_than_socket_buffer(self):
        x = np.arange(8 * 1000000, dtype=np.float32).reshape(8, 1000000)  # 32 MB each way
        js = {"inputs": [{"name": "INPUT0", "shape": [8, 1000000], "datatype": "FP32",
                          "parameters": {"binary_data_size": x.nbytes}}],
              "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]}
        body, headers = binary_request(js, [x.tobytes()])
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        wire = (f"POST /v2/models/identity_fp32/infer HTTP/1.1\r\nHost: x\r\n{head}"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        with socket.socket() as s:
            # A small receive buffer and a late reader make the server's
            # non-blocking send fall back to its asynchronous path.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            s.settimeout(TIMEOUT)
            s.connect(("127.0.0.1", server.port))
            s.sendall(wire)
            time.sleep(0.3)
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(1 << 16)
            resp_head, rest = data.split(b"\r\n\r\n", 1)
            fields = dict(l.split(b": ", 1) for l in resp_head.split(b"\r\n")[1:])
            length = int(fields[b"Content-Length"])
            chunks = [rest]
            got = len(rest)
            while got < length:
                c = s.recv(1 << 20)
                self.assertTrue(c, "connection closed early")
                chunks.append(c)
                got += len(c)
        payload = b"".join(chunks)
        n = int(fields[b"Inference-Header-Content-Length"])
        np.testing.assert_array_equal(np.frombuffer(payload[n:], np.float32), x.ravel())

    def test_connection_close_is_honoured(self):
        r = requests.get(url("/v2/health/live"), headers={"Connection": "close"}, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers.get("Connection"), "close")

    def test_many_concurrent_connections(self):
        import concurrent.futures
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}

        def call(i):
            with requests.Session() as sess:
                for _ in range(20):
                    r = sess.post(url("/v2/models/identity_fp32/infer"), json=js, timeout=TIMEOUT)
                    if r.status_code != 200 or r.json()["outputs"][0]["data"] != [1, 2, 3]:
                        return False
            return True

        with concurrent.futures.ThreadPoolExecutor(32) as ex:
            self.assertTrue(all(ex.map(call, range(64))))


class BadInput(unittest.TestCase):
    def assertError(self, r, status, needle):
        self.assertEqual(r.status_code, status, r.text)
        self.assertIn(needle, r.json()["error"])

    def tearDown(self):
        # After every bad request the server is up and other models serve.
        self.assertEqual(requests.get(url("/v2/health/live"), timeout=TIMEOUT).status_code, 200)
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FP32", "data": [2.0]}]}
        self.assertEqual(post_json("/v2/models/identity_fp32/infer", js).status_code, 200)

    def simple_body(self, shape=(1, 16), dtype="INT32", names=("INPUT0", "INPUT1")):
        n = int(np.prod(shape))
        return {"inputs": [{"name": nm, "shape": list(shape), "datatype": dtype, "data": [1] * n}
                           for nm in names]}

    def test_malformed_json(self):
        r = requests.post(url("/v2/models/simple/infer"), data=b'{"inputs": [', timeout=TIMEOUT)
        self.assertError(r, 400, "malformed JSON")

    def test_unknown_model_and_version(self):
        self.assertError(post_json("/v2/models/nope/infer", self.simple_body()), 404, "unknown model")
        self.assertError(post_json("/v2/models/simple/versions/9/infer", self.simple_body()), 404,
                         "unknown version 9")
        self.assertError(requests.get(url("/v2/models/nope"), timeout=TIMEOUT), 404, "nope")

    def test_missing_and_extra_inputs(self):
        self.assertError(post_json("/v2/models/simple/infer", self.simple_body(names=("INPUT0",))),
                         400, "missing input 'INPUT1'")
        self.assertError(post_json("/v2/models/simple/infer",
                                   self.simple_body(names=("INPUT0", "INPUT1", "INPUT2"))),
                         400, "unexpected inference input 'INPUT2'")

    def test_wrong_dtype(self):
        body = self.simple_body(dtype="FP32")
        self.assertError(post_json("/v2/models/simple/infer", body), 400,
                         "data-type is 'FP32', but model 'simple' expects 'INT32'")

    def test_wrong_shape_and_data_size(self):
        self.assertError(post_json("/v2/models/simple/infer", self.simple_body(shape=(1, 15))), 400,
                         "unexpected shape for input 'INPUT0'")
        body = self.simple_body()
        body["inputs"][0]["data"] = [1] * 15
        self.assertError(post_json("/v2/models/simple/infer", body), 400, "15 elements")
        a = np.zeros(16, np.int32).tobytes()
        js = {"inputs": [{"name": n, "shape": [1, 16], "datatype": "INT32",
                          "parameters": {"binary_data_size": 60}} for n in ("INPUT0", "INPUT1")]}
        body, headers = binary_request(js, [a[:60], a[:60]])
        r = requests.post(url("/v2/models/simple/infer"), data=body, headers=headers, timeout=TIMEOUT)
        self.assertError(r, 400, "holds 60 bytes")

    def test_batch_above_max(self):
        self.assertError(post_json("/v2/models/simple/infer", self.simple_body(shape=(9, 16))), 400,
                         "batch-size must be <= 8")

    def test_bad_inference_header_length(self):
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FP32",
                          "parameters": {"binary_data_size": 4}}]}
        body, _ = binary_request(js, [b"\0\0\0\0"])
        for value, needle in (("-1", "non-negative integer"), ("ten", "non-negative integer"),
                              (str(len(body) + 1), "larger than the request body")):
            r = requests.post(url("/v2/models/identity_fp32/infer"), data=body, timeout=TIMEOUT,
                              headers={"Inference-Header-Content-Length": value})
            self.assertError(r, 400, needle)

    def test_truncated_binary_data(self):
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32",
                          "parameters": {"binary_data_size": 16}}]}
        body, headers = binary_request(js, [b"\0" * 10])
        r = requests.post(url("/v2/models/identity_fp32/infer"), data=body, headers=headers,
                          timeout=TIMEOUT)
        self.assertError(r, 400, "only 10 remain")
        raw = serialize_bytes([b"abc"])[:-1]
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "BYTES",
                          "parameters": {"binary_data_size": len(raw)}}]}
        body, headers = binary_request(js, [raw])
        r = requests.post(url("/v2/models/identity_bytes/infer"), data=body, headers=headers,
                          timeout=TIMEOUT)
        self.assertError(r, 400, "BYTES")

    def test_gzip_bomb(self):
        bomb = gzip.compress(b"\0" * (80 << 20))  # 80 MB of zeros, ~80 KB compressed
        r = requests.post(url("/v2/models/identity_fp32/infer"), data=bomb, timeout=TIMEOUT,
                          headers={"Content-Encoding": "gzip"})
        self.assertError(r, 400, "exceeds the limit")

    def test_corrupt_gzip_and_unknown_encoding(self):
        r = requests.post(url("/v2/models/identity_fp32/infer"), data=b"garbage", timeout=TIMEOUT,
                          headers={"Content-Encoding": "gzip"})
        self.assertError(r, 400, "not valid gzip")
        r = requests.post(url("/v2/models/identity_fp32/infer"), data=b"{}", timeout=TIMEOUT,
                          headers={"Content-Encoding": "br"})
        self.assertError(r, 501, "Content-Encoding")

    def test_json_cannot_carry_fp16(self):
        js = {"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FP16", "data": [1.0]}]}
        self.assertError(post_json("/v2/models/identity_fp32/infer", js), 400,
                         "binary tensor data extension")

    def test_unknown_endpoint_and_method(self):
        self.assertError(requests.get(url("/v2/nothing"), timeout=TIMEOUT), 404, "no such endpoint")
        self.assertError(requests.delete(url("/v2/models/simple"), timeout=TIMEOUT), 405, "DELETE")

    def test_huge_header(self):
        r = requests.get(url("/v2/health/live"), headers={"X-Big": "a" * 100000}, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 431)


if __name__ == "__main__":
    unittest.main()
