#!/usr/bin/python3
"""Protocol benchmark: HTTP vs gRPC on the same server, one run.

  /usr/bin/python3 bench/protocol_bench.py [--seconds 5] [--write]

Starts build/nereid on free loopback ports (examples repository,
--allow-client-shm=true) and measures:
  1. identity_fp32 with 16 floats at 1 and 16 concurrent clients: requests/s,
     p50 and p99 for HTTP (binary tensors) and gRPC (raw_input_contents),
     measured by `nereid perf` (C++ closed-loop client, one thread for all
     clients, --seconds per level after a 500 ms warm-up), so the ratio is not
     bound by a Python client; the client still shares the cores with the
     server;
  2. one 224x224x3 FP32 tensor (602 KB) echoed by identity_fp32: median and
     p99 latency as JSON, binary HTTP, gRPC raw contents and system shared
     memory (input and output in a POSIX shm region), with Python clients
     (Debian python3-grpcio, http.client keep-alive).
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
import time
from multiprocessing import shared_memory

import grpc
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_md  # noqa: E402
from perf_runner import run_perf  # noqa: E402
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


def perf_levels(protocol, target, levels, seconds):
    """`nereid perf` on identity_fp32 (16 floats) at each concurrency level."""
    return run_perf("identity_fp32", protocol, target, levels, seconds, 500,
                    extra=("--shape", "INPUT0:16"))


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
        levels = (1, 16)
        measured = {name: perf_levels(protocol, target, levels, args.seconds)
                    for name, protocol, target in (("HTTP (binary)", "http", f"127.0.0.1:{hport}"),
                                                   ("gRPC", "grpc", srv.grpc_target))}
        for i, clients in enumerate(levels):
            for name, out in measured.items():
                level = out[i]
                rows_small.append((name, clients, level["requests_per_sec"],
                                   level["latency_p50_us"] / 1000, level["latency_p99_us"] / 1000))
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
    lines = [f"Protocol benchmark, {datetime.date.today()}, identity_fp32. Requests/s: "
             f"`nereid perf` (C++ closed-loop client, one thread, on the same cores as the "
             f"server), {args.seconds:g} s per level after a 500 ms warm-up. Large tensor: "
             f"Python clients.",
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
