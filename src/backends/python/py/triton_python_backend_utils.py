# Nereid's implementation of the `triton_python_backend_utils` API that
# Triton Python models import (usually as `pb_utils`). It runs inside the
# model's worker process (nereid_python_worker.py), which sets `_runtime`.
#
# Tensors are numpy arrays. BYTES tensors are numpy object arrays of bytes.
# Input arrays are read-only views of the shared memory the server wrote
# them to; they are valid during the execute() call that received them (copy
# an input to keep it longer).

import json
import struct

import numpy as np

TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1
TRITONSERVER_REQUEST_FLAG_SEQUENCE_START = 1
TRITONSERVER_REQUEST_FLAG_SEQUENCE_END = 2
TRITONSERVER_REQUEST_RELEASE_ALL = 1
TRITONSERVER_REQUEST_RELEASE_RESCHEDULE = 2

# Set by the worker: sends BLS requests and responses to the server.
_runtime = None

_TRITON_TO_NUMPY = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}


def triton_to_numpy_type(data_type):
    """numpy type of a Triton datatype ("FP32" or "TYPE_FP32")."""
    name = data_type[5:] if data_type.startswith("TYPE_") else data_type
    if name == "STRING":
        name = "BYTES"
    if name not in _TRITON_TO_NUMPY:
        raise TritonModelException("data type '%s' has no numpy equivalent" % data_type)
    return _TRITON_TO_NUMPY[name]


def triton_string_to_numpy(triton_type_string):
    return triton_to_numpy_type(triton_type_string)


_NUMPY_TO_TRITON = {np.dtype(t): name for name, t in _TRITON_TO_NUMPY.items() if name != "BYTES"}


def numpy_to_triton_type(data_type):
    """Triton datatype name ("FP32") of a numpy dtype; None when there is none."""
    dt = data_type if isinstance(data_type, np.dtype) else np.dtype(data_type)
    name = _NUMPY_TO_TRITON.get(dt)
    if name is None and dt.kind in ("O", "S", "U"):
        return "BYTES"
    return name


def serialize_byte_tensor(array):
    """Triton's BYTES wire form: each element as a 4-byte little-endian
    length and its bytes, in row-major order."""
    parts = []
    for item in np.asarray(array, dtype=np.object_).reshape(-1):
        if isinstance(item, str):
            item = item.encode("utf-8")
        elif not isinstance(item, (bytes, bytearray)):
            item = str(item).encode("utf-8")
        parts.append(struct.pack("<I", len(item)))
        parts.append(bytes(item))
    return b"".join(parts)


def deserialize_bytes_tensor(buffer, count=None):
    """The inverse of serialize_byte_tensor: a 1-D object array of bytes."""
    view = memoryview(buffer)
    items = []
    offset = 0
    while offset < len(view) and (count is None or len(items) < count):
        if offset + 4 > len(view):
            raise TritonModelException("truncated BYTES tensor")
        (n,) = struct.unpack_from("<I", view, offset)
        offset += 4
        if offset + n > len(view):
            raise TritonModelException("truncated BYTES tensor")
        items.append(bytes(view[offset:offset + n]))
        offset += n
    out = np.empty(len(items), dtype=np.object_)
    out[:] = items
    return out


class TritonError:
    UNKNOWN = 0
    INTERNAL = 1
    NOT_FOUND = 2
    INVALID_ARG = 3
    UNAVAILABLE = 4
    UNSUPPORTED = 5
    ALREADY_EXISTS = 6
    CANCELLED = 7

    def __init__(self, message, code=INTERNAL):
        self._message = str(message)
        self._code = code

    def message(self):
        return self._message

    def code(self):
        return self._code

    def __str__(self):
        return self._message

    def __repr__(self):
        return "TritonError(%r, %r)" % (self._message, self._code)


class TritonModelException(Exception):
    def message(self):
        return str(self)


class Tensor:
    def __init__(self, name, array, dtype=None):
        if not isinstance(name, str):
            raise TritonModelException("Tensor name must be a string")
        if not isinstance(array, np.ndarray):
            array = np.asarray(array)
        if array.dtype.kind in ("S", "U"):
            array = array.astype(np.object_)
        if numpy_to_triton_type(array.dtype) is None:
            raise TritonModelException(
                "tensor '%s': numpy dtype %s has no Triton equivalent" % (name, array.dtype))
        self._name = name
        self._array = array

    def name(self):
        return self._name

    def as_numpy(self):
        return self._array

    def triton_dtype(self):
        return numpy_to_triton_type(self._array.dtype)

    def shape(self):
        return list(self._array.shape)

    def is_cpu(self):
        return True

    def to_dlpack(self):
        return self._array.__dlpack__()

    @staticmethod
    def from_dlpack(name, capsule_or_array):
        return Tensor(name, np.from_dlpack(capsule_or_array))

    def __repr__(self):
        return "Tensor(%r, %s%s)" % (self._name, self.triton_dtype(), list(self._array.shape))


class InferenceResponse:
    def __init__(self, output_tensors=None, error=None, parameters=None):
        self._outputs = list(output_tensors or [])
        for t in self._outputs:
            if not isinstance(t, Tensor):
                raise TritonModelException(
                    "InferenceResponse output_tensors must be pb_utils.Tensor objects, got %s" %
                    type(t).__name__)
        if error is not None and not isinstance(error, TritonError):
            error = TritonError(str(error))
        self._error = error
        self._parameters = parameters if parameters is not None else {}

    def output_tensors(self):
        return self._outputs

    def has_error(self):
        return self._error is not None

    def error(self):
        return self._error

    def parameters(self):
        return json.dumps(self._parameters) if isinstance(self._parameters, dict) \
            else self._parameters


