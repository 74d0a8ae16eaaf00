#include "backends/torch/torch_io_mapping.h"

#include <algorithm>
#include <charconv>
#include <map>

namespace nereid::backends::pytorch {
namespace {

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

bool IsArgName(const TorchSignature& sig, const std::string& name) {
  return std::any_of(sig.args.begin(), sig.args.end(),
                     [&](const TorchArg& a) { return a.name == name; });
}

// Positions for names that all follow <name>__<index>, each below `limit`
// (-1: no limit) and used once. `kind` is "input" or "output".
StatusOr<std::vector<int>> IndexPositions(const std::vector<std::string>& names, int limit,
                                          const char* kind, const std::string& what_limits) {
  std::vector<int> positions;
  std::map<int, std::string> seen;
  for (const auto& name : names) {
    std::optional<int> index = NamedIndex(name);
    if (!index) return Internal("not an indexed name: " + name);  // callers check first
    if (limit >= 0 && *index >= limit) {
      return InvalidArgument(std::string(kind) + " " + Quoted(name) + " names position " +
                             std::to_string(*index) + " but " + what_limits);
    }
    auto [it, inserted] = seen.emplace(*index, name);
    if (!inserted) {
      return InvalidArgument(std::string(kind) + "s " + Quoted(it->second) + " and " +
                             Quoted(name) + " both name position " + std::to_string(*index));
    }
    positions.push_back(*index);
  }
  return positions;
}

StatusOr<std::vector<int>> MapInputs(const std::vector<std::string>& names,
                                     const TorchSignature& sig, TorchInputBinding* binding) {
  const std::string forward = DescribeForward(sig);
  for (const auto& a : sig.args) {
    if (a.kind == TorchArgKind::kTensorDict) {
      return InvalidArgument(forward +
                             " takes a Dict[str, Tensor] among other arguments; only a "
                             "single Dict[str, Tensor] argument or Tensor arguments are supported");
    }
    if (a.kind != TorchArgKind::kTensor) {
      return InvalidArgument(forward + ": argument " + Quoted(a.name) + " has type " + a.type +
                             "; only Tensor arguments (or a single Dict[str, Tensor]) are "
                             "supported");
    }
  }
  if (names.size() != sig.args.size()) {
    return InvalidArgument("the config lists " + std::to_string(names.size()) + " input(s) but " +
                           forward + " takes " + std::to_string(sig.args.size()));
  }
  const bool all_args = std::all_of(names.begin(), names.end(),
                                    [&](const std::string& n) { return IsArgName(sig, n); });
  if (all_args) {
    *binding = TorchInputBinding::kArgumentName;
    std::vector<int> positions;
    for (const auto& n : names) {
      auto it = std::find_if(sig.args.begin(), sig.args.end(),
                             [&](const TorchArg& a) { return a.name == n; });
      positions.push_back(static_cast<int>(it - sig.args.begin()));
    }
    return positions;
  }
  const std::string rule = "input names must all be " + forward +
                           "'s argument names or all follow <name>__<index> (INPUT__0, "
                           "INPUT__1, ...)";
  std::string arg_named, indexed;
  for (const auto& n : names) {
    const bool arg = IsArgName(sig, n), index = NamedIndex(n).has_value();
    if (!arg && !index) return InvalidArgument(rule + ": input " + Quoted(n) + " is neither");
    if (arg && !index && arg_named.empty()) arg_named = n;
    if (index && !arg && indexed.empty()) indexed = n;
  }
  if (!arg_named.empty()) {
    return InvalidArgument(rule + ", not a mix: " + Quoted(arg_named) + " is an argument name, " +
                           Quoted(indexed) + " an index");
  }
  *binding = TorchInputBinding::kNamedIndex;
  return IndexPositions(names, static_cast<int>(sig.args.size()), "input",
                        forward + " takes " + std::to_string(sig.args.size()) + " argument(s)");
}

StatusOr<std::vector<int>> MapOutputs(const std::vector<std::string>& names,
                                      const TorchSignature& sig) {
  const std::string returns = "forward() returns " + sig.result_type;
  int limit = -1;
  switch (sig.result) {
    case TorchResultKind::kTensor:
      limit = 1;
      break;
    case TorchResultKind::kTensorTuple:
      limit = static_cast<int>(sig.tuple_size);
      break;
    case TorchResultKind::kTensorList:
      break;
    case TorchResultKind::kDict:
      return InvalidArgument(returns +
                             ": outputs are bound by position (<name>__<index>), as in "
                             "Triton's TorchScript backend, which does not map dictionary "
                             "outputs; return a tuple of tensors instead");
    case TorchResultKind::kOther:
      return InvalidArgument(returns +
                             ": only a Tensor, a tuple of Tensors or a List[Tensor] "
                             "can be served");
  }
  for (const auto& n : names) {
    if (!NamedIndex(n)) {
      return InvalidArgument("output " + Quoted(n) +
                             " does not follow <name>__<index> (OUTPUT__0, OUTPUT__1, ...), "
                             "which binds an output to its position in what forward() returns");
    }
  }
  return IndexPositions(names, limit, "output",
                        returns + " (" + std::to_string(limit) + " tensor(s))");
}

}  // namespace

std::optional<int> NamedIndex(std::string_view name) {
  const size_t sep = name.find("__");
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view digits = name.substr(sep + 2);
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

StatusOr<TorchIoMapping> MapTorchIo(const std::vector<std::string>& input_names,
                                    const std::vector<std::string>& output_names,
                                    const TorchSignature& signature) {
  if (input_names.empty()) {
    return InvalidArgument("the config lists no inputs; " + DescribeForward(signature) +
                           " needs them listed (TorchScript files carry no tensor types or "
                           "shapes to fill them from)");
  }
  if (output_names.empty()) {
    return InvalidArgument(
        "the config lists no outputs (OUTPUT__0, ...); TorchScript files "
        "carry no tensor types or shapes to fill them from");
  }
  TorchIoMapping mapping;
  if (signature.args.size() == 1 && signature.args[0].kind == TorchArgKind::kTensorDict) {
    mapping.dict_input = true;
    mapping.binding = TorchInputBinding::kDictKey;
  } else {
    ASSIGN_OR_RETURN(mapping.input_position, MapInputs(input_names, signature, &mapping.binding));
  }
  ASSIGN_OR_RETURN(mapping.output_position, MapOutputs(output_names, signature));
  return mapping;
}

bool TorchSupportsDataType(DataType dtype) {
  switch (dtype) {
    case DataType::kBool:
    case DataType::kUint8:
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kFp16:
    case DataType::kBf16:
    case DataType::kFp32:
    case DataType::kFp64:
      return true;
    default:
      return false;
  }
}

const char* DescribeBinding(TorchInputBinding binding) {
  switch (binding) {
    case TorchInputBinding::kArgumentName:
      return "by argument name";
    case TorchInputBinding::kNamedIndex:
      return "by <name>__<index>";
    case TorchInputBinding::kDictKey:
      return "by dictionary key";
  }
  return "";
}

std::string DescribeForward(const TorchSignature& signature) {
  std::string s = "forward(";
  for (size_t i = 0; i < signature.args.size(); ++i) {
    s += (i ? ", " : "") + signature.args[i].name;
  }
  return s + ")";
}

}  // namespace nereid::backends::pytorch
