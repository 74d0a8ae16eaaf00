#!/usr/bin/python3
"""Protocol benchmark: HTTP vs gRPC on the same server, one run.

  /usr/bin/python3 bench/protocol_bench.py [--seconds 5] [--write]

Starts build/nereid on free loopback ports (examples repository,
--allow-client-shm=true) and measures with Python clients (Debian
python3-grpcio, http.client keep-alive; the clients share the 2 cores with
the server, so absolute numbers are client-bound: compare the ratios):
  1. identity_fp32 with 16 floats, binary tensors, at 1 and 16 concurrent
     clients: requests/s and p99 for HTTP and gRPC;
  2. one 224x224x3 FP32 tensor (602 KB) echoed by identity_fp32: median and
     p99 latency as JSON, binary HTTP, gRPC raw contents and system shared
     memory (input and output in a POSIX shm region).
--write puts the table into bench/RESULTS.md.
"""
import argparse
import datetime
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing import shared_memory

import grpc
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_md  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from server_fixture import Server  # noqa: E402


def load_pb():
    out = tempfile.mkdtemp(prefix="nereid_pb_")
    subprocess.check_call(["protoc", f"--python_out={out}", "-I", os.path.join(ROOT, "proto"),
                           os.path.join(ROOT, "proto", "model_config.proto"),
                           os.path.join(ROOT, "proto", "grpc_service.proto")])
    sys.path.insert(0, out)
    import grpc_service_pb2
    return grpc_service_pb2


