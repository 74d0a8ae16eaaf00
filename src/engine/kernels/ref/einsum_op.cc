// Einsum (opset 12): Einstein summation over any number of inputs.
//
// The equation is parsed once at build time: terms of letters [a-zA-Z] with
// at most one "..." each, separated by ',', optionally "->" and the output
// term. Without "->" the output is the ellipsis dims followed by the letters
// that occur exactly once, in alphabetical order (numpy's implicit mode).
// A letter repeated within one term takes the diagonal. Ellipsis dims
// broadcast across inputs like numpy (right-aligned, 1 stretches).
//
// The reference evaluation walks the full index space (output labels, then
// summed labels) and accumulates products: clear, not fast. Accumulation is
// in double for floating types and wraps in 64 bits for integers.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/misc_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// A term as a list of labels: 0..51 for letters, kEllipsis for "...".
constexpr int kEllipsis = -1;
using Term = std::vector<int>;

struct Equation {
  std::vector<Term> inputs;
  Term output;
  bool explicit_output = false;
};

int LetterLabel(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return -2;
}

StatusOr<Term> ParseTerm(std::string_view s) {
  Term t;
  bool seen_ellipsis = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (s.substr(i, 3) != "..." || seen_ellipsis) {
        return InvalidArgument("attribute 'equation': malformed or repeated ellipsis in '" +
                               std::string(s) + "'");
      }
      seen_ellipsis = true;
      t.push_back(kEllipsis);
      i += 2;
      continue;
    }
    const int label = LetterLabel(s[i]);
    if (label < 0) {
      return InvalidArgument(std::string("attribute 'equation': unexpected character '") + s[i] +
                             "'");
    }
    t.push_back(label);
  }
  return t;
}

StatusOr<Equation> ParseEquation(const std::string& raw) {
  std::string eq;
  for (char c : raw) {
    if (c != ' ') eq.push_back(c);
  }
  Equation e;
  const size_t arrow = eq.find("->");
  const std::string lhs = arrow == std::string::npos ? eq : eq.substr(0, arrow);
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    ASSIGN_OR_RETURN(Term t, ParseTerm(std::string_view(lhs).substr(
                                 start, comma == std::string::npos ? std::string::npos
                                                                   : comma - start)));
    e.inputs.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (arrow != std::string::npos) {
    e.explicit_output = true;
    ASSIGN_OR_RETURN(e.output, ParseTerm(std::string_view(eq).substr(arrow + 2)));
    std::vector<int> seen(52, 0);
    for (int l : e.output) {
      if (l == kEllipsis) continue;
      if (seen[l]++) return InvalidArgument("attribute 'equation': output label repeated");
      bool found = false;
      for (const Term& t : e.inputs) found = found || std::count(t.begin(), t.end(), l) > 0;
      if (!found) return InvalidArgument("attribute 'equation': output label not in any input");
    }
    return e;
  }
  // Implicit output: "..." first, then labels seen exactly once, sorted.
  std::vector<int> count(52, 0);
  bool any_ellipsis = false;
  for (const Term& t : e.inputs) {
    for (int l : t) {
      if (l == kEllipsis) {
        any_ellipsis = true;
      } else {
        ++count[l];
      }
    }
  }
  if (any_ellipsis) e.output.push_back(kEllipsis);
  for (int l = 0; l < 52; ++l) {
    if (count[l] == 1) e.output.push_back(l);
  }
  return e;
}

// Run-time binding of labels to sizes. Ellipsis dims become labels 52, 53...
struct Binding {
  std::vector<int64_t> size;              // per label; -1 unbound
  std::vector<std::vector<int>> in_dims;  // per input: label of each dim
  std::vector<int> out_dims;
};

StatusOr<Binding> Bind(const Equation& e, std::span<const Tensor* const> inputs) {
  if (inputs.size() != e.inputs.size()) {
    return InvalidArgument("equation has " + std::to_string(e.inputs.size()) + " inputs, got " +
                           std::to_string(inputs.size()));
  }
  // Ellipsis rank: the largest over inputs; each input's ellipsis dims are
  // right-aligned within it.
  size_t ell_rank = 0;
  std::vector<size_t> in_ell(inputs.size(), 0);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const size_t letters = e.inputs[k].size() - std::count(e.inputs[k].begin(),
                                                           e.inputs[k].end(), kEllipsis);
    const size_t rank = inputs[k]->shape().size();
    const bool has_ell = letters != e.inputs[k].size();
    if (rank < letters || (!has_ell && rank != letters)) {
      return InvalidArgument("input " + std::to_string(k) + " has rank " + std::to_string(rank) +
                             " but its equation term has " + std::to_string(letters) +
                             " labels");
    }
    in_ell[k] = rank - letters;
    ell_rank = std::max(ell_rank, in_ell[k]);
  }
  Binding b;
  b.size.assign(52 + ell_rank, -1);
  b.in_dims.resize(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Shape& shape = inputs[k]->shape();
    size_t dim = 0;
    for (int l : e.inputs[k]) {
      if (l == kEllipsis) {
        for (size_t j = 0; j < in_ell[k]; ++j) {
          const int label = static_cast<int>(52 + ell_rank - in_ell[k] + j);
          const int64_t n = shape[dim++];
          int64_t& bound = b.size[label];
          if (bound == -1 || bound == 1) {
            bound = n;
          } else if (n != 1 && n != bound) {
            return InvalidArgument("ellipsis dimensions do not broadcast");
          }
          b.in_dims[k].push_back(label);
        }
        continue;
      }
      const int64_t n = shape[dim++];
      if (b.size[l] != -1 && b.size[l] != n) {
        return InvalidArgument(std::string("label '") +
                               static_cast<char>(l < 26 ? 'a' + l : 'A' + l - 26) +
                               "' has inconsistent sizes " + std::to_string(b.size[l]) + " and " +
                               std::to_string(n));
      }
      b.size[l] = n;
      b.in_dims[k].push_back(l);
    }
  }
  for (int l : e.output) {
    if (l != kEllipsis) {
      b.out_dims.push_back(l);
      continue;
    }
    for (size_t j = 0; j < ell_rank; ++j) b.out_dims.push_back(static_cast<int>(52 + j));
  }
  return b;
}

