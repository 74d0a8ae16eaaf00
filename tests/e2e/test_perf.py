"""End-to-end tests of `nereid perf`: the real load generator against the real
server (example repository) over HTTP and gRPC, with short intervals; its
--json results are checked against the server's own statistics. Also the
error paths: unknown model, closed port, a server that never answers, requests
that time out, bad flags (exit status 1, a clear message, no hang).

Run: NEREID_BIN=build/nereid /usr/bin/python3 -m unittest tests/e2e/test_perf.py
"""
import json
import os
import shutil
import socket
import tempfile
import time
import unittest

from server_fixture import Server, make_repo, run_cli

server = None
# Short levels: 100 ms warm-up, 300 ms measured, concurrency 1 then 2.
SHORT = ["-p", "300", "--warmup-ms", "100", "--concurrency-range", "1,2"]
CLI_TIMEOUT = 60  # seconds; a hang fails the test instead of blocking it


def setUpModule():
    global server
    server = Server()


def tearDownModule():
    server.__exit__(None, None, None)


def http_target():
    return f"127.0.0.1:{server.port}"


def perf(*args, timeout=CLI_TIMEOUT):
    """Runs `nereid perf ARGS -f FILE`; returns (code, stdout, stderr, levels or None)."""
    fd, path = tempfile.mkstemp(prefix="nereid_perf_", suffix=".json")
    os.close(fd)
    try:
        code, out, err = run_cli("perf", *args, "-f", path, timeout=timeout)
        with open(path) as f:
            text = f.read()
        levels = json.loads(text) if text.strip() else None
    finally:
        os.unlink(path)
    return code, out, err, levels


def closed_port():
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Load(unittest.TestCase):
    def run_ok(self, protocol, model, *extra, batch=1):
        target = http_target() if protocol == "http" else server.grpc_target
        code, out, err, levels = perf("-m", model, "-i", protocol, "-u", target, "-b", str(batch),
                                      *SHORT, *extra)
        self.assertEqual(code, 0, out + err)
        self.check_levels(levels, protocol, model, batch)
        self.assertIn("concurrency", out)
        self.assertIn("infer/s", out)
        return levels

    def check_levels(self, levels, protocol, model, batch):
        self.assertIsInstance(levels, list)
        self.assertEqual([l["concurrency"] for l in levels], [1, 2])
        for l in levels:
            msg = json.dumps(l, indent=1)
            self.assertEqual(l["protocol"], protocol)
            self.assertEqual(l["model"], model)
            self.assertEqual(l["batch_size"], batch)
            self.assertEqual(l["errors"], 0, msg)
            self.assertEqual(l["first_error"], "", msg)
            self.assertGreater(l["requests"], 0, msg)
            self.assertGreater(l["requests_per_sec"], 0, msg)
            self.assertAlmostEqual(l["inferences_per_sec"], l["requests_per_sec"] * batch,
                                   delta=1e-6 * l["inferences_per_sec"])
            # The window is the measured time, about -p (plus the last answer).
            self.assertGreater(l["measurement_ms"], 200, msg)
            self.assertLess(l["measurement_ms"], 5000, msg)
            self.assertAlmostEqual(l["requests_per_sec"],
                                   l["requests"] / (l["measurement_ms"] / 1000.0),
                                   delta=1e-6 * l["requests_per_sec"])
            self.assertGreater(l["latency_min_us"], 0, msg)
            self.assertLessEqual(l["latency_min_us"], l["latency_p50_us"], msg)
            self.assertLessEqual(l["latency_p50_us"], l["latency_p90_us"], msg)
            self.assertLessEqual(l["latency_p90_us"], l["latency_p95_us"], msg)
            self.assertLessEqual(l["latency_p95_us"], l["latency_p99_us"], msg)
            self.assertLessEqual(l["latency_p99_us"], l["latency_max_us"], msg)
            self.assertGreater(l["latency_avg_us"], 0, msg)
            s = l["server"]
            self.assertTrue(s["valid"], msg)
            # Phases end with no request in flight, so the server's counters
            # cover exactly the measured requests.
            self.assertEqual(s["success_count"], l["requests"], msg)
            self.assertEqual(s["inference_count"], l["requests"] * batch, msg)
            self.assertEqual(s["fail_count"], 0, msg)
            self.assertGreaterEqual(s["execution_count"], 1, msg)
            self.assertLessEqual(s["execution_count"], l["requests"], msg)
            self.assertGreater(s["request_us"], 0, msg)
            for key in ("queue_us", "compute_input_us", "compute_infer_us", "compute_output_us"):
                self.assertGreaterEqual(s[key], 0, msg)
            # The server's time per request cannot exceed what the client saw.
            self.assertLessEqual(s["request_us"], l["latency_max_us"], msg)

    def test_identity_http(self):
        self.run_ok("http", "identity_fp32", "--shape", "INPUT0:16")

    def test_identity_grpc(self):
        self.run_ok("grpc", "identity_fp32", "--shape", "INPUT0:16")

    def test_simple_onnx_http_batch(self):
        self.run_ok("http", "simple", "-x", "1", batch=4)

    def test_simple_onnx_grpc(self):
        self.run_ok("grpc", "simple", "--input-data", "zero")

    def test_bytes_inputs(self):
        for protocol in ("http", "grpc"):
            with self.subTest(protocol=protocol):
                self.run_ok(protocol, "identity_bytes", "--shape", "INPUT0:3", batch=2)

    def test_max_requests_bounds_each_phase(self):
        start = time.monotonic()
        code, out, err, levels = perf("-m", "identity_fp32", "-u", http_target(), "--shape",
                                      "INPUT0:4", "-p", "20000", "--warmup-ms", "20000",
                                      "--max-requests", "7", "--concurrency-range", "1:3:2")
        self.assertEqual(code, 0, out + err)
        self.assertLess(time.monotonic() - start, 15)
        self.assertEqual([l["concurrency"] for l in levels], [1, 3])
        self.assertEqual([l["requests"] for l in levels], [7, 7])
        self.assertEqual([l["server"]["success_count"] for l in levels], [7, 7])

    def test_extra_percentile_column(self):
        code, out, err, levels = perf("-m", "identity_fp32", "-u", http_target(), "--shape",
                                      "INPUT0:4", "-p", "100", "--warmup-ms", "0",
                                      "--percentile", "99.9")
        self.assertEqual(code, 0, out + err)
        self.assertIn("p99.9", out)
        self.assertEqual(levels[0]["percentile"], 99.9)
        self.assertGreaterEqual(levels[0]["latency_percentile_us"], levels[0]["latency_p99_us"])


