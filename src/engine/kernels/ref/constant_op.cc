// Constant: its tensor is built once from the node's attribute (value,
// value_float(s), value_int(s), value_string(s)); every run hands out a view
// of the same bytes.
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

class ConstantKernel final : public Kernel {
 public:
  explicit ConstantKernel(Tensor value) : value_(std::move(value)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    outputs[0] = value_;  // shares the bytes; kernels never write into inputs
    return Status::Ok();
  }

 private:
  Tensor value_;
};

template <typename T, typename Src>
Tensor FromValues(DataType dtype, Shape shape, const std::vector<Src>& values) {
  Tensor t = Tensor::AllocateDense(dtype, std::move(shape));
  T* dst = t.mutable_data_as<T>();
  for (size_t i = 0; i < values.size(); ++i) dst[i] = static_cast<T>(values[i]);
  return t;
}

Tensor FromStrings(Shape shape, const std::vector<std::string>& strings) {
  size_t total = 0;
  for (const auto& s : strings) total += 4 + s.size();
  Tensor t = Tensor::Allocate(DataType::kBytes, std::move(shape), total);
  char* dst = t.mutable_data();
  for (const auto& s : strings) {
    uint32_t len = static_cast<uint32_t>(s.size());
    std::memcpy(dst, &len, 4);
    std::memcpy(dst + 4, s.data(), s.size());
    dst += 4 + s.size();
  }
  return t;
}

StatusOr<Tensor> ConstantValue(const std::string& name, const Attribute& attr) {
  using Kind = Attribute::Kind;
  const auto n = [](const auto& v) { return Shape{static_cast<int64_t>(v.size())}; };
  if (name == "value" && attr.kind == Kind::kTensor) return attr.t;
  if (name == "value_float" && attr.kind == Kind::kFloat) {
    return FromValues<float>(DataType::kFp32, {}, std::vector<float>{attr.f});
  }
  if (name == "value_floats" && attr.kind == Kind::kFloats) {
    return FromValues<float>(DataType::kFp32, n(attr.floats), attr.floats);
  }
  if (name == "value_int" && attr.kind == Kind::kInt) {
    return FromValues<int64_t>(DataType::kInt64, {}, std::vector<int64_t>{attr.i});
  }
  if (name == "value_ints" && attr.kind == Kind::kInts) {
    return FromValues<int64_t>(DataType::kInt64, n(attr.ints), attr.ints);
  }
  if (name == "value_string" && attr.kind == Kind::kString) return FromStrings({}, {attr.s});
  if (name == "value_strings" && attr.kind == Kind::kStrings) {
    return FromStrings(n(attr.strings), attr.strings);
  }
  if (name == "sparse_value") return Unimplemented("Constant: sparse_value is not supported");
  return InvalidArgument("Constant: unexpected attribute '" + name + "' or wrong attribute type");
}

StatusOr<std::unique_ptr<Kernel>> MakeConstant(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 0, 0));
  const auto& attrs = context.node.attributes;
  if (attrs.size() != 1) {
    return InvalidArgument("Constant needs exactly one value attribute, got " +
                           std::to_string(attrs.size()));
  }
  ASSIGN_OR_RETURN(Tensor value, ConstantValue(attrs.begin()->first, attrs.begin()->second));
  return std::unique_ptr<Kernel>(new ConstantKernel(std::move(value)));
}

NEREID_REGISTER_KERNEL("", "Constant", MakeConstant);

}  // namespace
}  // namespace nereid::engine::ref
