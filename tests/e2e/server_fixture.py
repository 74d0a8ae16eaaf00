"""Starts the real `nereid` binary on a free loopback port for end-to-end tests."""
import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(REPO_ROOT, "examples", "model_repository")
_served_examples = None


def served_examples():
    """The example repository as test servers serve it by default: every
    model but the TorchScript ones, which load libtorch (0.6 s, 240 MB per
    server; absent from sanitizer builds). test_torch serves those itself.
    A copy made once per test process."""
    global _served_examples
    if _served_examples is None:
        root = tempfile.mkdtemp(prefix="nereid_examples_")
        for name in sorted(os.listdir(EXAMPLES)):
            src = os.path.join(EXAMPLES, name)
            with open(os.path.join(src, "config.pbtxt")) as f:
                config = f.read()
            if "pytorch" in config:
                continue
            shutil.copytree(src, os.path.join(root, name))
        atexit.register(shutil.rmtree, root, True)
        _served_examples = root
    return _served_examples


def nereid_binary():
    path = os.environ.get("NEREID_BIN")
    if not path:
        path = os.path.join(REPO_ROOT, "build", "nereid")
    if not os.path.exists(path):
        raise RuntimeError(f"nereid binary not found at {path}; set NEREID_BIN")
    return path


class Server:
    """A nereid process. Use as a context manager; `url` is http://127.0.0.1:PORT,
    `grpc_target` is 127.0.0.1:GRPC_PORT (both ports picked free by the server)."""

    def __init__(self, *args, repos=None, startup_timeout=60):
        repos = repos if repos is not None else [served_examples()]
        cmd = [nereid_binary(), "serve", "--http-address", "127.0.0.1", "--http-port", "0",
               "--grpc-address", "127.0.0.1", "--grpc-port", "0"]
        for r in repos:
            cmd += ["--model-repository", r]
        cmd += list(args)
        # Never the fixed default 8002: tests run in parallel.
        if not any(a.startswith("--metrics-port") for a in args):
            cmd += ["--metrics-port", "0"]
        self.cmd = cmd
        self.log = tempfile.NamedTemporaryFile(prefix="nereid_e2e_", suffix=".log", delete=False)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.port = None
        deadline = time.time() + startup_timeout
        self.grpc_port = None
        lines = []

        def read_lines():
            # gRPC announces itself first (when enabled), HTTP last.
            for line in self.proc.stdout:
                lines.append(line)
                if "serving HTTP on" in line:
                    return

        t = threading.Thread(target=read_lines, daemon=True)
        t.start()
        t.join(max(0.0, deadline - time.time()))
        http = [l for l in lines if "serving HTTP on" in l]
        if not http:
            self.stop()
            raise RuntimeError(f"nereid did not start: {lines!r}\n{self.stderr()}")
        self.port = int(http[0].strip().rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"
        for l in lines:
            if "serving gRPC on" in l:
                self.grpc_port = int(l.strip().rsplit(":", 1)[1])
                self.grpc_target = f"127.0.0.1:{self.grpc_port}"

    def stderr(self):
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        if self.proc.stdout:
            self.proc.stdout.close()
        if os.path.exists(self.log.name):
            os.unlink(self.log.name)


def run_cli(*args, timeout=30):
    """Runs nereid with `args`; returns (returncode, stdout, stderr)."""
    p = subprocess.run([nereid_binary()] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def make_repo(models):
    """Creates a temporary repository. `models` maps a path relative to the
    repository root to file content (str or bytes) or None for a directory."""
    root = tempfile.mkdtemp(prefix="nereid_repo_")
    for rel, content in models.items():
        path = os.path.join(root, rel)
        if content is None:
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(path, mode) as f:
            f.write(content)
    return root


def copy_example(root, name):
    shutil.copytree(os.path.join(EXAMPLES, name), os.path.join(root, name))


def generate_pb(out_dir, health=False):
    """Generates the Python message classes of our proto/ files into
    `out_dir` (protoc at test time) and returns the grpc_service_pb2 module,
    or (grpc_service_pb2, health_pb2) with health=True."""
    proto = os.path.join(REPO_ROOT, "proto")
    names = ["model_config.proto", "grpc_service.proto"] + (["health.proto"] if health else [])
    subprocess.run(["protoc", f"--python_out={out_dir}", f"-I{proto}"] +
                   [os.path.join(proto, n) for n in names], check=True)
    sys.path.insert(0, out_dir)
    try:
        import grpc_service_pb2
        if not health:
            return grpc_service_pb2
        import health_pb2
        return grpc_service_pb2, health_pb2
    finally:
        sys.path.remove(out_dir)


def metrics_port(server):
    """The metrics port of `server` (started with --metrics-port 0): the
    fixture read the HTTP line; the metrics line follows it."""
    line = server.proc.stdout.readline()
    m = re.match(r"nereid: serving metrics on .*:(\d+)$", line.strip())
    if not m:
        raise AssertionError(f"no metrics line: {line!r}\n{server.stderr()}")
    return int(m.group(1))