class Errors(unittest.TestCase):
    def assertFails(self, args, *fragments, timeout=CLI_TIMEOUT):
        start = time.monotonic()
        code, out, err = run_cli("perf", *args, timeout=timeout)
        self.assertEqual(code, 1, out + err)
        for f in fragments:
            self.assertIn(f, err)
        self.assertNotIn("Traceback", err)
        self.assertNotIn("terminate called", err)
        return time.monotonic() - start, err

    def test_unknown_model(self):
        self.assertFails(["-m", "nope", "-u", http_target()], "error:", "'nope'")
        self.assertFails(["-m", "nope", "-i", "grpc", "-u", server.grpc_target], "error:", "'nope'")

    def test_closed_port(self):
        port = closed_port()
        elapsed, err = self.assertFails(["-m", "simple", "-u", f"127.0.0.1:{port}"],
                                        f"cannot connect to http://127.0.0.1:{port}:",
                                        "refused")
        self.assertLess(elapsed, 10)
        elapsed, _ = self.assertFails(["-m", "simple", "-i", "grpc", "-u", f"127.0.0.1:{port}"],
                                      f"cannot connect to grpc://127.0.0.1:{port}:")
        self.assertLess(elapsed, 15)

    def test_server_that_never_answers(self):
        # Listens (the kernel completes the handshakes) but never reads or writes.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        port = s.getsockname()[1]
        try:
            for protocol in ("http", "grpc"):
                elapsed, err = self.assertFails(
                    ["-m", "simple", "-i", protocol, "-u", f"127.0.0.1:{port}",
                     "--timeout-ms", "500"], "500 ms")
                self.assertLess(elapsed, 10, err)
        finally:
            s.close()

    def test_requests_that_time_out_are_errors(self):
        cfg = ('backend: "identity"\nmax_batch_size: 4\n'
               'input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
               'output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
               'parameters { key: "execute_delay_ms" value: { string_value: "400" } }\n')
        root = make_repo({"slow/config.pbtxt": cfg, "slow/1": None})
        try:
            with Server(repos=[root]) as slow:
                for protocol, target in (("http", f"127.0.0.1:{slow.port}"),
                                         ("grpc", slow.grpc_target)):
                    with self.subTest(protocol=protocol):
                        start = time.monotonic()
                        code, out, err, levels = perf(
                            "-m", "slow", "-i", protocol, "-u", target, "--shape", "IN:1",
                            "-p", "300", "--warmup-ms", "0", "--timeout-ms", "100")
                        self.assertEqual(code, 1, out + err)
                        self.assertIn("no request succeeded", err)
                        self.assertIn("timed out after 100 ms", err)
                        self.assertLess(time.monotonic() - start, 10)
                        self.assertEqual(levels[0]["requests"], 0)
                        self.assertGreater(levels[0]["errors"], 0)
                    # Let the queued requests drain before the next protocol.
                    time.sleep(2)
        finally:
            shutil.rmtree(root)

    def test_missing_shape_names_the_input(self):
        self.assertFails(["-m", "identity_fp32", "-u", http_target()], "'INPUT0'", "--shape")

    def test_bad_flag_values(self):
        base = ["-m", "simple", "-u", http_target()]
        for extra, fragment in ((["--concurrency-range", "0"], "--concurrency-range"),
                                (["--concurrency-range", "4:1"], "below start"),
                                (["-i", "udp"], "udp"),
                                (["-p", "0"], "measurement-interval"),
                                (["--shape", "INPUT0"], "NAME:D1,D2"),
                                (["--shape", "NOPE:3"], "'NOPE'"),
                                (["-b", "9"], "max_batch_size 8"),
                                (["-u", "host:notaport"], "-u"),
                                (["--bogus"], "--bogus")):
            with self.subTest(extra=extra):
                self.assertFails(base + extra, fragment)
        self.assertFails(["-u", http_target()], "-m")  # -m is required


if __name__ == "__main__":
    unittest.main()
