// BF16 / INT8 matrix products with a constant B on oneDNN (see the header).
#include "engine/kernels/cpu/dnnl_matmul_reduced.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>

#include "engine/ir/precision_attrs.h"

namespace nereid::engine::cpu {

using dnnl::memory;
using dt = memory::data_type;

namespace {

constexpr size_t kMaxPackedLayouts = 4;

}  // namespace

StatusOr<MatMulPrecision> ReadMatMulPrecision(const Node& node) {
  MatMulPrecision p;
  ASSIGN_OR_RETURN(std::string kind, node.GetString(kPrecisionAttr, "fp32"));
  if (kind == "fp32") return p;
  if (kind == "bf16") {
    p.kind = MatMulPrecision::kBf16;
    return p;
  }
  if (kind != "int8") {
    return InvalidArgument(std::string(kPrecisionAttr) + " '" + kind +
                           "' (expected fp32, bf16 or int8)");
  }
  p.kind = MatMulPrecision::kInt8;
  ASSIGN_OR_RETURN(p.input_scale, node.GetFloat(kInputScaleAttr));
  ASSIGN_OR_RETURN(int64_t unsigned_input, node.GetInt(kInputUnsignedAttr, 0));
  p.input_unsigned = unsigned_input != 0;
  if (!(p.input_scale > 0) || !std::isfinite(p.input_scale)) {
    return InvalidArgument(std::string(kInputScaleAttr) + " must be a positive number");
  }
  return p;
}

// One primitive for one (rows, transposed A, bias, addend) key.
struct ReducedMatMul::Entry {
  bool supported = false;
  dnnl::matmul primitive;
  dnnl::reorder convert_a;  // FP32 A -> bf16 / u8 / s8, dense
  memory::desc a_f32, a_low, dst, bias, scratch;
  memory packed_b;
};

std::unique_ptr<ReducedMatMul> ReducedMatMul::Create(const MatMulPrecision& precision,
                                                     const Tensor& b, bool trans_b, float alpha,
                                                     dnnl::algorithm act) {
  if (precision.kind == MatMulPrecision::kFp32 || b.dtype() != DataType::kFp32 ||
      b.shape().size() != 2 || b.shape()[0] <= 0 || b.shape()[1] <= 0 ||
      b.byte_size() != static_cast<size_t>(b.shape()[0] * b.shape()[1]) * sizeof(float) ||
      reinterpret_cast<uintptr_t>(b.data()) % alignof(float) != 0 || !(alpha != 0) ||
      !std::isfinite(alpha)) {
    return nullptr;
  }
  return std::unique_ptr<ReducedMatMul>(new ReducedMatMul(precision, b, trans_b, alpha, act));
}

ReducedMatMul::ReducedMatMul(MatMulPrecision precision, Tensor b, bool trans_b, float alpha,
                             dnnl::algorithm act)
    : precision_(precision), b_(std::move(b)), trans_b_(trans_b), alpha_(alpha), act_(act) {
  k_ = trans_b_ ? b_.shape()[1] : b_.shape()[0];
  n_ = trans_b_ ? b_.shape()[0] : b_.shape()[1];
  if (precision_.kind != MatMulPrecision::kInt8) return;
  // Symmetric per-column scales of alpha * B: the largest |alpha * B[k, n]|
  // maps to 127.
  const float* w = b_.data_as<float>();
  std::vector<float> max_abs(static_cast<size_t>(n_), 0.0f);
  for (int64_t kk = 0; kk < k_; ++kk) {
    for (int64_t nn = 0; nn < n_; ++nn) {
      const float v = std::fabs(trans_b_ ? w[nn * k_ + kk] : w[kk * n_ + nn]);
      max_abs[nn] = std::max(max_abs[nn], v);
    }
  }
  for (float m : max_abs) {
    const float s = m > 0 && std::isfinite(m) ? std::fabs(alpha_) * m / 127.0f : 1.0f;
    b_scales_.push_back(s);
    out_scales_.push_back(precision_.input_scale * s);
  }
}

bool ReducedMatMul::Run(const float* a, int64_t rows, bool trans_a, const float* bias,
                        const float* addend, float* y) const {
  std::shared_ptr<const Entry> e = GetEntry(rows, trans_a, bias != nullptr, addend != nullptr);
  if (!e->supported) return false;
  const dnnl::engine& eng = CpuEngine();
  dnnl::stream& strm = CpuStream();
  memory a_f32(e->a_f32, eng, const_cast<float*>(a));
  Tensor a_bytes, scratch_bytes;
  memory a_low = TempMemory(e->a_low, &a_bytes);
  e->convert_a.execute(strm, a_f32, a_low);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, a_low},
                                          {DNNL_ARG_WEIGHTS, e->packed_b},
                                          {DNNL_ARG_DST, memory(e->dst, eng, y)}};
  // INT8: the bias in accumulator units (see the header).
  std::vector<float> scaled_bias;
  if (bias != nullptr && precision_.kind == MatMulPrecision::kInt8) {
    scaled_bias.resize(static_cast<size_t>(n_));
    for (int64_t j = 0; j < n_; ++j) scaled_bias[j] = bias[j] / out_scales_[j];
    bias = scaled_bias.data();
  }
  if (bias != nullptr) {
    args.emplace(DNNL_ARG_BIAS, memory(e->bias, eng, const_cast<float*>(bias)));
  }
  if (addend != nullptr) {
    std::memcpy(y, addend, static_cast<size_t>(rows * n_) * sizeof(float));
  }
  if (e->scratch.get_size() != 0) {
    args.emplace(DNNL_ARG_SCRATCHPAD, TempMemory(e->scratch, &scratch_bytes));
  }
  e->primitive.execute(strm, args);
  strm.wait();
  return true;
}

