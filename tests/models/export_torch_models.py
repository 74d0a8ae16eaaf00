#!/usr/bin/python3
"""Writes the TorchScript test models of the pytorch backend as a model
repository (config.pbtxt + 1/model.pt per model).

  /usr/bin/python3 tests/models/export_torch_models.py --out DIR [--only resnet18,raising,...]

Debian python3-torch and python3-torchvision; random weights from fixed seeds
(no downloads). tests/e2e/test_torch.py runs it into a temporary directory;
bench/torch_bench.py uses --only resnet18. Models:
  resnet18          torchvision ResNet-18, traced; INPUT__0 [3,224,224] -> OUTPUT__0 [1000]
  resnet18_batched  the same file with dynamic batching (max_batch_size 4, 1 s queue delay)
  raising           scripted; forward(x) raises ValueError("negative input") when sum(x) < 0
  named_args        forward(image, offset) = image - offset, inputs named after the arguments
  indexed_args      the same file, inputs INPUT__1 (offset) listed before INPUT__0 (image)
  tuple_output      forward(a, b) = (a + b, a - b, a * b); the config asks for OUTPUT__2, OUTPUT__0
  list_output       forward(x) -> List[Tensor] [x + 1, x * 3]
  dict_input        forward(inputs: Dict[str, Tensor]) = 2 * inputs["alpha"] + inputs["beta"]
  dtypes            one input per supported type, each returned changed (see DTypes)
  accumulator       sequence batching: forward(x, start, state) = (sum, sum), the START control
                    and the implicit state bound by argument name, the state output STATE__1
  dict_output       forward(x) -> Dict[str, Tensor]: must fail to load (Triton maps no dict outputs)
"""
import argparse
import os
from typing import Dict, List

import torch
import torchvision


class Raising(torch.nn.Module):
    def forward(self, x):
        if bool(x.sum() < 0):
            raise ValueError("negative input")
        return x * 2


class NamedArgs(torch.nn.Module):
    def forward(self, image, offset):
        return image - offset


class TupleOutput(torch.nn.Module):
    def forward(self, a, b):
        return a + b, a - b, a * b


class ListOutput(torch.nn.Module):
    def forward(self, x) -> List[torch.Tensor]:
        return [x + 1, x * 3]


class DictInput(torch.nn.Module):
    def forward(self, inputs: Dict[str, torch.Tensor]):
        return 2 * inputs["alpha"] + inputs["beta"]


class Accumulator(torch.nn.Module):
    def forward(self, x, start, state):
        total = torch.where(start != 0, torch.zeros_like(state), state) + x
        return total, total


class DictOutput(torch.nn.Module):
    def forward(self, x) -> Dict[str, torch.Tensor]:
        return {"doubled": x * 2}


class DTypes(torch.nn.Module):
    def forward(self, b, u8, i8, i16, i32, i64, f16, f64):
        return (torch.logical_not(b), u8 + 1, i8 - 1, i16 * 2, i32 + 7, i64 * 3, f16 * 2, f64 / 4)


# (config name, TYPE_*, torch dtype) for DTypes, in argument order.
DTYPE_ARGS = [("b", "TYPE_BOOL", torch.bool), ("u8", "TYPE_UINT8", torch.uint8),
              ("i8", "TYPE_INT8", torch.int8), ("i16", "TYPE_INT16", torch.int16),
              ("i32", "TYPE_INT32", torch.int32), ("i64", "TYPE_INT64", torch.int64),
              ("f16", "TYPE_FP16", torch.float16), ("f64", "TYPE_FP64", torch.float64)]


def tensors(kind, items):
    """items: (name, TYPE_*, dims list) -> a config `input`/`output` block."""
    body = ", ".join(f'{{ name: "{n}" data_type: {t} dims: [ {", ".join(map(str, d))} ] }}'
                     for n, t, d in items)
    return f"{kind} [ {body} ]\n"


def config(inputs, outputs, max_batch, extra=""):
    return ('platform: "pytorch_libtorch"\n'
            f"max_batch_size: {max_batch}\n" + tensors("input", inputs) +
            tensors("output", outputs) +
            'instance_group [ { count: 1 kind: KIND_CPU } ]\n' + extra)


def resnet18():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        return torch.jit.trace(model, torch.rand(1, 3, 224, 224))


