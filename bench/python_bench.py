"""Python backend cost, three ways (not a timed test):

1. in process: the worker's own Python work for one empty execute (decode
   the request frame, build pb_utils objects, call execute, encode the
   response) timed inside one interpreter: what an embedded interpreter
   would pay at least;
2. build/bench/python_backend_overhead: PythonInstance::Execute of
   tests/models/python/py_empty from C++ (the process round trip included);
3. served: `nereid perf` over gRPC, one client, py_empty against an identity
   model with the same input (16 floats), same server, same run.

Run: /usr/bin/python3 bench/python_bench.py [--seconds S] [--write]
(needs build/nereid and, for 2., -DNEREID_BUILD_BENCH=ON).
"""
import argparse
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)
from perf_runner import run_perf  # noqa: E402
from server_fixture import Server  # noqa: E402
import results_md  # noqa: E402

PY_EMPTY = os.path.join(ROOT, "tests", "models", "python", "py_empty")
IDENTITY16 = ('backend: "identity"\nmax_batch_size: 0\n'
              'input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 16 ] } ]\n'
              'output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 16 ] } ]\n')


def in_process(calls=20000):
    sys.path.insert(0, os.path.join(ROOT, "src", "backends", "python", "py"))
    import nereid_python_worker as worker
    import triton_python_backend_utils as pb_utils
    fd = os.memfd_create("bench")
    os.ftruncate(fd, 1 << 20)
    a, b = socket.socketpair()
    runtime = worker.Runtime(worker.Channel(a.detach()), worker.SharedRegion(fd))
    pb_utils._runtime = runtime
    runtime.model = type("M", (), {"execute": lambda self, requests: [
        pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", r.inputs()[0].as_numpy())])
        for r in requests]})()
    frame = json.dumps({"op": "execute", "shm_size": 1 << 20, "out_base": 64, "requests": [
        {"key": 1, "id": "", "model": "py_empty", "corrid": 0, "flags": 0, "outputs": [],
         "parameters": {}, "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [16],
                                       "loc": "shm", "offset": 0, "size": 64}]}]}).encode()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        reply = runtime.handle_execute(json.loads(frame))
        json.dumps(reply, separators=(",", ":")).encode()
        times.append(time.perf_counter() - t)
    times.sort()
    return {"p50_us": times[len(times) // 2] * 1e6, "p99_us": times[int(len(times) * .99)] * 1e6}


def socket_round_trip(rounds=20000):
    """Two processes bouncing 50 bytes over a Unix socket pair: the floor of
    any design with a process boundary, on this machine at this moment."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        a.close()
        for _ in range(rounds + 1000):
            b.sendall(b.recv(100))
        os._exit(0)
    b.close()
    times = []
    for i in range(rounds + 1000):
        t = time.perf_counter()
        a.sendall(b"x" * 50)
        a.recv(100)
        if i >= 1000:
            times.append(time.perf_counter() - t)
    os.waitpid(pid, 0)
    times.sort()
    return {"p50_us": times[len(times) // 2] * 1e6, "p99_us": times[int(len(times) * .99)] * 1e6}


def instance_overhead():
    exe = os.path.join(ROOT, "build", "bench", "python_backend_overhead")
    if not os.path.exists(exe):
        return None
    out = subprocess.run([exe, PY_EMPTY, "20000"], check=True, capture_output=True, text=True,
                         timeout=600).stdout
    return json.loads(out.strip().splitlines()[-1])


def served(seconds):
    root = tempfile.mkdtemp(prefix="nereid_pybench_")
    try:
        shutil.copytree(PY_EMPTY, os.path.join(root, "py_empty"))
        os.makedirs(os.path.join(root, "identity16", "1"))
        with open(os.path.join(root, "identity16", "config.pbtxt"), "w") as f:
            f.write(IDENTITY16)
        rows = {}
        with Server(repos=[root]) as srv:
            for model in ("identity16", "py_empty"):
                rows[model] = run_perf(model, "grpc", srv.grpc_target, [1], seconds, 2000)[0]
        return rows
    finally:
        shutil.rmtree(root)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    embedded = in_process()
    bounce = socket_round_trip()
    instance = instance_overhead()
    rows = served(args.seconds)
    date = datetime.date.today().isoformat()
    lines = [
        f"Python backend, {date}, this 2-vCPU VM. Model `py_empty` (copies a 16-float input "
        "to its output, batch 1).",
        "",
        f"Command: `/usr/bin/python3 bench/python_bench.py --seconds {args.seconds:g} --write`",
        "",
        "| what | p50 us | p99 us |",
        "|---|---|---|",
        f"| Python work of one execute, in process (the floor of an embedded interpreter) | "
        f"{embedded['p50_us']:.1f} | {embedded['p99_us']:.1f} |",
        f"| Unix socket round trip between two processes, 50 bytes (the floor of any process "
        f"boundary, same run) | {bounce['p50_us']:.1f} | {bounce['p99_us']:.1f} |",
    ]
    if instance:
        lines.append(f"| PythonInstance::Execute from C++, worker process round trip "
                     f"(`build/bench/python_backend_overhead`) | {instance['p50_us']:.1f} | "
                     f"{instance['p99_us']:.1f} |")
    ident, py = rows["identity16"], rows["py_empty"]
    lines += [
        f"| served over gRPC, 1 client (`nereid perf`): identity model, same input | "
        f"{ident['latency_p50_us']:.0f} | {ident['latency_p99_us']:.0f} |",
        f"| served over gRPC, 1 client: `py_empty` | {py['latency_p50_us']:.0f} | "
        f"{py['latency_p99_us']:.0f} |",
        f"| difference (the Python backend's share of a served request) | "
        f"{py['latency_p50_us'] - ident['latency_p50_us']:.0f} | "
        f"{py['latency_p99_us'] - ident['latency_p99_us']:.0f} |",
        "",
        "The served rows share the 2 cores between the client, the server's threads and the "
        "worker process, so every hand-off there waits for a core; the in-process rows do not. "
        "This VM's cross-process wake-up latency drifts by several times over a day (the socket "
        "round trip measured 6.5 us and 45 us on the same evening), so compare rows of one run.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        results_md.write_section("## Python backend: per-request overhead", table)


if __name__ == "__main__":
    main()