class EinsumKernel final : public Kernel {
 public:
  explicit EinsumKernel(Equation eq) : eq_(std::move(eq)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, SIZE_MAX));
    for (const Tensor* t : inputs) {
      if (t == nullptr) return InvalidArgument("Einsum inputs must all be present");
    }
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    ASSIGN_OR_RETURN(Binding b, Bind(eq_, inputs));
    Shape out_shape;
    for (int l : b.out_dims) out_shape.push_back(b.size[l]);
    // The walk visits every combination of label values; refuse index spaces
    // whose size does not even fit in 62 bits (the loop counters would wrap).
    double space = 1.0;
    for (int64_t n : b.size) space *= n > 0 ? static_cast<double>(n) : 1.0;
    if (space > static_cast<double>(int64_t{1} << 62)) {
      return InvalidArgument("Einsum index space is too large");
    }
    return DispatchNumeric(inputs[0]->dtype(), "Einsum", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(inputs[0]->dtype(), out_shape));
      Evaluate<T>(inputs, b, outputs[0].mutable_data_as<T>());
      return Status::Ok();
    });
  }

 private:
  template <typename T>
  static void Evaluate(std::span<const Tensor* const> inputs, const Binding& b, T* out) {
    using Acc = std::conditional_t<kIsFloating<T>, double, uint64_t>;
    // Loop order: output labels (row-major), then summed labels.
    std::vector<int> order = b.out_dims;
    std::vector<uint8_t> is_out(b.size.size(), 0);
    for (int l : b.out_dims) is_out[l] = 1;
    for (size_t l = 0; l < b.size.size(); ++l) {
      if (!is_out[l] && b.size[l] != -1) order.push_back(static_cast<int>(l));
    }
    // Per input, the element stride contributed by each label (summed over
    // repeated labels, which is what makes "ii" walk the diagonal). A
    // broadcast ellipsis dim of size 1 contributes no stride.
    std::vector<std::vector<int64_t>> stride(inputs.size(), std::vector<int64_t>(b.size.size()));
    for (size_t k = 0; k < inputs.size(); ++k) {
      const Shape& shape = inputs[k]->shape();
      int64_t s = 1;
      for (size_t d = shape.size(); d-- > 0;) {
        if (shape[d] != 1) stride[k][b.in_dims[k][d]] += s;
        s *= shape[d];
      }
    }
    int64_t out_count = 1;
    int64_t sum_count = 1;
    for (size_t i = 0; i < order.size(); ++i) {
      (i < b.out_dims.size() ? out_count : sum_count) *= b.size[order[i]];
    }
    std::vector<int64_t> pos(order.size(), 0);
    std::vector<int64_t> offset(inputs.size(), 0);
    for (int64_t o = 0; o < out_count; ++o) {
      Acc acc{};
      for (int64_t r = 0; r < sum_count; ++r) {
        Acc prod = Acc{1};
        for (size_t k = 0; k < inputs.size(); ++k) {
          const T v = inputs[k]->data_as<T>()[offset[k]];
          if constexpr (kIsFloating<T>) {
            prod *= ToDouble(v);
          } else {
            prod *= static_cast<Acc>(v);
          }
        }
        acc += prod;
        Advance(order, b, stride, &pos, &offset);
      }
      out[o] = Convert<T>(acc);
      if (sum_count == 0) Advance(order, b, stride, &pos, &offset, b.out_dims.size());
    }
  }

  // Odometer step over `order` (innermost last), restricted to the first
  // `limit` labels; keeps the per-input offsets in step.
  static void Advance(const std::vector<int>& order, const Binding& b,
                      const std::vector<std::vector<int64_t>>& stride, std::vector<int64_t>* pos,
                      std::vector<int64_t>* offset, size_t limit = SIZE_MAX) {
    for (size_t i = std::min(limit, order.size()); i-- > 0;) {
      const int l = order[i];
      for (size_t k = 0; k < offset->size(); ++k) (*offset)[k] += stride[k][l];
      if (++(*pos)[i] < b.size[l]) return;
      for (size_t k = 0; k < offset->size(); ++k) (*offset)[k] -= stride[k][l] * b.size[l];
      (*pos)[i] = 0;
    }
  }

  Equation eq_;
};

StatusOr<std::unique_ptr<Kernel>> MakeEinsum(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, SIZE_MAX));
  ASSIGN_OR_RETURN(std::string equation, context.node.GetString("equation"));
  ASSIGN_OR_RETURN(Equation eq, ParseEquation(equation));
  if (eq.inputs.size() != context.node.inputs.size()) {
    return InvalidArgument("attribute 'equation' names " + std::to_string(eq.inputs.size()) +
                           " inputs but the node has " +
                           std::to_string(context.node.inputs.size()));
  }
  return std::unique_ptr<Kernel>(new EinsumKernel(std::move(eq)));
}

NEREID_REGISTER_KERNEL("", "Einsum", MakeEinsum);

}  // namespace
}  // namespace nereid::engine::ref
