// nereid.FusedMatMul (engine/ir/fused_ops.h) on oneDNN: one fp32 matmul
// primitive per problem shape with
//   - strided operands: Transposes folded by the passes (a_perm, b_perm)
//     become memory strides of A and B, out_perm the strides of the
//     destination, so no transposed copy is ever made;
//   - alpha as an eltwise_linear post-op (alpha * x), the bias as the
//     matmul bias (pre-divided by alpha when both are present, so the
//     result is alpha * A@B + bias), the Addend as a binary-add post-op
//     with oneDNN's broadcasting, and the activation (Relu, Tanh, Sigmoid,
//     Gelu in its erf form) as an eltwise post-op;
//   - a constant B (an initializer, without b_perm) reordered once into the
//     layout oneDNN prefers and shared by every shape that wants it.
// When B is 2-D and A needs no permutation, A's batch dimensions fold into
// the rows of one 2-D product (BERT's projections: [1*128, 768] x [768, N]).
// Reduced precision: a node marked BF16 / INT8 (ir/precision_attrs.h) with a
// constant 2-D B (b_perm empty or {1, 0}), no a_perm and no out_perm runs
// through ReducedMatMul (dnnl_matmul_reduced.h): alpha folded into B, the
// bias plus a row-shaped Addend as the bias, an Addend of Y's shape as a sum
// post-op, the activation as an eltwise post-op; other operand shapes run
// the FP32 primitive below.
// Anything else the primitive cannot express (other dtypes, vectors,
// misaligned or empty tensors, broadcasts oneDNN refuses, a non-constant
// bias with alpha) runs the reference kernel of the same node.
//
// Auto-tuning (engine/kernels/tuning.h): parameter "impl" names the oneDNN
// implementation to use (oneDNN's first choice where a shape has no such
// implementation); TuningCandidates runs the kernel once, bypassing the
// shape cache, to list the implementations of the primitive it makes.
//
// Thread safety: Run is const; the caches are guarded by one mutex that is
// not held while a primitive executes.
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/kernels/cpu/dnnl_common.h"
#include "engine/kernels/cpu/dnnl_matmul_reduced.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/matmul_shape.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {
namespace {

using dnnl::memory;
using dt = dnnl::memory::data_type;

constexpr size_t kMaxCacheEntries = 16;

// Auto-tuning: set while TuningCandidates runs the kernel on this thread;
// Create lists the implementations there and the cache is bypassed.
thread_local std::vector<std::string>* t_list_impls = nullptr;

struct Entry {
  dnnl::matmul primitive;
  memory::desc src, wei, dst, bias, addend, scratch;
  memory packed_b;  // empty unless a constant B was reordered
  Shape out_shape;
  // The Addend has the output's shape and is added by a sum post-op: the
  // destination starts as a copy of it (with a full-tensor binary post-op
  // oneDNN 2.6 leaves its brgemm matmul for a slower gemm kernel).
  bool addend_as_sum = false;
};

// Row-major strides of `shape`.
memory::dims DenseStrides(const Shape& shape) {
  memory::dims s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return s;
}

struct Operand {
  Shape dims;         // logical (after the permutation)
  memory::dims strides;
};

// The logical view of a dense tensor of `shape` permuted by `perm`.
std::optional<Operand> Permuted(const Shape& shape, const std::vector<int64_t>& perm) {
  Operand op{shape, DenseStrides(shape)};
  if (perm.empty()) return op;
  if (perm.size() != shape.size()) return std::nullopt;
  const memory::dims base = op.strides;
  for (size_t i = 0; i < perm.size(); ++i) {
    op.dims[i] = shape[perm[i]];
    op.strides[i] = base[perm[i]];
  }
  return op;
}

// Left-pads to `rank` with size-1 dims.
Operand PadTo(const Operand& op, size_t rank) {
  Operand out;
  const size_t pad = rank - op.dims.size();
  out.dims.assign(pad, 1);
  out.strides.assign(pad, 1);
  out.dims.insert(out.dims.end(), op.dims.begin(), op.dims.end());
  out.strides.insert(out.strides.end(), op.strides.begin(), op.strides.end());
  return out;
}

// oneDNN refuses (at execution) descriptors where a size-1 dimension shares
// its stride with another dimension, which permuted strides produce. A
// size-1 dimension's stride never addresses anything: give it the stride a
// dense layout would (its inner neighbour's extent), innermost first.
memory::desc Desc(const Operand& op) {
  memory::dims strides = op.strides;
  for (size_t i = strides.size(); i-- > 0;) {
    if (op.dims[i] != 1) continue;
    strides[i] = i + 1 < strides.size() ? strides[i + 1] * std::max<int64_t>(op.dims[i + 1], 1) : 1;
  }
  return memory::desc(ToDims(op.dims), dt::f32, strides);
}

bool Aligned(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data()) % alignof(float) == 0; }

