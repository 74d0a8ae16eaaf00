// Kernel auto-tuning parameters: how a kernel with alternatives was built.
//
// A kernel that has several ways of computing its op (oneDNN implementations,
// algorithms, memory layouts) lists them for concrete inputs
// (Kernel::TuningCandidates); the tuner (runtime/tuner.h) times them at
// compile time and records the winner's parameters in the plan (the KERN
// section's per-node blob); loading the plan hands them back to the same
// factory (KernelBuildContext::tuning_params), which rebuilds exactly that
// alternative without timing anything.
//
// Parameters are text, "key=value;key=value" with the keys sorted: small,
// readable in `nereid compile --verbose` and checked strictly (malformed
// text, unknown keys and bad values are refused with a message naming them).
// Keys are [a-z0-9_]+; values are printable ASCII without ';' or '='.
// The runtime owns the key "threads" (a thread count below the plan's
// budget; runtime/tuner.h) and strips it before a kernel sees the rest.
// Kernels own their other keys (dnnl_conv.h: alg, layout, impl). Precision
// could become one more key ("precision=bf16") for `--precision best`.
//
// Thread safety: plain values.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace nereid::engine {

// One alternative of a kernel for given inputs.
struct TuningCandidate {
  std::string params;  // kernel-level parameters; "" = the kernel's default
  std::string label;   // for people: "winograd, blocked, jit:avx512_core"
};

class TuningParams {
 public:
  // Parses "k=v;k=v" ("" = no parameters). Duplicate keys, empty keys or
  // values and characters outside the rules above -> InvalidArgument.
  static StatusOr<TuningParams> Parse(std::string_view text);

  // InvalidArgument naming the first key not in `known` (and `who`).
  Status CheckKeys(std::initializer_list<std::string_view> known, std::string_view who) const;

  std::optional<std::string> Get(std::string_view key) const;
  // `value` must follow the rules above (callers set known constants or
  // values parsed before); an empty value erases the key.
  void Set(const std::string& key, const std::string& value);
  void Erase(std::string_view key);
  bool empty() const { return values_.empty(); }

  // The canonical text: keys sorted, "" when empty.
  std::string ToString() const;

  // `text` for a message: bytes outside printable ASCII as \xNN.
  static std::string Printable(std::string_view text);

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

}  // namespace nereid::engine
