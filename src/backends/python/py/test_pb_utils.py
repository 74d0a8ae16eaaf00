"""Unit tests of the Python side of the Python backend (no server):
triton_python_backend_utils and the worker's frame reader and tensor codec.

Run: /usr/bin/python3 -m unittest -v test_pb_utils (from this directory)
"""
import json
import os
import socket
import struct
import threading
import unittest

import numpy as np

import nereid_python_worker as worker
import triton_python_backend_utils as pb_utils


class Utils(unittest.TestCase):
    def test_type_names(self):
        self.assertIs(pb_utils.triton_string_to_numpy("TYPE_FP32"), np.float32)
        self.assertIs(pb_utils.triton_string_to_numpy("TYPE_STRING"), np.object_)
        self.assertEqual(pb_utils.numpy_to_triton_type(np.int64), "INT64")
        self.assertEqual(pb_utils.numpy_to_triton_type(np.dtype("U3")), "BYTES")
        self.assertIsNone(pb_utils.numpy_to_triton_type(np.complex64))
        with self.assertRaises(pb_utils.TritonModelException):
            pb_utils.triton_string_to_numpy("TYPE_BF16")

    def test_bytes_round_trip(self):
        values = np.array([b"a", b"", "wörld", b"\x00\xff"], dtype=np.object_)
        wire = pb_utils.serialize_byte_tensor(values)
        self.assertEqual(wire[:5], struct.pack("<I", 1) + b"a")
        back = pb_utils.deserialize_bytes_tensor(wire)
        self.assertEqual(list(back), [b"a", b"", "wörld".encode(), b"\x00\xff"])
        with self.assertRaises(pb_utils.TritonModelException):
            pb_utils.deserialize_bytes_tensor(wire[:-1])

    def test_tensor_checks(self):
        t = pb_utils.Tensor("x", np.arange(6, dtype=np.int32).reshape(2, 3))
        self.assertEqual((t.name(), t.triton_dtype(), t.shape()), ("x", "INT32", [2, 3]))
        self.assertEqual(pb_utils.Tensor("s", np.array(["a", "b"])).triton_dtype(), "BYTES")
        with self.assertRaises(pb_utils.TritonModelException):
            pb_utils.Tensor("c", np.zeros(2, np.complex64))
        with self.assertRaises(pb_utils.TritonModelException):
            pb_utils.InferenceResponse(output_tensors=[np.zeros(2)])

    def test_config_lookup_and_auto_complete(self):
        config = {"input": [{"name": "A", "data_type": "TYPE_FP32", "dims": [2]}],
                  "output": [{"name": "B", "data_type": "TYPE_INT8", "dims": [1]}]}
        self.assertEqual(pb_utils.get_output_config_by_name(json.dumps(config), "B")["data_type"],
                         "TYPE_INT8")
        self.assertEqual(pb_utils.get_input_config_by_name(config, "nope"), {})
        mc = pb_utils.ModelConfig(config)
        mc.add_input({"name": "A", "data_type": "TYPE_FP32", "dims": [2]})  # same: fine
        with self.assertRaises(pb_utils.TritonModelException):
            mc.add_input({"name": "A", "data_type": "TYPE_INT32"})
        mc.add_output({"name": "C", "data_type": "TYPE_FP32", "dims": [-1]})
        mc.set_max_batch_size(8)
        self.assertEqual(mc.max_batch_size(), 8)
        self.assertEqual([o["name"] for o in mc.as_dict()["output"]], ["B", "C"])

    def test_response_sender_refuses_after_final(self):
        sent = []

        class Runtime:
            def send_response(self, key, response, flags):
                sent.append((key, response, flags))
        pb_utils._runtime = Runtime()
        try:
            request = pb_utils.InferenceRequest()
            request._key = 7
            sender = request.get_response_sender()
            self.assertIs(sender, request.get_response_sender())
            sender.send(pb_utils.InferenceResponse([]))
            with self.assertRaises(pb_utils.TritonModelException):
                sender.send()  # neither a response nor the final flag
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
            with self.assertRaises(pb_utils.TritonModelException):
                sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
            self.assertEqual([(k, f) for k, _, f in sent], [(7, 0), (7, 1)])
        finally:
            pb_utils._runtime = None


class Frames(unittest.TestCase):
    def frame(self, meta, payload=b""):
        body = json.dumps(meta).encode()
        return struct.pack("<IQ", len(body), len(payload)) + body + payload

    def test_reader_handles_split_and_coalesced_frames(self):
        a, b = socket.socketpair()
        channel = worker.Channel(a.detach())
        data = self.frame({"op": "x", "i": 1}, b"abc") + self.frame({"op": "y"}) + \
            self.frame({"op": "z"}, b"\x01" * 100000)

        def writer():
            # In odd pieces, so frames straddle reads.
            for i in range(0, len(data), 7777):
                b.sendall(data[i:i + 7777])
        t = threading.Thread(target=writer)
        t.start()
        meta, payload = channel.recv()
        self.assertEqual((meta, bytes(payload)), ({"op": "x", "i": 1}, b"abc"))
        meta, payload = channel.recv()
        self.assertEqual(meta["op"], "y")
        meta, payload = channel.recv()
        self.assertEqual((meta["op"], len(payload)), ("z", 100000))
        t.join()
        b.close()
        with self.assertRaises(worker.WorkerExit):
            channel.recv()

    def test_decode_tensor_checks_bytes_count(self):
        region = worker.SharedRegion(os.memfd_create("t"))
        os.ftruncate(region.fd, 4096)
        region.ensure(4096)
        wire = pb_utils.serialize_byte_tensor(np.array([b"ab"], dtype=np.object_))
        region.map[0:len(wire)] = wire
        desc = {"name": "s", "datatype": "BYTES", "shape": [2], "loc": "shm", "offset": 0,
                "size": len(wire)}
        with self.assertRaises(pb_utils.TritonModelException):
            worker.decode_tensor(desc, region, b"")
        desc["shape"] = [1]
        self.assertEqual(list(worker.decode_tensor(desc, region, b"").as_numpy()), [b"ab"])
        floats = {"name": "f", "datatype": "FP32", "shape": [2], "loc": "msg", "offset": 0,
                  "size": 8}
        array = worker.decode_tensor(floats, region, np.array([1, 2], np.float32).tobytes())
        self.assertFalse(array.as_numpy().flags.writeable)

    def test_arena_grows_the_region(self):
        region = worker.SharedRegion(os.memfd_create("g"))
        os.ftruncate(region.fd, 128)
        region.ensure(128)
        arena = worker.Arena(region, 100)
        offset, size = arena.put(np.ones(100, np.float32))
        self.assertEqual((offset, size), (128, 400))
        self.assertGreaterEqual(region.size, 528)
        self.assertEqual(os.fstat(region.fd).st_size, region.size)


if __name__ == "__main__":
    unittest.main()