class DnnlFusedMatMulKernel final : public Kernel {
 public:
  DnnlFusedMatMulKernel(std::unique_ptr<Kernel> reference, int threads, float alpha,
                        dnnl::algorithm act, std::vector<int64_t> a_perm,
                        std::vector<int64_t> b_perm, std::vector<int64_t> out_perm,
                        const Tensor* constant_b, const Tensor* constant_bias,
                        const MatMulPrecision& precision, std::string impl)
      : impl_(std::move(impl)),
        reference_(std::move(reference)),
        threads_(threads),
        alpha_(alpha),
        act_(act),
        a_perm_(std::move(a_perm)),
        b_perm_(std::move(b_perm)),
        out_perm_(std::move(out_perm)) {
    if (constant_b != nullptr && b_perm_.empty()) constant_b_ = *constant_b;
    // Reduced precision: B is a constant matrix, used as is or transposed.
    const bool b_transposed = b_perm_ == std::vector<int64_t>{1, 0};
    if (constant_b != nullptr && a_perm_.empty() && out_perm_.empty() &&
        (b_perm_.empty() || b_transposed)) {
      reduced_ = ReducedMatMul::Create(precision, *constant_b, b_transposed, alpha_, act_);
      if (reduced_ != nullptr) reduced_b_data_ = constant_b->data();
    }
    if (constant_bias != nullptr && constant_bias->dtype() == DataType::kFp32) {
      // alpha * (A@B + bias / alpha) == alpha * A@B + bias.
      scaled_bias_ = Tensor::CopyOf(constant_bias->view());
      if (alpha_ != 1.0f) {
        float* v = scaled_bias_.mutable_data_as<float>();
        for (size_t i = 0; i < scaled_bias_.byte_size() / 4; ++i) v[i] /= alpha_;
      }
      constant_bias_data_ = constant_bias->data();
    }
  }

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    SetThreads(threads_);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor* t = inputs[i];
      if ((i < 2 && t == nullptr) ||
          (t != nullptr && (t->dtype() != DataType::kFp32 || !Aligned(*t) || t->shape().empty() ||
                            t->byte_size() == 0))) {
        return reference_->Run(inputs, outputs);
      }
    }
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    const Tensor* bias = inputs.size() > 2 ? inputs[2] : nullptr;
    const Tensor* addend = inputs.size() > 3 ? inputs[3] : nullptr;
    if (a.shape().size() < 2 || b.shape().size() < 2) return reference_->Run(inputs, outputs);
    // A bias that is not the constant we pre-scaled cannot take alpha.
    const bool bias_is_constant = bias != nullptr && bias->data() == constant_bias_data_;
    if (reduced_ != nullptr && b.data() == reduced_b_data_) {
      StatusOr<bool> done = RunReduced(a, bias, addend, outputs);
      if (!done.ok() || *done) return done.status();
    }
    if (bias != nullptr && alpha_ != 1.0f && !bias_is_constant) {
      return reference_->Run(inputs, outputs);
    }
    std::shared_ptr<const Entry> entry;
    try {
      entry = GetEntry(a, b, bias, addend);
    } catch (const dnnl::error& e) {
      if (e.status == dnnl_unimplemented || e.status == dnnl_invalid_arguments) {
        entry = nullptr;
      } else {
        return DnnlError(e, "FusedMatMul primitive creation");
      }
    }
    if (entry == nullptr) return reference_->Run(inputs, outputs);
    outputs[0] = Tensor::AllocateDense(DataType::kFp32, entry->out_shape);
    try {
      const dnnl::engine& eng = CpuEngine();
      std::unordered_map<int, memory> args;
      args.emplace(DNNL_ARG_SRC, memory(entry->src, eng, const_cast<char*>(a.data())));
      args.emplace(DNNL_ARG_WEIGHTS, entry->packed_b ? entry->packed_b
                                                     : memory(entry->wei, eng,
                                                              const_cast<char*>(b.data())));
      args.emplace(DNNL_ARG_DST, memory(entry->dst, eng, outputs[0].mutable_data()));
      if (bias != nullptr) {
        const char* data = bias_is_constant ? scaled_bias_.data() : bias->data();
        args.emplace(DNNL_ARG_BIAS, memory(entry->bias, eng, const_cast<char*>(data)));
      }
      if (entry->addend_as_sum) {
        std::memcpy(outputs[0].mutable_data(), addend->data(), addend->byte_size());
      } else if (addend != nullptr) {
        const int index = alpha_ != 1.0f ? 1 : 0;  // after the eltwise_linear post-op
        args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1,
                     memory(entry->addend, eng, const_cast<char*>(addend->data())));
      }
      Tensor scratch_bytes;
      if (entry->scratch.get_size() != 0) {
        args.emplace(DNNL_ARG_SCRATCHPAD, TempMemory(entry->scratch, &scratch_bytes));
      }
      dnnl::stream& strm = CpuStream();
      entry->primitive.execute(strm, args);
      strm.wait();
    } catch (const dnnl::error& e) {
      return DnnlError(e, "FusedMatMul execution");
    }
    return Status::Ok();
  }

  // The implementations oneDNN offers for these inputs, its first choice
  // first; none when there is no choice (or the reference would run).
  std::vector<TuningCandidate> TuningCandidates(
      std::span<const Tensor* const> inputs) const override {
    std::vector<std::string> impls;
    std::vector<Tensor> outputs(1);
    t_list_impls = &impls;
    Status ran = Run(inputs, outputs);
    t_list_impls = nullptr;
    if (!ran.ok() || impls.size() < 2) return {};
    std::vector<TuningCandidate> out = {{"", "default (" + impls[0] + ")"}};
    for (size_t i = 1; i < impls.size(); ++i) out.push_back({"impl=" + impls[i], impls[i]});
    return out;
  }
  std::string AppliedTuning() const override { return impl_.empty() ? "" : "impl=" + impl_; }

 private:
  // The BF16 / INT8 product (B is the constant the node was built with):
  // false when these operands need the FP32 path (A a vector, a bias that
  // is not [N], an addend that is neither Y's shape nor [N], or a shape
  // oneDNN has no fast reduced-precision implementation for).
  StatusOr<bool> RunReduced(const Tensor& a, const Tensor* bias, const Tensor* addend,
                            std::span<Tensor> outputs) const {
    const int64_t n = reduced_->n();
    const Shape& as = a.shape();
    if (as.size() < 2 || as.back() != reduced_->k()) return false;
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < as.size(); ++i) rows *= as[i];
    Shape out_shape = as;
    out_shape.back() = n;
    if (bias != nullptr && (bias->shape().size() != 1 || bias->shape()[0] != n)) return false;
    // Row addends ([N], [1, N], ...) join the bias; full ones are a sum post-op.
    std::vector<float> row;
    const float* full = nullptr;
    const float* bias_data = bias != nullptr ? bias->data_as<float>() : nullptr;
    if (addend != nullptr) {
      const Shape& s = addend->shape();
      if (s == out_shape) {
        full = addend->data_as<float>();
      } else if (!s.empty() && s.back() == n && ref::NumElements(s) == n &&
                 s.size() <= out_shape.size()) {
        row.assign(addend->data_as<float>(), addend->data_as<float>() + n);
        if (bias_data != nullptr) {
          for (int64_t j = 0; j < n; ++j) row[j] += bias_data[j];
        }
        bias_data = row.data();
      } else {
        return false;
      }
    }
    try {
      outputs[0] = Tensor::AllocateDense(DataType::kFp32, out_shape);
      return reduced_->Run(a.data_as<float>(), rows, false, bias_data, full,
                           outputs[0].mutable_data_as<float>());
    } catch (const dnnl::error& e) {
      return DnnlError(e, "FusedMatMul (reduced precision)");
    }
  }

  // The cached primitive for these operands; null when oneDNN (or this
  // kernel) cannot express the problem. Throws dnnl::error.
  std::shared_ptr<const Entry> GetEntry(const Tensor& a, const Tensor& b, const Tensor* bias,
                                        const Tensor* addend) const {
    std::vector<int64_t> key;
    for (const Tensor* t : {&a, &b, bias, addend}) {
      key.push_back(t == nullptr ? -1 : static_cast<int64_t>(t->shape().size()));
      if (t != nullptr) key.insert(key.end(), t->shape().begin(), t->shape().end());
    }
    const bool use_packed = constant_b_.dtype() == DataType::kFp32 && b.data() == constant_b_.data();
    key.push_back(use_packed ? 1 : 0);
    if (t_list_impls != nullptr) return Create(a, b, bias, addend, use_packed);
    return cache_.GetOrCreate(key, [&] { return Create(a, b, bias, addend, use_packed); });
  }

  std::shared_ptr<const Entry> Create(const Tensor& a, const Tensor& b, const Tensor* bias,
                                      const Tensor* addend, bool use_packed) const {
    auto la = Permuted(a.shape(), a_perm_);
    auto lb = Permuted(b.shape(), b_perm_);
    if (!la || !lb) return nullptr;
    auto geometry = ref::MatMulShapes(la->dims, lb->dims);
    if (!geometry.ok()) return nullptr;  // the reference reports the error
    const ref::MatMulGeometry& g = *geometry;
    if (g.m == 0 || g.k == 0 || g.n == 0 || g.batch.size() + 2 > DNNL_MAX_NDIMS) return nullptr;
    auto entry = std::make_shared<Entry>();
    Operand src, wei, dst;
    Shape addend_shape = addend ? addend->shape() : Shape{};
    const bool fold = lb->dims.size() == 2 && a_perm_.empty() && out_perm_.empty() &&
                      (addend == nullptr || addend_shape == g.out ||
                       (addend_shape.back() == g.n &&
                        ref::NumElements(addend_shape) == g.n));
    if (fold) {
      int64_t rows = 1;
      for (size_t i = 0; i + 1 < la->dims.size(); ++i) rows *= la->dims[i];
      src = {{rows, g.k}, {g.k, 1}};
      wei = *lb;
      dst = {{rows, g.n}, {g.n, 1}};
      entry->out_shape = g.out;
      if (addend != nullptr) {
        const bool full = addend_shape == g.out;
        entry->addend = memory::desc({full ? rows : 1, g.n}, dt::f32, memory::dims{g.n, 1});
      }
    } else {
      const size_t rank = g.batch.size() + 2;
      src = PadTo(*la, rank);
      wei = PadTo(*lb, rank);
      Shape dst_dims = g.batch;
      dst_dims.push_back(g.m);
      dst_dims.push_back(g.n);
      dst = {dst_dims, DenseStrides(dst_dims)};
      entry->out_shape = dst_dims;
      if (!out_perm_.empty()) {
        if (out_perm_.size() != rank) return nullptr;
        Shape y(rank);
        for (size_t i = 0; i < rank; ++i) y[i] = dst_dims[out_perm_[i]];
        const memory::dims ys = DenseStrides(y);
        for (size_t i = 0; i < rank; ++i) dst.strides[out_perm_[i]] = ys[i];
        entry->out_shape = y;
      }
      if (addend != nullptr) {
        if (addend_shape.size() > rank) return nullptr;
        Operand add = PadTo({addend_shape, DenseStrides(addend_shape)}, rank);
        for (size_t i = 0; i < rank; ++i) {
          if (add.dims[i] != 1 && add.dims[i] != dst_dims[i]) return nullptr;
        }
        entry->addend = Desc(add);
      }
    }
    // The output shape ONNX gives (vectors are not handled here).
    if (g.a_vec || g.b_vec) return nullptr;
    entry->src = Desc(src);
    entry->wei = Desc(wei);
    entry->dst = Desc(dst);
    if (bias != nullptr) {
      if (bias->shape().size() != 1 || bias->shape()[0] != g.n) return nullptr;
      memory::dims bias_dims(dst.dims.size(), 1);
      bias_dims.back() = g.n;
      entry->bias = memory::desc(bias_dims, dt::f32, DenseStrides(Shape(bias_dims.begin(),
                                                                        bias_dims.end())));
    }
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops ops;
    entry->addend_as_sum = fold && use_packed && addend != nullptr && addend_shape == g.out;
    if (alpha_ != 1.0f) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, alpha_, 0.0f);
    if (entry->addend_as_sum) {
      ops.append_sum(1.0f);
    } else if (addend != nullptr) {
      ops.append_binary(dnnl::algorithm::binary_add, entry->addend);
    }
    if (act_ != dnnl::algorithm::undef) ops.append_eltwise(1.0f, act_, 0.0f, 0.0f);
    attr.set_post_ops(ops);
    auto make = [&](const memory::desc& wd) {
      dnnl::matmul::desc d(entry->src, wd, bias != nullptr ? entry->bias : memory::desc(),
                           entry->dst);
      return MakePrimitiveDesc<dnnl::matmul::primitive_desc>(d, attr, impl_, t_list_impls);
    };
    dnnl::matmul::primitive_desc pd;
    if (use_packed) {
      pd = make(memory::desc(entry->wei.dims(), dt::f32, memory::format_tag::any));
      if (pd.weights_desc() != entry->wei) {
        entry->packed_b = PackedB(pd.weights_desc(), entry->wei);
      } else {
        pd = make(entry->wei);
      }
    } else {
      pd = make(entry->wei);
    }
    entry->wei = pd.weights_desc();
    entry->scratch = pd.scratchpad_desc();
    entry->primitive = dnnl::matmul(pd);
    return entry;
  }

  // The constant B reordered into `layout` (from `plain`), made once per layout.
  memory PackedB(const memory::desc& layout, const memory::desc& plain) const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [d, m] : packed_) {
        if (d == layout) return m;
      }
    }
    memory packed(layout, CpuEngine());
    memory src(plain, CpuEngine(), const_cast<char*>(constant_b_.data()));
    dnnl::reorder(src, packed).execute(CpuStream(), src, packed);
    CpuStream().wait();
    std::lock_guard<std::mutex> lock(mu_);
    packed_.emplace_back(layout, packed);
    return packed;
  }

  const std::string impl_;  // tuned oneDNN implementation ("": oneDNN's first)
  const std::unique_ptr<Kernel> reference_;
  const int threads_;
  const float alpha_;
  const dnnl::algorithm act_;
  const std::vector<int64_t> a_perm_, b_perm_, out_perm_;
  Tensor constant_b_;
  std::unique_ptr<ReducedMatMul> reduced_;  // null: FP32
  const char* reduced_b_data_ = nullptr;    // the constant B reduced_ was made from
  Tensor scaled_bias_;
  const char* constant_bias_data_ = nullptr;

  mutable std::mutex mu_;
  ShapeCache<Entry> cache_{kMaxCacheEntries};
  mutable std::vector<std::pair<memory::desc, memory>> packed_;                // GUARDED_BY(mu_)
};