class HttpClient:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def binary(self, x):
        header = json.dumps({"inputs": [{"name": "INPUT0", "shape": list(x.shape),
                                         "datatype": "FP32",
                                         "parameters": {"binary_data_size": x.nbytes}}],
                             "outputs": [{"name": "OUTPUT0",
                                          "parameters": {"binary_data": True}}]}).encode()
        self.conn.request("POST", "/v2/models/identity_fp32/infer", header + x.tobytes(),
                          {"Inference-Header-Content-Length": str(len(header)),
                           "Content-Type": "application/octet-stream"})
        r = self.conn.getresponse()
        body = r.read()
        assert r.status == 200, body[:200]
        hlen = int(r.getheader("Inference-Header-Content-Length"))
        assert len(body) - hlen == x.nbytes
        return body

    def json(self, x, outputs=None):
        body = {"inputs": [{"name": "INPUT0", "shape": list(x.shape), "datatype": "FP32",
                            "data": x.ravel().tolist()}]}
        if outputs is not None:
            body.update(outputs)
        self.conn.request("POST", "/v2/models/identity_fp32/infer", json.dumps(body).encode(),
                          {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        assert r.status == 200, data[:200]
        return data

    def post(self, path, body):
        self.conn.request("POST", path, json.dumps(body).encode(),
                          {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        assert r.status == 200, data[:200]
        return data


class GrpcClient:
    def __init__(self, pb, target):
        self.pb = pb
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
        self.infer = self.channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.ModelInferResponse.FromString)

    def raw(self, x):
        req = self.pb.ModelInferRequest(model_name="identity_fp32")
        req.inputs.add(name="INPUT0", datatype="FP32", shape=list(x.shape))
        req.raw_input_contents.append(x.tobytes())
        resp = self.infer(req, timeout=30)
        assert len(resp.raw_output_contents[0]) == x.nbytes
        return resp


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def throughput(make_client, call, clients, seconds):
    lat = [[] for _ in range(clients)]
    stop = time.monotonic() + seconds
    def worker(i):
        c = make_client()
        while time.monotonic() < stop:
            t = time.perf_counter()
            call(c)
            lat[i].append((time.perf_counter() - t) * 1000)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    all_lat = [v for l in lat for v in l]
    return len(all_lat) / elapsed, percentile(all_lat, 0.5), percentile(all_lat, 0.99)


def latency(call, runs):
    for _ in range(3):
        call()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        out.append((time.perf_counter() - t) * 1000)
    return percentile(out, 0.5), percentile(out, 0.99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    pb = load_pb()
    rows_small, rows_big = [], []
    with Server("--allow-client-shm=true") as srv:
        hport = int(srv.url.rsplit(":", 1)[1])
        small = np.arange(16, dtype=np.float32).reshape(1, 16)
        for clients in (1, 16):
            for name, make, call in (
                    ("HTTP (binary)", lambda: HttpClient(hport), lambda c: c.binary(small)),
                    ("gRPC", lambda: GrpcClient(pb, srv.grpc_target), lambda c: c.raw(small))):
                rps, p50, p99 = throughput(make, call, clients, args.seconds)
                rows_small.append((name, clients, rps, p50, p99))
                print(rows_small[-1], flush=True)
        big = np.random.default_rng(0).random((1, 224 * 224 * 3), dtype=np.float32)
        h = HttpClient(hport)
        g = GrpcClient(pb, srv.grpc_target)
        rows_big.append(("HTTP JSON",) + latency(lambda: h.json(big), max(5, args.runs // 5)))
        rows_big.append(("HTTP binary",) + latency(lambda: h.binary(big), args.runs))
        rows_big.append(("gRPC raw",) + latency(lambda: g.raw(big), args.runs))
        shm = shared_memory.SharedMemory(create=True, size=2 * big.nbytes)
        try:
            shm.buf[:big.nbytes] = big.tobytes()
            h.post("/v2/systemsharedmemory/region/bench/register",
                   {"key": "/" + shm.name, "offset": 0, "byte_size": 2 * big.nbytes})
            body = {"inputs": [{"name": "INPUT0", "shape": list(big.shape), "datatype": "FP32",
                                "parameters": {"shared_memory_region": "bench",
                                               "shared_memory_byte_size": big.nbytes}}],
                    "outputs": [{"name": "OUTPUT0",
                                 "parameters": {"shared_memory_region": "bench",
                                                "shared_memory_offset": big.nbytes,
                                                "shared_memory_byte_size": big.nbytes}}]}
            rows_big.append(("system shared memory (HTTP)",) +
                            latency(lambda: h.post("/v2/models/identity_fp32/infer", body),
                                    args.runs))
            out = np.frombuffer(bytes(shm.buf[big.nbytes:2 * big.nbytes]), np.float32)
            assert np.array_equal(out, big.ravel())
            h.post("/v2/systemsharedmemory/region/bench/unregister", {})
        finally:
            shm.close()
            shm.unlink()
        for r in rows_big:
            print(r, flush=True)
    lines = [f"Protocol benchmark, {datetime.date.today()}, Python clients on the same 2 cores "
             f"(client-bound: compare ratios), identity_fp32.",
             "",
             f"Command: `/usr/bin/python3 bench/protocol_bench.py --seconds {args.seconds:g} "
             f"--runs {args.runs} --write`",
             "",
             "| protocol | clients | requests/s | p50 ms | p99 ms | vs HTTP at same clients |",
             "|---|---|---|---|---|---|"]
    by_clients = {}
    for name, clients, rps, p50, p99 in rows_small:
        by_clients.setdefault(clients, {})[name] = rps
    for name, clients, rps, p50, p99 in rows_small:
        ratio = rps / by_clients[clients]["HTTP (binary)"]
        lines.append(f"| {name} | {clients} | {rps:.0f} | {p50:.3f} | {p99:.3f} | {ratio:.2f} |")
    lines += ["", "224x224x3 FP32 tensor (602 KB) in and out:", "",
              "| transport | median ms | p99 ms |", "|---|---|---|"]
    lines += [f"| {n} | {a:.2f} | {b:.2f} |" for n, a, b in rows_big]
    table = "\n".join(lines)
    print(table)
    if args.write:
        results_md.write_section("## Protocols: HTTP vs gRPC vs shared memory", table)


if __name__ == "__main__":
    main()
