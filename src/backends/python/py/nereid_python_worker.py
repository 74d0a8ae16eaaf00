# The process that runs one instance of a Python model (model.py with class
# TritonPythonModel) for the Nereid server.
#
# The server starts it with a connected Unix stream socket on --socket-fd
# and a shared memory file (memfd) on --shm-fd. Every message is a frame:
#   uint32 json_length, uint64 payload_length (little endian), the JSON
#   header, then the payload bytes.
# Tensors are described in the JSON header as {name, datatype, shape, loc,
# offset, size}: loc "shm" points into the shared memory file, loc "msg"
# into the frame's payload. Execute inputs and outputs go through shared
# memory; BLS calls and decoupled responses, which may happen while another
# execute() is using the region, travel in the payload.
#
# The main thread is the only reader of the socket. Any thread may write
# (frames are written whole under a lock).

import argparse
import asyncio
import importlib.util
import inspect
import json
import mmap
import os
import signal
import socket
import struct
import sys
import threading
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import triton_python_backend_utils as pb_utils  # noqa: E402

HEADER = struct.Struct("<IQ")
ALIGN = 64


class WorkerExit(Exception):
    pass


class Channel:
    READ_CHUNK = 1 << 16

    def __init__(self, fd):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=fd)
        self.write_lock = threading.Lock()
        # Bytes received but not yet consumed: one recv usually brings a
        # whole frame (header, JSON and payload).
        self.rbuf = bytearray()
        self.rpos = 0

    def send(self, meta, payload=()):
        body = json.dumps(meta, separators=(",", ":")).encode()
        size = sum(memoryview(p).nbytes for p in payload)
        with self.write_lock:
            if size < 4096:
                self.sock.sendall(b"".join([HEADER.pack(len(body), size), body] +
                                           [bytes(memoryview(p).cast("B")) for p in payload]))
            else:
                self.sock.sendall(HEADER.pack(len(body), size) + body)
                for p in payload:
                    self.sock.sendall(memoryview(p).cast("B"))

    def buffered_frame(self):
        """True when a whole frame is already received (no recv needed)."""
        have = len(self.rbuf) - self.rpos
        if have < HEADER.size:
            return False
        json_len, payload_len = HEADER.unpack_from(self.rbuf, self.rpos)
        return have >= HEADER.size + json_len + payload_len

    def _exact(self, n):
        have = len(self.rbuf) - self.rpos
        if have >= n:
            out = self.rbuf[self.rpos:self.rpos + n]
            self.rpos += n
            if self.rpos == len(self.rbuf):
                self.rbuf = bytearray()
                self.rpos = 0
            return out
        buf = bytearray(n)
        view = memoryview(buf)
        view[:have] = self.rbuf[self.rpos:]
        self.rbuf = bytearray()
        self.rpos = 0
        got = have
        while got < n:
            if n - got >= self.READ_CHUNK:
                k = self.sock.recv_into(view[got:])
            else:
                chunk = self.sock.recv(self.READ_CHUNK)
                k = len(chunk)
                take = min(k, n - got)
                view[got:got + take] = chunk[:take]
                if k > take:
                    self.rbuf = bytearray(chunk[take:])
                k = take
            if k == 0:
                raise WorkerExit("the server closed the connection")
            got += k
        return buf

    def recv(self):
        json_len, payload_len = HEADER.unpack(self._exact(HEADER.size))
        meta = json.loads(self._exact(json_len))
        payload = self._exact(payload_len) if payload_len else b""
        return meta, payload


class SharedRegion:
    def __init__(self, fd):
        self.fd = fd
        self.size = 0
        self.map = None

    def ensure(self, size):
        # Arrays may still view the old mapping; dropping our reference
        # (instead of close()) lets it go when they do.
        if size != self.size:
            self.map = mmap.mmap(self.fd, size)
            self.size = size

    def grow(self, needed):
        new_size = max(needed, self.size * 2)
        os.ftruncate(self.fd, new_size)
        self.ensure(new_size)


class Arena:
    """Bump allocation of output tensors in the shared region, from `base`."""

    def __init__(self, region, base):
        self.region = region
        self.offset = base

    def put(self, data):
        n = memoryview(data).nbytes
        start = (self.offset + ALIGN - 1) // ALIGN * ALIGN
        if start + n > self.region.size:
            self.region.grow(start + n)
        self.region.map[start:start + n] = memoryview(data).cast("B")
        self.offset = start + n
        return start, n