StatusOr<std::unique_ptr<Kernel>> MakeDnnlFusedMatMul(const KernelBuildContext& context) {
  KernelFactory ref_factory = KernelRegistry::Global().FindReference("nereid", "FusedMatMul");
  if (ref_factory == nullptr) return Unimplemented("no reference FusedMatMul kernel");
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, ref_factory(context));
  for (DataType d : context.input_dtypes) {
    if (d != DataType::kInvalid && d != DataType::kFp32) {
      return Unimplemented("oneDNN FusedMatMul supports fp32 only");
    }
  }
  const Node& node = context.node;
  ASSIGN_OR_RETURN(float alpha, node.GetFloat("alpha", 1.0f));
  ASSIGN_OR_RETURN(std::string act_name, node.GetString("activation", ""));
  ASSIGN_OR_RETURN(auto a_perm, node.GetInts("a_perm", std::vector<int64_t>{}));
  ASSIGN_OR_RETURN(auto b_perm, node.GetInts("b_perm", std::vector<int64_t>{}));
  ASSIGN_OR_RETURN(auto out_perm, node.GetInts("out_perm", std::vector<int64_t>{}));
  if (alpha == 0.0f || !std::isfinite(alpha)) return Unimplemented("FusedMatMul alpha");
  dnnl::algorithm act = dnnl::algorithm::undef;
  if (act_name == "Relu") act = dnnl::algorithm::eltwise_relu;
  if (act_name == "Tanh") act = dnnl::algorithm::eltwise_tanh;
  if (act_name == "Sigmoid") act = dnnl::algorithm::eltwise_logistic;
  if (act_name == "Gelu") act = dnnl::algorithm::eltwise_gelu_erf;
  auto constant = [&](size_t i) {
    return i < context.constant_inputs.size() ? context.constant_inputs[i] : nullptr;
  };
  const Tensor* b = constant(1);
  if (b != nullptr && (b->dtype() != DataType::kFp32 || !Aligned(*b))) b = nullptr;
  ASSIGN_OR_RETURN(MatMulPrecision precision, ReadMatMulPrecision(node));
  ASSIGN_OR_RETURN(TuningParams tuning, TuningParams::Parse(context.tuning_params));
  RETURN_IF_ERROR(tuning.CheckKeys({"impl"}, "oneDNN FusedMatMul"));
  return std::unique_ptr<Kernel>(new DnnlFusedMatMulKernel(
      std::move(reference), context.intra_op_threads, alpha, act, std::move(a_perm),
      std::move(b_perm), std::move(out_perm), b, constant(2), precision,
      tuning.Get("impl").value_or("")));
}

NEREID_REGISTER_KERNEL_PRIORITY("nereid", "FusedMatMul", MakeDnnlFusedMatMul, 10);

}  // namespace
}  // namespace nereid::engine::cpu