class ResponseSender:
    """Decoupled models answer through this, any number of times, then once
    with TRITONSERVER_RESPONSE_COMPLETE_FINAL."""

    def __init__(self, key):
        self._key = key
        self._closed = False

    def send(self, response=None, flags=0):
        if self._closed:
            raise TritonModelException(
                "this request's response sender already sent the final flag")
        if response is not None and not isinstance(response, InferenceResponse):
            raise TritonModelException("send() takes a pb_utils.InferenceResponse")
        if response is None and not flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL:
            raise TritonModelException("send() needs a response, or the final flag")
        if flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL:
            self._closed = True
        _runtime.send_response(self._key, response, flags)

    def is_cancelled(self):
        return False


class InferenceRequest:
    """A request the model received, or one it builds to call another model
    (BLS: exec() / async_exec())."""

    def __init__(self, model_name=None, inputs=None, requested_output_names=None,
                 model_version=-1, flags=0, correlation_id=0, request_id="", parameters=None,
                 timeout=0, preferred_memory=None, trace=None, **unused):
        self._model_name = model_name
        self._inputs = list(inputs or [])
        self._requested = list(requested_output_names or [])
        self._model_version = model_version
        self._flags = flags
        self._correlation_id = correlation_id
        self._request_id = request_id
        if isinstance(parameters, str):
            parameters = json.loads(parameters) if parameters else {}
        self._parameters = dict(parameters or {})
        self._timeout = timeout
        self._key = None  # set for requests received by execute()

    def inputs(self):
        return self._inputs

    def request_id(self):
        return self._request_id

    def correlation_id(self):
        return self._correlation_id

    def flags(self):
        return self._flags

    def model_name(self):
        return self._model_name

    def model_version(self):
        return self._model_version

    def requested_output_names(self):
        return self._requested

    def parameters(self):
        return json.dumps(self._parameters)

    def timeout(self):
        return self._timeout

    def is_cancelled(self):
        return False

    def get_response_sender(self):
        if self._key is None:
            raise TritonModelException("only requests received by execute() have a sender")
        if self._sender is None:
            self._sender = ResponseSender(self._key)
        return self._sender

    def exec(self, decoupled=False):
        """Runs this request on `model_name` and waits. Returns an
        InferenceResponse (check has_error()), or with decoupled=True an
        iterator over the model's responses."""
        return _runtime.bls(self, decoupled)

    def async_exec(self, decoupled=False):
        """Awaitable form of exec() for `async def execute`."""
        return _runtime.bls_async(self, decoupled)


def get_input_tensor_by_name(inference_request, name):
    for t in inference_request.inputs():
        if t.name() == name:
            return t
    return None


def get_output_tensor_by_name(inference_response, name):
    for t in inference_response.output_tensors():
        if t.name() == name:
            return t
    return None


def _config_entry(model_config, kind, name):
    if isinstance(model_config, str):
        model_config = json.loads(model_config)
    for entry in model_config.get(kind, []):
        if entry.get("name") == name:
            return entry
    return {}


def get_input_config_by_name(model_config, name):
    return _config_entry(model_config, "input", name)


def get_output_config_by_name(model_config, name):
    return _config_entry(model_config, "output", name)


class ModelConfig:
    """The config given to auto_complete_config(); it returns it changed."""

    def __init__(self, config):
        self._config = config

    def as_dict(self):
        return self._config

    def max_batch_size(self):
        return int(self._config.get("max_batch_size", 0))

    def set_max_batch_size(self, max_batch_size):
        self._config["max_batch_size"] = int(max_batch_size)

    def _add(self, kind, entry):
        if not isinstance(entry, dict) or "name" not in entry:
            raise TritonModelException("add_%s needs a dict with a 'name'" % kind)
        entries = self._config.setdefault(kind, [])
        for existing in entries:
            if existing.get("name") == entry["name"]:
                for key in ("data_type", "dims"):
                    if key in entry and key in existing and existing[key] and \
                            existing[key] != entry[key]:
                        raise TritonModelException(
                            "%s '%s': auto_complete_config's %s %r differs from the config's %r" %
                            (kind, entry["name"], key, entry[key], existing[key]))
                    if key in entry and not existing.get(key):
                        existing[key] = entry[key]
                return
        entries.append(dict(entry))

    def add_input(self, input):
        self._add("input", input)

    def add_output(self, output):
        self._add("output", output)

    def set_dynamic_batching(self):
        self._config.setdefault("dynamic_batching", {})

    def set_model_transaction_policy(self, transaction_policy_dict):
        self._config["model_transaction_policy"] = dict(transaction_policy_dict)


class LogLevel:
    INFO = 0
    WARNING = 1
    ERROR = 2
    VERBOSE = 3


class Logger:
    @staticmethod
    def log(message, level=LogLevel.INFO):
        names = {LogLevel.INFO: "INFO", LogLevel.WARNING: "WARNING", LogLevel.ERROR: "ERROR",
                 LogLevel.VERBOSE: "VERBOSE"}
        _runtime.log(names.get(level, "INFO"), str(message))

    @staticmethod
    def log_info(message):
        Logger.log(message, LogLevel.INFO)

    @staticmethod
    def log_warn(message):
        Logger.log(message, LogLevel.WARNING)

    @staticmethod
    def log_error(message):
        Logger.log(message, LogLevel.ERROR)

    @staticmethod
    def log_verbose(message):
        Logger.log(message, LogLevel.VERBOSE)


# Requests built by the worker have a sender slot; user-built ones do not
# need one.
InferenceRequest._sender = None