SEQUENCE = """sequence_batching {
  control_input [ { name: "start"
                    control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] } ]
  state [ { input_name: "state" output_name: "STATE__1" data_type: TYPE_FP32 dims: [ 1 ]
            initial_state { data_type: TYPE_FP32 dims: [ 1 ] zero_data: true name: "zero" } } ]
}
"""
RESNET_IO = ([("INPUT__0", "TYPE_FP32", [3, 224, 224])], [("OUTPUT__0", "TYPE_FP32", [1000])])
VEC = [-1]


def models():
    """name -> (module factory, config text); None for a model sharing a file."""
    dtype_outputs = [(f"OUTPUT__{i}", t, [3]) for i, (_, t, _) in enumerate(DTYPE_ARGS)]
    return {
        "resnet18": (resnet18, config(*RESNET_IO, 8)),
        "resnet18_batched": ("resnet18", config(
            *RESNET_IO, 4,
            "dynamic_batching { max_queue_delay_microseconds: 1000000 }\n")),
        "raising": (lambda: torch.jit.script(Raising()),
                    config([("INPUT__0", "TYPE_FP32", VEC)], [("OUTPUT__0", "TYPE_FP32", VEC)], 4)),
        "named_args": (lambda: torch.jit.script(NamedArgs()),
                       config([("image", "TYPE_FP32", VEC), ("offset", "TYPE_FP32", VEC)],
                              [("OUTPUT__0", "TYPE_FP32", VEC)], 4)),
        "indexed_args": ("named_args", config(
            [("INPUT__1", "TYPE_FP32", VEC), ("INPUT__0", "TYPE_FP32", VEC)],
            [("OUTPUT__0", "TYPE_FP32", VEC)], 4)),
        "tuple_output": (lambda: torch.jit.script(TupleOutput()),
                         config([("INPUT__0", "TYPE_INT64", VEC), ("INPUT__1", "TYPE_INT64", VEC)],
                                [("OUTPUT__2", "TYPE_INT64", VEC),
                                 ("OUTPUT__0", "TYPE_INT64", VEC)], 4)),
        "list_output": (lambda: torch.jit.script(ListOutput()),
                        config([("INPUT__0", "TYPE_FP32", VEC)],
                               [("OUTPUT__0", "TYPE_FP32", VEC), ("OUTPUT__1", "TYPE_FP32", VEC)],
                               4)),
        "dict_input": (lambda: torch.jit.script(DictInput()),
                       config([("alpha", "TYPE_FP32", VEC), ("beta", "TYPE_FP32", VEC)],
                              [("OUTPUT__0", "TYPE_FP32", VEC)], 4)),
        "dtypes": (lambda: torch.jit.script(DTypes()),
                   config([(n, t, [3]) for n, t, _ in DTYPE_ARGS], dtype_outputs, 0)),
        "accumulator": (lambda: torch.jit.script(Accumulator()), config(
            [("x", "TYPE_FP32", [1])], [("OUTPUT__0", "TYPE_FP32", [1])], 4, SEQUENCE)),
        "dict_output": (lambda: torch.jit.script(DictOutput()),
                        config([("INPUT__0", "TYPE_FP32", VEC)], [("OUTPUT__0", "TYPE_FP32", VEC)],
                               4)),
    }


def export(out, only=None):
    """Writes the models (all, or the names in `only`) under `out`."""
    table = models()
    names = only or list(table)
    for name in names:
        factory, text = table[name]
        version = os.path.join(out, name, "1")
        os.makedirs(version, exist_ok=True)
        with open(os.path.join(out, name, "config.pbtxt"), "w") as f:
            f.write(text)
        path = os.path.join(version, "model.pt")
        if isinstance(factory, str):  # shares another model's file
            source = os.path.join(out, factory, "1", "model.pt")
            if not os.path.exists(source):
                export(out, [factory])
            os.symlink(os.path.abspath(source), path)
        else:
            factory().save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", default="", help="comma-separated model names")
    args = parser.parse_args()
    only = [n for n in args.only.split(",") if n]
    unknown = set(only) - set(models())
    if unknown:
        parser.error(f"unknown model(s): {', '.join(sorted(unknown))}")
    export(args.out, only or None)
    print(f"wrote {', '.join(only or models())} to {args.out}")


if __name__ == "__main__":
    main()