def element_count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def decode_tensor(desc, region, payload):
    buf = region.map if desc.get("loc") == "shm" else payload
    dtype, shape = desc["datatype"], desc["shape"]
    offset, size = desc["offset"], desc["size"]
    count = element_count(shape)
    if dtype == "BYTES":
        array = pb_utils.deserialize_bytes_tensor(memoryview(buf)[offset:offset + size], count)
        if len(array) != count:
            raise pb_utils.TritonModelException(
                "BYTES tensor '%s' holds %d elements, shape needs %d" %
                (desc["name"], len(array), count))
        array = array.reshape(shape)
    else:
        np_type = pb_utils.triton_to_numpy_type(dtype)
        if count == 0:
            array = np.empty(shape, dtype=np_type)
        else:
            array = np.frombuffer(buf, dtype=np_type, count=count, offset=offset).reshape(shape)
        array.flags.writeable = False
    return pb_utils.Tensor(desc["name"], array)


def tensor_bytes(tensor):
    array = tensor.as_numpy()
    dtype = pb_utils.numpy_to_triton_type(array.dtype)
    if dtype == "BYTES":
        return dtype, pb_utils.serialize_byte_tensor(array)
    return dtype, np.ascontiguousarray(array)


def error_json(error):
    return {"message": error.message(), "code": error.code()}


def encode_response(response, put):
    """JSON of an InferenceResponse; `put(data)` stores tensor bytes and
    returns (loc, offset, size)."""
    if response.has_error():
        return {"error": error_json(response.error())}
    outputs = []
    for t in response.output_tensors():
        dtype, data = tensor_bytes(t)
        loc, offset, size = put(data)
        outputs.append({"name": t.name(), "datatype": dtype, "shape": list(t.as_numpy().shape),
                        "loc": loc, "offset": offset, "size": size})
    params = response._parameters if isinstance(response._parameters, dict) else \
        json.loads(response._parameters or "{}")
    return {"outputs": outputs, "parameters": params}


class PayloadBuilder:
    def __init__(self):
        self.parts = []
        self.size = 0

    def put(self, data):
        start = (self.size + ALIGN - 1) // ALIGN * ALIGN
        if start > self.size:
            self.parts.append(bytes(start - self.size))
        n = memoryview(data).nbytes
        self.parts.append(data)
        self.size = start + n
        return "msg", start, n


def describe_exception(where):
    kind, value, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    place = ""
    for f in reversed(frames):
        if os.path.basename(f.filename) not in ("nereid_python_worker.py",
                                                 "triton_python_backend_utils.py"):
            place = " (%s, line %d)" % (os.path.basename(f.filename), f.lineno)
            break
    traceback.print_exc(file=sys.stderr)
    sys.stderr.flush()
    return "%s raised %s: %s%s" % (where, kind.__name__, value, place)


class Waiter:
    """The responses of one BLS call, filled by the socket reader."""

    def __init__(self, future=None):
        self.responses = []
        self.final = False
        self.future = future
        self.cond = threading.Condition()

    def deliver(self, response, final):
        with self.cond:
            self.responses.append(response)
            self.final = self.final or final
            self.cond.notify_all()
        if final:
            self.finish()

    def finish(self):
        with self.cond:
            self.final = True
            self.cond.notify_all()
        if self.future is not None and not self.future.done():
            self.future.set_result(self.responses)


