// How config.pbtxt's tensor names bind to a TorchScript module's forward(),
// following the rules of Triton's PyTorch backend. Pure logic (no libtorch),
// so it is unit-tested on its own; torch_backend.cc describes the module's
// schema in these terms.
//
// Inputs (config `input`, then the sequence batcher's control and state
// inputs), one of:
//   - forward(self, inputs: Dict[str, Tensor]): every name is a key of that
//     dictionary;
//   - every name is one of forward()'s argument names: bound by name;
//   - every name follows <name>__<index> (INPUT__0, INPUT__1, ...): bound to
//     the argument at <index>.
// The config must list exactly as many inputs as forward() takes. A name
// that fits neither rule fails the load. (Triton falls back to config order
// with a warning; a silent binding by order is how a model gets the wrong
// tensor, so Nereid refuses and says which names would work.)
//
// Outputs (config `output`, then state outputs) follow <name>__<index>: the
// position in the returned tuple or List[Tensor] (a single Tensor is
// position 0). Triton's TorchScript backend does not map dictionary outputs,
// so forward() returning a Dict fails the load, as it does there.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"

namespace nereid::backends::pytorch {

enum class TorchArgKind {
  kTensor,
  kTensorDict,  // Dict(str, Tensor)
  kOther,
};

struct TorchArg {
  std::string name;
  TorchArgKind kind = TorchArgKind::kOther;
  std::string type;  // as TorchScript prints it, for messages: "int", "Tensor[]"
};

enum class TorchResultKind {
  kTensor,
  kTensorTuple,  // a tuple whose elements are all Tensors
  kTensorList,   // List[Tensor]: its length is known only when it runs
  kDict,
  kOther,  // anything else (a scalar, None, a tuple holding non-tensors)
};

// forward()'s schema without `self`.
struct TorchSignature {
  std::vector<TorchArg> args;
  TorchResultKind result = TorchResultKind::kOther;
  std::string result_type;  // for messages
  size_t tuple_size = 0;    // kTensorTuple only
};

enum class TorchInputBinding {
  kArgumentName,  // config names are forward()'s argument names
  kNamedIndex,    // <name>__<index>
  kDictKey,       // forward() takes one Dict[str, Tensor]: names are its keys
};

struct TorchIoMapping {
  TorchInputBinding binding = TorchInputBinding::kArgumentName;
  // binding == kDictKey: inputs are passed as one dictionary, by name.
  bool dict_input = false;
  // Per input name, in the order given: the forward() argument position
  // (empty with dict_input).
  std::vector<int> input_position;
  // Per output name, in the order given: the position in the result.
  std::vector<int> output_position;
};

// "<anything>__<digits>" -> digits; nullopt otherwise (also on overflow).
std::optional<int> NamedIndex(std::string_view name);

// Binds the names to `signature`, or says precisely why they cannot be.
StatusOr<TorchIoMapping> MapTorchIo(const std::vector<std::string>& input_names,
                                    const std::vector<std::string>& output_names,
                                    const TorchSignature& signature);

// Whether libtorch has a tensor type for `dtype` (it has no unsigned types
// wider than 8 bits, and strings are not tensors).
bool TorchSupportsDataType(DataType dtype);

// "by argument name", "by <name>__<index>", "by dictionary key".
const char* DescribeBinding(TorchInputBinding binding);

// "forward(image, scale)" for messages.
std::string DescribeForward(const TorchSignature& signature);

}  // namespace nereid::backends::pytorch