std::shared_ptr<const ReducedMatMul::Entry> ReducedMatMul::GetEntry(int64_t rows, bool trans_a,
                                                                    bool bias,
                                                                    bool addend) const {
  const std::vector<int64_t> key = {rows, trans_a ? 1 : 0, bias ? 1 : 0, addend ? 1 : 0};
  return cache_.GetOrCreate(key, [&] { return Create(rows, trans_a, bias, addend); });
}

std::shared_ptr<const ReducedMatMul::Entry> ReducedMatMul::Create(int64_t rows, bool trans_a,
                                                                  bool bias,
                                                                  bool addend) const {
  auto e = std::make_shared<Entry>();
  const bool int8 = precision_.kind == MatMulPrecision::kInt8;
  const dt a_dt = !int8 ? dt::bf16 : precision_.input_unsigned ? dt::u8 : dt::s8;
  const dt b_dt = int8 ? dt::s8 : dt::bf16;
  e->a_f32 = trans_a ? memory::desc({rows, k_}, dt::f32, memory::dims{1, rows})
                     : memory::desc({rows, k_}, dt::f32, memory::dims{k_, 1});
  e->a_low = memory::desc({rows, k_}, a_dt, memory::format_tag::ab);
  e->dst = memory::desc({rows, n_}, dt::f32, memory::format_tag::ab);
  if (bias) e->bias = memory::desc({1, n_}, dt::f32, memory::format_tag::ab);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  if (int8) attr.set_output_scales(1 << 1, out_scales_);
  if (addend) ops.append_sum(1.0f);
  if (act_ != dnnl::algorithm::undef) ops.append_eltwise(1.0f, act_, 0.0f, 0.0f);
  attr.set_post_ops(ops);
  dnnl::matmul::primitive_desc pd;
  try {
    const memory::desc any_b({k_, n_}, b_dt, memory::format_tag::any);
    dnnl::matmul::desc d = bias ? dnnl::matmul::desc(e->a_low, any_b, e->bias, e->dst)
                                : dnnl::matmul::desc(e->a_low, any_b, e->dst);
    pd = dnnl::matmul::primitive_desc(d, attr, CpuEngine());
  } catch (const dnnl::error& err) {
    if (err.status == dnnl_unimplemented || err.status == dnnl_invalid_arguments) return e;
    throw;
  }
  if (IsReferenceImpl(pd)) return e;  // ~100x slower than FP32: not worth it
  dnnl::primitive_attr a_attr;
  if (int8) a_attr.set_output_scales(0, {1.0f / precision_.input_scale});
  try {
    e->convert_a = dnnl::reorder(
        dnnl::reorder::primitive_desc(CpuEngine(), e->a_f32, CpuEngine(), e->a_low, a_attr));
    e->packed_b = PackedB(pd.weights_desc());
  } catch (const dnnl::error& err) {
    if (err.status == dnnl_unimplemented) return e;  // no such reorder: FP32
    throw;
  }
  e->scratch = pd.scratchpad_desc();
  e->primitive = dnnl::matmul(pd);
  e->supported = true;
  return e;
}

memory ReducedMatMul::PackedB(const memory::desc& layout) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [d, m] : packed_) {
      if (d == layout) return m;
    }
  }
  const dnnl::engine& eng = CpuEngine();
  const memory::desc plain = trans_b_
                                 ? memory::desc({k_, n_}, dt::f32, memory::dims{1, k_})
                                 : memory::desc({k_, n_}, dt::f32, memory::dims{n_, 1});
  // alpha * B, converted (INT8: divided by the column scales, rounded) into
  // a plain matrix, then reordered into the primitive's layout (for s8 A
  // that reorder also computes oneDNN's compensation, which a reorder
  // straight from FP32 with scales does not do in oneDNN 2.6).
  const bool int8 = precision_.kind == MatMulPrecision::kInt8;
  dnnl::primitive_attr attr;
  if (int8) {
    std::vector<float> factors;
    for (float s : b_scales_) factors.push_back(alpha_ / s);
    attr.set_output_scales(1 << 1, factors);  // per column
  } else if (alpha_ != 1.0f) {
    attr.set_output_scales(0, {alpha_});
  }
  const memory::desc low_plain({k_, n_}, layout.data_type(), memory::format_tag::ab);
  memory low(low_plain, eng);
  memory src(plain, eng, const_cast<char*>(b_.data()));
  dnnl::stream& strm = CpuStream();
  dnnl::reorder(dnnl::reorder::primitive_desc(eng, plain, eng, low_plain, attr))
      .execute(strm, src, low);
  memory packed(layout, eng);
  dnnl::reorder(low, packed).execute(strm, low, packed);
  strm.wait();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [d, m] : packed_) {
    if (d == layout) return m;
  }
  if (packed_.size() >= kMaxPackedLayouts) packed_.erase(packed_.begin());
  packed_.emplace_back(layout, packed);
  return packed;
}

}  // namespace nereid::engine::cpu
