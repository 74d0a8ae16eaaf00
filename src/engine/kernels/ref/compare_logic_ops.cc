// Comparisons Equal (numeric and BOOL), Less, Greater, LessOrEqual,
// GreaterOrEqual (numeric) with BOOL output, and the logical ops Not, And,
// Or, Xor over BOOL tensors. Binary ops broadcast numpy-style; the opset 1
// "broadcast" attribute (B a suffix of A) is covered by that, the "axis"
// form is refused. 16-bit floats compare through float, so NaN compares
// unequal and unordered as IEEE requires.
#include <string>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/elementwise_ext_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class CmpOp { kEqual, kLess, kGreater, kLessOrEqual, kGreaterOrEqual };

constexpr std::string_view OpName(CmpOp op) {
  switch (op) {
    case CmpOp::kEqual: return "Equal";
    case CmpOp::kLess: return "Less";
    case CmpOp::kGreater: return "Greater";
    case CmpOp::kLessOrEqual: return "LessOrEqual";
    case CmpOp::kGreaterOrEqual: return "GreaterOrEqual";
  }
  return "?";
}

template <CmpOp kOp, typename C>
bool Compare(C a, C b) {
  if constexpr (kOp == CmpOp::kEqual) return a == b;
  if constexpr (kOp == CmpOp::kLess) return a < b;
  if constexpr (kOp == CmpOp::kGreater) return a > b;
  if constexpr (kOp == CmpOp::kLessOrEqual) return a <= b;
  if constexpr (kOp == CmpOp::kGreaterOrEqual) return a >= b;
}

template <CmpOp kOp, typename T>
Bool8 CompareElem(T a, T b) {
  if constexpr (std::is_same_v<T, Bool8>) {
    return MakeBool(Compare<kOp, bool>(IsTrue(a), IsTrue(b)));
  } else {
    using C = ComputeType<T>;
    return MakeBool(Compare<kOp, C>(static_cast<C>(a), static_cast<C>(b)));
  }
}

template <CmpOp kOp>
class CompareKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    auto body = [&]<typename T>() -> Status {
      return MapBinary<T, T, Bool8>(a, b, DataType::kBool, &outputs[0], CompareElem<kOp, T>);
    };
    if constexpr (kOp == CmpOp::kEqual) {
      return DispatchNumericOrBool(a.dtype(), OpName(kOp), body);
    } else {
      return DispatchNumeric(a.dtype(), OpName(kOp), body);
    }
  }
};

template <CmpOp kOp>
StatusOr<std::unique_ptr<Kernel>> MakeCompare(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  RETURN_IF_ERROR(CheckNoLegacyAxis(context));
  return std::unique_ptr<Kernel>(new CompareKernel<kOp>());
}

NEREID_REGISTER_KERNEL("", "Equal", MakeCompare<CmpOp::kEqual>);
NEREID_REGISTER_KERNEL("", "Less", MakeCompare<CmpOp::kLess>);
NEREID_REGISTER_KERNEL("", "Greater", MakeCompare<CmpOp::kGreater>);
NEREID_REGISTER_KERNEL("", "LessOrEqual", MakeCompare<CmpOp::kLessOrEqual>);
NEREID_REGISTER_KERNEL("", "GreaterOrEqual", MakeCompare<CmpOp::kGreaterOrEqual>);

enum class LogicOp { kAnd, kOr, kXor };

constexpr std::string_view OpName(LogicOp op) {
  switch (op) {
    case LogicOp::kAnd: return "And";
    case LogicOp::kOr: return "Or";
    case LogicOp::kXor: return "Xor";
  }
  return "?";
}

template <LogicOp kOp>
Bool8 LogicElem(Bool8 x, Bool8 y) {
  const bool a = IsTrue(x);
  const bool b = IsTrue(y);
  if constexpr (kOp == LogicOp::kAnd) return MakeBool(a && b);
  if constexpr (kOp == LogicOp::kOr) return MakeBool(a || b);
  if constexpr (kOp == LogicOp::kXor) return MakeBool(a != b);
}

template <LogicOp kOp>
class LogicKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    RETURN_IF_ERROR(CheckBool(*inputs[0], OpName(kOp), "input A"));
    RETURN_IF_ERROR(CheckBool(*inputs[1], OpName(kOp), "input B"));
    return MapBinary<Bool8, Bool8, Bool8>(*inputs[0], *inputs[1], DataType::kBool, &outputs[0],
                                          LogicElem<kOp>);
  }
};

template <LogicOp kOp>
StatusOr<std::unique_ptr<Kernel>> MakeLogic(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  RETURN_IF_ERROR(CheckNoLegacyAxis(context));
  return std::unique_ptr<Kernel>(new LogicKernel<kOp>());
}

NEREID_REGISTER_KERNEL("", "And", MakeLogic<LogicOp::kAnd>);
NEREID_REGISTER_KERNEL("", "Or", MakeLogic<LogicOp::kOr>);
NEREID_REGISTER_KERNEL("", "Xor", MakeLogic<LogicOp::kXor>);

class NotKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    RETURN_IF_ERROR(CheckBool(*inputs[0], "Not", "input X"));
    return MapUnary<Bool8, Bool8>(*inputs[0], DataType::kBool, &outputs[0],
                                  [](Bool8 v) { return MakeBool(!IsTrue(v)); });
  }
};

StatusOr<std::unique_ptr<Kernel>> MakeNot(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  return std::unique_ptr<Kernel>(new NotKernel());
}

NEREID_REGISTER_KERNEL("", "Not", MakeNot);

}  // namespace
}  // namespace nereid::engine::ref