class Runtime:
    def __init__(self, channel, region):
        self.channel = channel
        self.region = region
        self.model = None
        self.decoupled = False
        self.waiters = {}
        self.next_bls = 1
        self.lock = threading.Lock()
        self.main_thread = threading.get_ident()
        self.backlog = []
        self.is_async = False

    # ---- called by triton_python_backend_utils ----

    def log(self, level, message):
        self.channel.send({"op": "log", "level": level, "message": message})

    def send_response(self, key, response, flags):
        payload = PayloadBuilder()
        meta = {"op": "response", "key": key, "flags": int(flags),
                "response": None if response is None else encode_response(response, payload.put)}
        self.channel.send(meta, payload.parts)

    def _start_bls(self, request, decoupled, future=None):
        if not request.model_name():
            raise pb_utils.TritonModelException("a BLS request needs a model_name")
        payload = PayloadBuilder()
        inputs = []
        for t in request.inputs():
            dtype, data = tensor_bytes(t)
            loc, offset, size = payload.put(data)
            inputs.append({"name": t.name(), "datatype": dtype, "shape": list(t.as_numpy().shape),
                           "loc": loc, "offset": offset, "size": size})
        with self.lock:
            bls_id = self.next_bls
            self.next_bls += 1
            waiter = Waiter(future)
            self.waiters[bls_id] = waiter
        corr = request.correlation_id()
        meta = {"op": "bls", "id": bls_id, "model": request.model_name(),
                "version": int(request.model_version()), "request_id": request.request_id(),
                "corrid": corr if isinstance(corr, (int, str)) else int(corr),
                "flags": int(request.flags()), "timeout": int(request.timeout()),
                "parameters": request._parameters, "inputs": inputs,
                "outputs": list(request.requested_output_names()), "decoupled": bool(decoupled)}
        self.channel.send(meta, payload.parts)
        return waiter

    def _wait(self, waiter, count_needed):
        if threading.get_ident() == self.main_thread:
            while not waiter.final and len(waiter.responses) < count_needed:
                self.pump_one()
        else:
            with waiter.cond:
                while not waiter.final and len(waiter.responses) < count_needed:
                    waiter.cond.wait()

    def bls(self, request, decoupled):
        waiter = self._start_bls(request, decoupled)
        if not decoupled:
            self._wait(waiter, 1)
            return waiter.responses[0]

        def responses():
            index = 0
            while True:
                self._wait(waiter, index + 1)
                if index < len(waiter.responses):
                    yield waiter.responses[index]
                    index += 1
                elif waiter.final:
                    return
        return responses()

    async def bls_async(self, request, decoupled):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._start_bls(request, decoupled, future)
        responses = await future
        return iter(responses) if decoupled else responses[0]

    # ---- the socket ----

    def pump_one(self):
        meta, payload = self.channel.recv()
        if meta["op"] == "bls_response":
            self.deliver_bls(meta, payload)
        else:
            self.backlog.append((meta, payload))

    def pump_ready(self):
        # The event loop only sees the socket become readable; frames that
        # arrived together with the first are already in our buffer.
        self.pump_one()
        while self.channel.buffered_frame():
            self.pump_one()

    def deliver_bls(self, meta, payload):
        with self.lock:
            waiter = self.waiters.get(meta["id"])
            if meta["final"]:
                self.waiters.pop(meta["id"], None)
        if waiter is None:
            return
        r = meta.get("response")
        if r is None:  # a decoupled model's flags-only final
            waiter.finish()
            return
        if r.get("error"):
            response = pb_utils.InferenceResponse(
                error=pb_utils.TritonError(r["error"]["message"], r["error"].get("code", 1)))
        else:
            outputs = [decode_tensor(o, self.region, payload) for o in r.get("outputs", [])]
            for o in outputs:
                o.as_numpy().flags.writeable = False
            response = pb_utils.InferenceResponse(outputs, parameters=r.get("parameters", {}))
        waiter.deliver(response, meta["final"])

    # ---- model lifecycle ----

    def load_module(self, path):
        directory = os.path.dirname(path)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        spec = importlib.util.spec_from_file_location("model", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["model"] = module
        spec.loader.exec_module(module)
        cls = getattr(module, "TritonPythonModel", None)
        if cls is None or not inspect.isclass(cls):
            raise WorkerExit("%s defines no class TritonPythonModel" % os.path.basename(path))
        return cls

    def load_class(self, meta):
        """(TritonPythonModel, None), or (None, the error reply)."""
        try:
            return self.load_module(meta["model_file"]), None
        except WorkerExit as e:
            return None, {"op": "error", "message": str(e)}
        except BaseException:
            return None, {"op": "error", "message": describe_exception("loading model.py")}

    def handle_init(self, meta):
        cls, error = self.load_class(meta)
        if error:
            return error
        self.decoupled = bool(meta.get("decoupled"))
        try:
            self.model = cls()
            if hasattr(self.model, "initialize"):
                self.model.initialize(meta["args"])
        except BaseException:
            return {"op": "error", "message": describe_exception("initialize()")}
        if not callable(getattr(self.model, "execute", None)):
            return {"op": "error", "message": "class TritonPythonModel has no execute() method"}
        self.is_async = inspect.iscoroutinefunction(self.model.execute)
        return {"op": "ready"}

    def handle_auto_complete(self, meta):
        cls, error = self.load_class(meta)
        if error:
            return error
        config = pb_utils.ModelConfig(meta["config"])
        if hasattr(cls, "auto_complete_config"):
            try:
                result = cls.auto_complete_config(config)
            except BaseException:
                return {"op": "error", "message": describe_exception("auto_complete_config()")}
            if not isinstance(result, pb_utils.ModelConfig):
                return {"op": "error",
                        "message": "auto_complete_config() must return the ModelConfig it got"}
            config = result
        return {"op": "config", "config": config.as_dict()}

    def run_execute(self, requests):
        execute = self.model.execute
        if self.is_async:
            loop = asyncio.new_event_loop()
            try:
                loop.add_reader(self.channel.sock.fileno(), self.pump_ready)
                return loop.run_until_complete(execute(requests))
            finally:
                loop.remove_reader(self.channel.sock.fileno())
                loop.close()
        return execute(requests)

    def handle_execute(self, meta):
        self.region.ensure(meta["shm_size"])
        requests = []
        try:
            for r in meta["requests"]:
                req = pb_utils.InferenceRequest(
                    model_name=r.get("model", ""), inputs=[decode_tensor(t, self.region, b"")
                                                           for t in r["inputs"]],
                    requested_output_names=r["outputs"], flags=r["flags"],
                    correlation_id=r["corrid"], request_id=r["id"], parameters=r["parameters"])
                req._key = r["key"]
                requests.append(req)
        except Exception:
            return {"op": "done", "error": describe_exception("reading the requests")}
        try:
            result = self.run_execute(requests)
        except BaseException as e:
            if isinstance(e, (WorkerExit, KeyboardInterrupt, SystemExit)):
                raise
            return {"op": "done", "error": describe_exception("execute()")}
        if self.decoupled:
            if result is not None:
                return {"op": "done",
                        "error": "execute() of a decoupled model must return None and send its "
                                 "responses with request.get_response_sender(); it returned %s" %
                                 type(result).__name__}
            return {"op": "done"}
        if result is None:
            # Responses may have gone through the senders.
            return {"op": "done", "responses": None}
        if not isinstance(result, (list, tuple)):
            return {"op": "done", "error": "execute() must return a list of "
                                           "pb_utils.InferenceResponse, got %s" %
                                           type(result).__name__}
        if len(result) != len(requests):
            return {"op": "done", "error": "execute() returned %d responses for %d requests" %
                                           (len(result), len(requests))}
        arena = Arena(self.region, meta["out_base"])

        def put(data):
            offset, size = arena.put(data)
            return "shm", offset, size
        responses = []
        try:
            for resp in result:
                if not isinstance(resp, pb_utils.InferenceResponse):
                    return {"op": "done", "error": "execute() returned a %s where a "
                                                   "pb_utils.InferenceResponse belongs" %
                                                   type(resp).__name__}
                responses.append(encode_response(resp, put))
        except Exception:
            return {"op": "done", "error": describe_exception("writing the responses")}
        return {"op": "done", "shm_size": self.region.size, "responses": responses}

    def serve(self):
        while True:
            if self.backlog:
                meta, payload = self.backlog.pop(0)
            else:
                meta, payload = self.channel.recv()
            op = meta["op"]
            if op == "execute":
                self.channel.send(self.handle_execute(meta))
            elif op == "bls_response":
                self.deliver_bls(meta, payload)
            elif op == "init":
                self.region.ensure(meta["shm_size"])
                reply = self.handle_init(meta)
                self.channel.send(reply)
                if reply["op"] == "error":
                    return 1
            elif op == "auto_complete":
                self.channel.send(self.handle_auto_complete(meta))
                return 0
            elif op == "finalize":
                if self.model is not None and hasattr(self.model, "finalize"):
                    try:
                        self.model.finalize()
                    except BaseException:
                        describe_exception("finalize()")
                self.channel.send({"op": "finalized"})
                return 0
            else:
                print("nereid python worker: unknown message %r" % op, file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket-fd", type=int, required=True)
    parser.add_argument("--shm-fd", type=int, required=True)
    args = parser.parse_args()
    # Ctrl-C in a terminal reaches the whole process group; the server decides
    # when this process ends (finalize, or closing the socket).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = Channel(args.socket_fd)
    runtime = Runtime(channel, SharedRegion(args.shm_fd))
    pb_utils._runtime = runtime
    try:
        return runtime.serve()
    except (WorkerExit, ConnectionError, BrokenPipeError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
