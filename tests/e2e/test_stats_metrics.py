"""End-to-end tests of the statistics extension and the Prometheus metrics endpoint."""
import re
import shutil
import socket
import threading
import time
import unittest

import requests

from server_fixture import Server, make_repo, metrics_port, run_cli, served_examples

TIMEOUT = 30



def parse_metrics(text):
    """{(name, frozenset(labels)): value} plus the set of TYPE'd families."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-z_:]+)(?:\{(.*)\})? (\S+)$', line)
        assert m, f"malformed sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, types


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def infer_simple(url, batch=1, dtype="INT32"):
    data = list(range(16 * batch))
    body = {"inputs": [
        {"name": "INPUT0", "shape": [batch, 16], "datatype": dtype, "data": data},
        {"name": "INPUT1", "shape": [batch, 16], "datatype": dtype, "data": data}]}
    return requests.post(f"{url}/v2/models/simple/infer", json=body, timeout=TIMEOUT)


def model_stats(url, path):
    r = requests.get(f"{url}/v2/models{path}/stats", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()["model_stats"]


class Statistics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--metrics-interval-ms", "100")
        cls.url = cls.server.url
        cls.metrics_url = f"http://127.0.0.1:{metrics_port(cls.server)}/metrics"

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def simple_stats(self):
        stats = model_stats(self.url, "/simple/versions/1")
        self.assertEqual(len(stats), 1)
        return stats[0]

    def test_counts_and_durations_after_inferences(self):
        before = self.simple_stats()
        for _ in range(3):
            self.assertEqual(infer_simple(self.url).status_code, 200)
        self.assertEqual(infer_simple(self.url, batch=2).status_code, 200)
        bad = infer_simple(self.url, dtype="FP32")  # reaches the model, fails its validation
        self.assertEqual(bad.status_code, 400, bad.text)
        after = self.simple_stats()
        self.assertEqual(after["name"], "simple")
        self.assertEqual(after["version"], "1")
        delta = lambda k: after[k] - before[k]
        sdelta = lambda k, f: after["inference_stats"][k][f] - before["inference_stats"][k][f]
        self.assertEqual(delta("inference_count"), 5)  # batch items
        self.assertEqual(delta("execution_count"), 4)
        self.assertEqual(sdelta("success", "count"), 4)
        self.assertEqual(sdelta("fail", "count"), 1)
        for k in ("queue", "compute_input", "compute_infer", "compute_output"):
            self.assertEqual(sdelta(k, "count"), 4, k)
        self.assertGreater(sdelta("queue", "ns"), 0)
        self.assertGreater(sdelta("compute_infer", "ns"), 0)
        self.assertGreater(sdelta("success", "ns"), sdelta("compute_infer", "ns"))
        self.assertEqual(after["inference_stats"]["cache_hit"], {"count": 0, "ns": 0})
        self.assertGreater(after["last_inference"], 1.6e12)  # ms since the epoch
        sizes = {b["batch_size"]: b for b in after["batch_stats"]}
        self.assertIn(1, sizes)
        self.assertIn(2, sizes)
        self.assertGreaterEqual(sizes[2]["compute_infer"]["count"], 1)
        self.assertEqual(set(sizes[1]), {"batch_size", "compute_input", "compute_infer",
                                         "compute_output"})

    def test_all_models_and_one_model_forms(self):
        all_stats = model_stats(self.url, "")
        names = [(s["name"], s["version"]) for s in all_stats]
        self.assertEqual(names, sorted(names))
        for name in ("simple", "identity_fp32", "identity_bytes", "digits_mlp"):
            self.assertIn((name, "1"), names)
        one = model_stats(self.url, "/identity_fp32")
        self.assertEqual([(s["name"], s["version"]) for s in one], [("identity_fp32", "1")])
        for key in ("last_inference", "inference_count", "execution_count", "inference_stats",
                    "batch_stats"):
            self.assertIn(key, one[0])

    def test_unknown_model_or_version(self):
        r = requests.get(f"{self.url}/v2/models/nope/stats", timeout=TIMEOUT)
        self.assertEqual(r.status_code, 400)
        self.assertIn("requested model 'nope' is not available", r.json()["error"])
        r = requests.get(f"{self.url}/v2/models/simple/versions/9/stats", timeout=TIMEOUT)
        self.assertEqual(r.status_code, 400)
        self.assertIn("not available", r.json()["error"])
        r = requests.get(f"{self.url}/v2/models/simple/versions/abc/stats", timeout=TIMEOUT)
        self.assertEqual(r.status_code, 400)
        r = requests.post(f"{self.url}/v2/models/stats", timeout=TIMEOUT)
        self.assertEqual(r.status_code, 405)

    def test_statistics_extension_is_listed(self):
        md = requests.get(f"{self.url}/v2", timeout=TIMEOUT).json()
        self.assertIn("statistics", md["extensions"])

    def test_metrics_agree_with_statistics(self):
        self.assertEqual(infer_simple(self.url).status_code, 200)
        self.assertEqual(infer_simple(self.url, dtype="FP32").status_code, 400)
        stats = self.simple_stats()
        r = requests.get(self.metrics_url, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        samples, types = parse_metrics(r.text)
        lbl = frozenset({("model", "simple"), ("version", "1")})
        inf = stats["inference_stats"]
        self.assertEqual(samples[("nv_inference_request_success", lbl)], inf["success"]["count"])
        failures = sum(v for (n, l), v in samples.items()
                       if n == "nv_inference_request_failure" and lbl <= l)
        self.assertEqual(failures, inf["fail"]["count"])
        self.assertGreaterEqual(
            samples[("nv_inference_request_failure", lbl | {("reason", "OTHER")})], 1)
        self.assertEqual(samples[("nv_inference_count", lbl)], stats["inference_count"])
        self.assertEqual(samples[("nv_inference_exec_count", lbl)], stats["execution_count"])
        self.assertEqual(samples[("nv_inference_pending_request_count", lbl)], 0)
        self.assertGreater(samples[("nv_model_load_duration_secs", lbl)], 0)
        self.assertLess(samples[("nv_model_load_duration_secs", lbl)], 60)
        for metric, key in (("request", "success"), ("queue", "queue"),
                            ("compute_input", "compute_input"), ("compute_infer", "compute_infer"),
                            ("compute_output", "compute_output")):
            self.assertEqual(samples[(f"nv_inference_{metric}_duration_us", lbl)],
                             inf[key]["ns"] // 1000, metric)
            self.assertEqual(types[f"nv_inference_{metric}_duration_us"], "counter")
        self.assertEqual(types["nv_inference_pending_request_count"], "gauge")
        util = samples[("nv_cpu_utilization", frozenset())]
        self.assertTrue(0.0 <= util <= 1.0, util)
        total = samples[("nv_cpu_memory_total_bytes", frozenset())]
        used = samples[("nv_cpu_memory_used_bytes", frozenset())]
        self.assertGreater(total, 0)
        self.assertTrue(0 < used <= total)
        self.assertIn("# HELP nv_inference_count ", r.text)

    def test_metrics_counters_are_monotonic(self):
        lbl = frozenset({("model", "identity_fp32"), ("version", "1")})
        first, _ = parse_metrics(requests.get(self.metrics_url, timeout=TIMEOUT).text)
        body = {"inputs": [{"name": "INPUT0", "shape": [1, 2], "datatype": "FP32",
                            "data": [1, 2]}]}
        r = requests.post(f"{self.url}/v2/models/identity_fp32/infer", json=body, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200)
        second, _ = parse_metrics(requests.get(self.metrics_url, timeout=TIMEOUT).text)
        self.assertEqual(second[("nv_inference_request_success", lbl)],
                         first[("nv_inference_request_success", lbl)] + 1)
        for (name, labels), v in first.items():
            if name.endswith("_count") or name.endswith("_us") or "request_" in name:
                if name != "nv_inference_pending_request_count":
                    self.assertGreaterEqual(second[(name, labels)], v, name)

    def test_metrics_other_paths(self):
        base = self.metrics_url.rsplit("/", 1)[0]
        self.assertEqual(requests.get(f"{base}/v2", timeout=TIMEOUT).status_code, 404)
        self.assertEqual(requests.post(self.metrics_url, timeout=TIMEOUT).status_code, 405)


SLOW_IDENTITY = """
backend: "identity"
max_batch_size: 4
input [ { name: "IN" data_type: TYPE_FP32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_FP32 dims: [ -1 ] } ]
parameters { key: "execute_delay_ms" value: { string_value: "400" } }
"""


class SlowModel(unittest.TestCase):
    def test_pending_gauge_and_compute_time(self):
        root = make_repo({"slow/config.pbtxt": SLOW_IDENTITY, "slow/1": None})
        try:
            with Server(repos=[root]) as s:
                url = f"http://127.0.0.1:{metrics_port(s)}/metrics"
                lbl = frozenset({("model", "slow"), ("version", "1")})
                body = {"inputs": [{"name": "IN", "shape": [1, 1], "datatype": "FP32",
                                    "data": [1]}]}
                codes = []

                def send():
                    r = requests.post(f"{s.url}/v2/models/slow/infer", json=body,
                                      timeout=TIMEOUT)
                    codes.append(r.status_code)

                threads = [threading.Thread(target=send) for _ in range(3)]
                for t in threads:
                    t.start()
                # One instance: while the first executes the others wait.
                seen = 0
                deadline = time.time() + 10
                while time.time() < deadline and seen == 0 and len(codes) < 3:
                    samples, _ = parse_metrics(requests.get(url, timeout=TIMEOUT).text)
                    seen = samples[("nv_inference_pending_request_count", lbl)]
                    time.sleep(0.02)
                for t in threads:
                    t.join()
                self.assertEqual(codes, [200, 200, 200])
                self.assertGreaterEqual(seen, 1)
                samples, _ = parse_metrics(requests.get(url, timeout=TIMEOUT).text)
                self.assertEqual(samples[("nv_inference_pending_request_count", lbl)], 0)
                stats = model_stats(s.url, "/slow")[0]["inference_stats"]
                self.assertGreaterEqual(stats["compute_infer"]["ns"], 3 * 400e6)
                self.assertGreaterEqual(stats["queue"]["ns"], 400e6)  # someone waited
        finally:
            shutil.rmtree(root)


class MetricsFlags(unittest.TestCase):
    def test_allow_metrics_false_closes_the_port(self):
        port = free_port()
        with Server("--allow-metrics=false", "--metrics-port", str(port)) as s:
            self.assertEqual(requests.get(f"{s.url}/v2/health/live",
                                          timeout=TIMEOUT).status_code, 200)
            with self.assertRaises(requests.exceptions.ConnectionError):
                requests.get(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT)

    def test_bad_metrics_config_is_a_startup_error(self):
        for setting, message in (
                ("bogus_latencies=true", "unknown --metrics-config setting 'bogus_latencies'"),
                ("summary_latencies=maybe", "must be true or false"),
                ("summary_quantiles=0.5", "summary_quantiles expects")):
            code, _, err = run_cli("serve", "--model-repository", served_examples(), "--http-port", "0",
                                   "--metrics-port", "0", "--metrics-config", setting)
            self.assertEqual(code, 2, err)
            self.assertIn(message, err)

    def test_metrics_port_in_use_is_a_startup_error(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            code, _, err = run_cli("serve", "--model-repository", served_examples(), "--http-address",
                                   "127.0.0.1", "--http-port", "0", "--metrics-port", str(port))
            self.assertEqual(code, 1)
            self.assertIn("metrics service", err)

    def test_summaries(self):
        with Server("--metrics-config", "summary_latencies=true",
                    "--metrics-config", "summary_quantiles=0.5:0.05,0.99:0.001") as s:
            url = f"http://127.0.0.1:{metrics_port(s)}/metrics"
            for _ in range(3):
                self.assertEqual(infer_simple(s.url).status_code, 200)
            samples, types = parse_metrics(requests.get(url, timeout=TIMEOUT).text)
            lbl = frozenset({("model", "simple"), ("version", "1")})
            self.assertEqual(types["nv_inference_request_summary_us"], "summary")
            self.assertEqual(samples[("nv_inference_request_summary_us_count", lbl)], 3)
            self.assertEqual(samples[("nv_inference_queue_summary_us_sum", lbl)],
                             samples[("nv_inference_queue_duration_us", lbl)])
            p50 = samples[("nv_inference_compute_infer_summary_us", lbl | {("quantile", "0.5")})]
            p99 = samples[("nv_inference_compute_infer_summary_us", lbl | {("quantile", "0.99")})]
            self.assertLessEqual(p50, p99)


if __name__ == "__main__":
    unittest.main()
