// oneDNN MatMul and Gemm (fp32, and BF16 / INT8 for nodes marked so),
// registered above the reference kernels.
//
// MatMul: numpy matmul with 1-D promotion and batch broadcasting. When B has
// rank <= 2 the batch dims of A are folded into its rows (A is dense
// row-major, so [b..., M, K] is [b*M, K]) and one 2-D matmul runs; otherwise
// A and B are padded to one rank and oneDNN broadcasts the batch dims.
// Gemm: Y = alpha * A' * B' + beta * C. A' and B' are strided views (tag ba
// for a transposed operand, no copy); alpha is an output scale (or folded
// into nothing when 1); beta * C is the bias when alpha == 1 and C is [N] or
// [1, N], else a binary-add post-op with C broadcast as {1,1}, {1,N} or
// {M,N} (other broadcasts of C are expanded to [M, N] per call). beta != 1
// scales C first (once at build time when C is a constant).
//
// Reduced precision: a node the precision assignment marked BF16 / INT8
// (ir/precision_attrs.h) whose B is the constant 2-D initializer runs through
// ReducedMatMul (dnnl_matmul_reduced.h): MatMul with A's batch dims folded
// into rows, Gemm with transA/transB, alpha, and beta * C as the bias ([N],
// [1, N], a scalar) or a sum post-op ([M, N], [M, 1] expanded). Shapes it has
// no fast oneDNN implementation for run the FP32 code below.
//
// A constant B (initializer) is reordered into the layout oneDNN prefers
// (format_tag::any) once per problem shape and kept with the primitive in a
// small shape-keyed cache (16 entries, oldest evicted). Activations stay
// plain row-major; the caller's buffers are wrapped, not copied.
//
// Auto-tuning (engine/kernels/tuning.h): parameter "impl" names the oneDNN
// implementation to use (primitive_desc::next_impl; oneDNN's first choice
// when a shape has no such implementation). TuningCandidates runs the
// kernel once with the shape cache bypassed, listing the implementations
// each primitive could use.
//
// What this file does not cover (other dtypes, empty tensors, misaligned
// buffers, ranks above oneDNN's limit, shapes the reference rejects, a
// primitive oneDNN cannot make) runs the reference kernel, which the factory
// builds alongside, so run-time discoveries fall back too.
//
// Thread safety: Run is const; the cache is guarded by a mutex that is not
// held while a primitive executes (primitives are safe to execute
// concurrently; each call wraps its own memory objects).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/dnnl_common.h"
#include "engine/kernels/cpu/dnnl_matmul_reduced.h"
#include "engine/kernels/ref/matmul_shape.h"
#include "engine/kernels/kernel.h"

namespace nereid::engine::cpu {

// Test hook: how many Run calls of these kernels handed their work to the
// reference kernel (declared by dnnl_matmul_test.cc).
int64_t DnnlMatMulFallbackCountForTesting();

namespace {

std::atomic<int64_t> g_fallbacks{0};

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

constexpr size_t kMaxCacheEntries = 16;
constexpr size_t kMaxPackedLayouts = 4;

// Auto-tuning: set while TuningCandidates runs a kernel on this thread;
// Prepare lists the implementations oneDNN offers there, and the caches
// neither answer nor keep anything.
thread_local std::vector<std::string>* t_list_impls = nullptr;

// Builds the reference kernel for the same node (our run-time fallback).
// Unimplemented when there is none.
StatusOr<std::unique_ptr<Kernel>> MakeReference(const KernelBuildContext& context) {
  KernelFactory factory = KernelRegistry::Global().FindReference("", context.node.op_type);
  if (factory == nullptr) return Unimplemented("no reference kernel for " + context.node.op_type);
  return factory(context);
}

// False when some input dtype is known before run time and is not fp32.
bool AllFp32Known(const KernelBuildContext& context) {
  for (DataType d : context.input_dtypes) {
    if (d != DataType::kInvalid && d != DataType::kFp32) return false;
  }
  return true;
}

const Tensor* ConstantInput(const KernelBuildContext& context, size_t i) {
  return i < context.constant_inputs.size() ? context.constant_inputs[i] : nullptr;
}

bool Aligned(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data()) % alignof(float) == 0; }

int64_t Product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

memory::desc Plain(const memory::dims& dims) {
  memory::dims strides(dims.size());
  int64_t s = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(dims[i], 1);
  }
  return memory::desc(dims, dt::f32, strides);
}

// Rows x cols matrix stored transposed (column-major): tag ba.
memory::desc Transposed2D(int64_t rows, int64_t cols) {
  return memory::desc({rows, cols}, dt::f32, memory::dims{1, rows});
}

float* Ptr(const Tensor& t) { return const_cast<float*>(t.data_as<float>()); }

// One cached primitive and, when B is constant and oneDNN chose another
// layout, B reordered into it.
struct Prepared {
  dnnl::matmul primitive;
  memory::desc weights_desc;
  memory::desc scratchpad_desc;
  memory packed_weights;  // empty: wrap the B buffer as is
  bool has_bias = false;
  bool has_binary = false;
};

// Shape-keyed cache of Prepared, bounded; safe for concurrent use.
class PrimitiveCache {
 public:
  // B packed into `desc`: made by `pack` the first time, then shared by
  // every shape whose primitive wants that layout (the layout depends on M
  // only through the kernel oneDNN picks, so batch sizes usually share one).
  template <typename Pack>
  memory PackedWeights(const memory::desc& desc, Pack&& pack) const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [d, m] : packed_) {
        if (d == desc) return m;
      }
    }
    memory made = pack();
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [d, m] : packed_) {
      if (d == desc) return m;
    }
    if (packed_.size() >= kMaxPackedLayouts) packed_.erase(packed_.begin());
    packed_.emplace_back(desc, made);
    return made;
  }

  std::shared_ptr<const Prepared> Find(const std::vector<int64_t>& key) const {
    if (t_list_impls != nullptr) return nullptr;
    return entries_.Find(key);
  }
  // Inserts unless another thread did first; returns the entry in the cache.
  std::shared_ptr<const Prepared> Insert(const std::vector<int64_t>& key,
                                         std::shared_ptr<const Prepared> value) const {
    if (t_list_impls != nullptr) return value;
    return entries_.Insert(key, std::move(value));
  }

  // The tuned oneDNN implementation ("": oneDNN's first); set before use.
  std::string impl;

 private:
  mutable std::mutex mu_;
  ShapeCache<Prepared> entries_{kMaxCacheEntries};
  // Packed copies of a constant B, one per layout (entries hold references
  // too, so an evicted layout lives on while a primitive uses it).
  mutable std::vector<std::pair<memory::desc, memory>> packed_;  // GUARDED_BY(mu_)
};

// Makes the primitive for src/weights/dst (+ optional bias / binary C) and,
// when `constant_b` is set, packs it into the layout oneDNN picks for
// format_tag::any. Throws dnnl::error.
std::shared_ptr<const Prepared> Prepare(const memory::desc& src, const memory::desc& weights,
                                        const memory::desc& dst, const memory::desc* bias,
                                        const memory::desc* binary, float scale,
                                        const Tensor* constant_b, const PrimitiveCache& cache) {
  dnnl::primitive_attr attr;
  // Each call brings its own scratchpad: oneDNN's library-owned one may be
  // shared by concurrent executions of one primitive.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (scale != 1.0f) attr.set_output_scales(0, {scale});
  if (binary != nullptr) {
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_add, *binary);
    attr.set_post_ops(ops);
  }
  const memory::desc no_bias;
  auto make = [&](const memory::desc& wd) {
    dnnl::matmul::desc d(src, wd, bias ? *bias : no_bias, dst);
    return MakePrimitiveDesc<dnnl::matmul::primitive_desc>(d, attr, cache.impl, t_list_impls);
  };
  auto out = std::make_shared<Prepared>();
  dnnl::matmul::primitive_desc pd;
  bool packed = false;
  if (constant_b != nullptr) {
    try {
      pd = make(memory::desc(weights.dims(), dt::f32, tag::any));
      packed = pd.weights_desc() != weights;
    } catch (const dnnl::error&) {
      pd = make(weights);  // no layout choice: use B as it is
    }
  } else {
    pd = make(weights);
  }
  if (packed) {
    out->packed_weights = cache.PackedWeights(pd.weights_desc(), [&] {
      memory packed(pd.weights_desc(), CpuEngine());
      memory plain(weights, CpuEngine(), Ptr(*constant_b));
      dnnl::reorder(plain, packed).execute(CpuStream(), plain, packed);
      CpuStream().wait();
      return packed;
    });
  }
  out->weights_desc = pd.weights_desc();
  out->scratchpad_desc = pd.scratchpad_desc();
  out->primitive = dnnl::matmul(pd);
  out->has_bias = bias != nullptr;
  out->has_binary = binary != nullptr;
  return out;
}

Status Execute(const Prepared& p, const memory::desc& src_desc, const Tensor& a,
               const memory::desc& weights_desc, const Tensor& b, const memory::desc& dst_desc,
               Tensor& y, const memory::desc* c_desc, const float* c_data) {
  std::unordered_map<int, memory> args;
  args.emplace(DNNL_ARG_SRC, memory(src_desc, CpuEngine(), Ptr(a)));
  if (p.packed_weights) {
    args.emplace(DNNL_ARG_WEIGHTS, p.packed_weights);
  } else {
    args.emplace(DNNL_ARG_WEIGHTS, memory(weights_desc, CpuEngine(), Ptr(b)));
  }
  args.emplace(DNNL_ARG_DST, memory(dst_desc, CpuEngine(), y.mutable_data_as<float>()));
  if (c_desc != nullptr) {
    memory c(*c_desc, CpuEngine(), const_cast<float*>(c_data));
    args.emplace(p.has_bias ? DNNL_ARG_BIAS : (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1),
                 c);
  }
  Tensor scratch_bytes;
  if (p.scratchpad_desc.get_size() != 0) {
    args.emplace(DNNL_ARG_SCRATCHPAD, TempMemory(p.scratchpad_desc, &scratch_bytes));
  }
  dnnl::stream& stream = CpuStream();
  p.primitive.execute(stream, args);
  stream.wait();
  return Status::Ok();
}

std::vector<int64_t> KeyOf(std::initializer_list<const memory::dims*> parts) {
  std::vector<int64_t> key;
  for (const memory::dims* d : parts) {
    key.push_back(static_cast<int64_t>(d->size()));
    key.insert(key.end(), d->begin(), d->end());
  }
  return key;
}

// ---------------------------------------------------------------------------
// State both kernels share: the reference fallback, the thread budget, the
// constant B (packed per shape through the cache) and the primitive cache.
// ---------------------------------------------------------------------------

class DnnlMatMulBase : public Kernel {
 protected:
  DnnlMatMulBase(std::unique_ptr<Kernel> reference, int threads, const Tensor* constant_b,
                 const MatMulPrecision& precision, bool trans_b, float alpha, std::string impl)
      : reference_(std::move(reference)), threads_(threads) {
    if (constant_b != nullptr && constant_b->dtype() == DataType::kFp32 && Aligned(*constant_b)) {
      constant_b_ = *constant_b;
      has_constant_b_ = true;
      reduced_ = ReducedMatMul::Create(precision, *constant_b, trans_b, alpha,
                                       dnnl::algorithm::undef);
    }
    cache_.impl = std::move(impl);
  }

  // The BF16 / INT8 product when this node has one and B is the constant.
  const ReducedMatMul* Reduced(const Tensor& b) const {
    return reduced_ != nullptr && b.data() == constant_b_.data() &&
                   b.shape() == constant_b_.shape()
               ? reduced_.get()
               : nullptr;
  }

 public:
  // The implementations oneDNN offers for these inputs, its first choice
  // first; none when there is no choice (or the reference would run).
  std::vector<TuningCandidate> TuningCandidates(
      std::span<const Tensor* const> inputs) const override {
    std::vector<std::string> impls;
    std::vector<Tensor> outputs(1);
    t_list_impls = &impls;
    const int64_t fallbacks = g_fallbacks.load();
    Status ran = Run(inputs, outputs);
    t_list_impls = nullptr;
    if (!ran.ok() || g_fallbacks.load() != fallbacks || impls.size() < 2) return {};
    std::vector<TuningCandidate> out = {{"", "default (" + impls[0] + ")"}};
    for (size_t i = 1; i < impls.size(); ++i) out.push_back({"impl=" + impls[i], impls[i]});
    return out;
  }
  std::string AppliedTuning() const override {
    return cache_.impl.empty() ? "" : "impl=" + cache_.impl;
  }

 protected:

  Status Fallback(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const {
    g_fallbacks.fetch_add(1, std::memory_order_relaxed);
    return reference_->Run(inputs, outputs);
  }

  std::unique_ptr<Kernel> reference_;
  int threads_;
  Tensor constant_b_;
  bool has_constant_b_ = false;
  std::unique_ptr<ReducedMatMul> reduced_;  // null: FP32
  PrimitiveCache cache_;
};

// ---------------------------------------------------------------------------
// MatMul
// ---------------------------------------------------------------------------

class DnnlMatMulKernel final : public DnnlMatMulBase {
 public:
  DnnlMatMulKernel(std::unique_ptr<Kernel> reference, int threads, const Tensor* constant_b,
                   const MatMulPrecision& precision, std::string impl)
      : DnnlMatMulBase(std::move(reference), threads, constant_b, precision, false, 1.0f,
                       std::move(impl)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    SetThreads(threads_);
    if (inputs.size() != 2 || inputs[0] == nullptr || inputs[1] == nullptr ||
        outputs.size() != 1) {
      return Fallback(inputs, outputs);
    }
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    if (a.dtype() != DataType::kFp32 || b.dtype() != DataType::kFp32 || a.shape().empty() ||
        b.shape().empty() || !Aligned(a) || !Aligned(b)) {
      return Fallback(inputs, outputs);
    }
    auto geometry = ref::MatMulShapes(a.shape(), b.shape());
    if (!geometry.ok()) return Fallback(inputs, outputs);  // the reference reports it
    const ref::MatMulGeometry& g = *geometry;
    const Shape& sa = g.a;
    const Shape& sb = g.b;
    const int64_t m = g.m, k = g.k, n = g.n;
    const Shape& batch = g.batch;
    const Shape& batch_a = g.batch_a;
    const Shape& batch_b = g.batch_b;
    const Shape& out_shape = g.out;
    const size_t batch_rank = batch.size();
    if (m == 0 || k == 0 || n == 0 || Product(batch, 0, batch.size()) == 0 ||
        batch_rank + 2 > DNNL_MAX_NDIMS) {
      return Fallback(inputs, outputs);
    }

    memory::dims src_dims, wei_dims, dst_dims;
    if (const ReducedMatMul* r = Reduced(b); r != nullptr && sb.size() == 2) {
      try {
        outputs[0] = Tensor::AllocateDense(DataType::kFp32, out_shape);
        if (r->Run(a.data_as<float>(), Product(sa, 0, sa.size() - 1), false, nullptr, nullptr,
                   outputs[0].mutable_data_as<float>())) {
          return Status::Ok();
        }
      } catch (const dnnl::error& e) {
        return DnnlError(e, "MatMul (reduced precision)");
      }
    }
    if (sb.size() == 2) {
      // B is one matrix: fold A's batch dims into its rows.
      const int64_t rows = Product(sa, 0, sa.size() - 1);
      src_dims = {rows, k};
      wei_dims = {k, n};
      dst_dims = {rows, n};
      // Output has A's batch dims (B has none).
    } else {
      src_dims.assign(batch_a.begin(), batch_a.end());
      src_dims.push_back(m);
      src_dims.push_back(k);
      wei_dims.assign(batch_b.begin(), batch_b.end());
      wei_dims.push_back(k);
      wei_dims.push_back(n);
      dst_dims.assign(batch.begin(), batch.end());
      dst_dims.push_back(m);
      dst_dims.push_back(n);
    }
    try {
      const memory::desc src = Plain(src_dims), wei = Plain(wei_dims), dst = Plain(dst_dims);
      const bool use_constant = has_constant_b_ && b.data() == constant_b_.data() &&
                                b.shape() == constant_b_.shape();
      std::vector<int64_t> key = KeyOf({&src_dims, &wei_dims});
      key.push_back(use_constant ? 1 : 0);
      std::shared_ptr<const Prepared> p = cache_.Find(key);
      if (p == nullptr) {
        p = cache_.Insert(key, Prepare(src, wei, dst, nullptr, nullptr, 1.0f,
                                       use_constant ? &constant_b_ : nullptr, cache_));
      }
      outputs[0] = Tensor::AllocateDense(DataType::kFp32, out_shape);
      return Execute(*p, src, a, wei, b, dst, outputs[0], nullptr, nullptr);
    } catch (const dnnl::error& e) {
      if (e.status == dnnl_unimplemented) return Fallback(inputs, outputs);
      return DnnlError(e, "MatMul");
    }
  }

};

// ---------------------------------------------------------------------------
// Gemm
// ---------------------------------------------------------------------------

class DnnlGemmKernel final : public DnnlMatMulBase {
 public:
  DnnlGemmKernel(std::unique_ptr<Kernel> reference, int threads, float alpha, float beta,
                 bool trans_a, bool trans_b, const Tensor* constant_b, const Tensor* constant_c,
                 const MatMulPrecision& precision, std::string impl)
      : DnnlMatMulBase(std::move(reference), threads, constant_b, precision, trans_b, alpha,
                       std::move(impl)),
        alpha_(alpha),
        beta_(beta),
        trans_a_(trans_a),
        trans_b_(trans_b) {
    if (constant_c != nullptr && constant_c->dtype() == DataType::kFp32) {
      // beta * C, once.
      scaled_c_ = Tensor::AllocateDense(DataType::kFp32, constant_c->shape());
      const size_t count = constant_c->byte_size() / sizeof(float);
      const float* src = constant_c->data_as<float>();
      float* dst = scaled_c_.mutable_data_as<float>();
      for (size_t i = 0; i < count; ++i) {
        float v;
        std::memcpy(&v, src + i, sizeof(float));  // C may be misaligned
        dst[i] = beta_ == 1.0f ? v : beta_ * v;
      }
      constant_c_data_ = constant_c->data();
      has_constant_c_ = true;
    }
  }

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    SetThreads(threads_);
    if (inputs.size() < 2 || inputs.size() > 3 || inputs[0] == nullptr || inputs[1] == nullptr ||
        outputs.size() != 1) {
      return Fallback(inputs, outputs);
    }
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    const Tensor* c = inputs.size() > 2 ? inputs[2] : nullptr;
    if (a.dtype() != DataType::kFp32 || b.dtype() != DataType::kFp32 ||
        (c != nullptr && c->dtype() != DataType::kFp32) || a.shape().size() != 2 ||
        b.shape().size() != 2 || !Aligned(a) || !Aligned(b) || (c && !Aligned(*c))) {
      return Fallback(inputs, outputs);
    }
    const int64_t m = trans_a_ ? a.shape()[1] : a.shape()[0];
    const int64_t k = trans_a_ ? a.shape()[0] : a.shape()[1];
    const int64_t kb = trans_b_ ? b.shape()[1] : b.shape()[0];
    const int64_t n = trans_b_ ? b.shape()[0] : b.shape()[1];
    if (k != kb || m == 0 || n == 0 || k == 0) return Fallback(inputs, outputs);

    // C as oneDNN sees it: {1,1}, {1,N} or {M,N}; other broadcasts expand.
    enum class CKind { kNone, kScalar, kRow, kFull, kExpand };
    CKind kind = CKind::kNone;
    if (c != nullptr) {
      const Shape& cs = c->shape();
      if (cs.size() > 2) return Fallback(inputs, outputs);
      const int64_t c_rows = cs.size() == 2 ? cs[0] : 1;
      const int64_t c_cols = cs.empty() ? 1 : cs.back();
      if ((c_rows != 1 && c_rows != m) || (c_cols != 1 && c_cols != n)) {
        return Fallback(inputs, outputs);  // does not broadcast: the reference says so
      }
      if (c_rows == 1 && c_cols == 1) {
        kind = CKind::kScalar;
      } else if (c_rows == 1 && c_cols == n) {
        kind = CKind::kRow;
      } else if (c_rows == m && c_cols == n) {
        kind = CKind::kFull;
      } else {
        kind = CKind::kExpand;
      }
    }
    // The C values to add (beta applied).
    const float* c_data = nullptr;
    std::vector<float> c_buffer;
    if (c != nullptr) {
      const bool constant = has_constant_c_ && c->data() == constant_c_data_ &&
                            c->shape() == scaled_c_.shape();
      const float* raw = constant ? scaled_c_.data_as<float>() : c->data_as<float>();
      const bool needs_scale = !constant && beta_ != 1.0f;
      if (kind == CKind::kExpand) {
        // [M, 1] (or [M] with N == 1, covered above): expand to [M, N].
        c_buffer.resize(static_cast<size_t>(m * n));
        const int64_t c_cols = c->shape().empty() ? 1 : c->shape().back();
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            const float v = raw[i * c_cols + (c_cols == 1 ? 0 : j)];
            c_buffer[static_cast<size_t>(i * n + j)] = needs_scale ? beta_ * v : v;
          }
        }
        kind = CKind::kFull;
        c_data = c_buffer.data();
      } else if (needs_scale) {
        const size_t count = c->byte_size() / sizeof(float);
        c_buffer.resize(count);
        for (size_t i = 0; i < count; ++i) c_buffer[i] = beta_ * raw[i];
        c_data = c_buffer.data();
      } else {
        c_data = raw;
      }
    }

    if (const ReducedMatMul* r = Reduced(b)) {
      // beta * C as a bias ([N] / [1, N], or a scalar spread over a row) or
      // as an addend of Y's shape.
      std::vector<float> row;
      const float* bias = nullptr;
      const float* addend = nullptr;
      if (kind == CKind::kRow) {
        bias = c_data;
      } else if (kind == CKind::kScalar) {
        row.assign(static_cast<size_t>(n), c_data[0]);
        bias = row.data();
      } else if (kind == CKind::kFull) {
        addend = c_data;
      }
      try {
        outputs[0] = Tensor::AllocateDense(DataType::kFp32, {m, n});
        if (r->Run(a.data_as<float>(), m, trans_a_, bias, addend,
                   outputs[0].mutable_data_as<float>())) {
          return Status::Ok();
        }
      } catch (const dnnl::error& e) {
        return DnnlError(e, "Gemm (reduced precision)");
      }
    }
    try {
      const memory::desc src = trans_a_ ? Transposed2D(m, k) : Plain({m, k});
      const memory::desc wei = trans_b_ ? Transposed2D(k, n) : Plain({k, n});
      const memory::desc dst = Plain({m, n});
      memory::desc c_desc;
      bool use_bias = false;
      if (kind != CKind::kNone) {
        c_desc = Plain(kind == CKind::kScalar ? memory::dims{1, 1}
                       : kind == CKind::kRow  ? memory::dims{1, n}
                                              : memory::dims{m, n});
        use_bias = alpha_ == 1.0f && kind == CKind::kRow;
      }
      const bool use_constant = has_constant_b_ && b.data() == constant_b_.data() &&
                                b.shape() == constant_b_.shape();
      const std::vector<int64_t> key = {m,
                                        k,
                                        n,
                                        static_cast<int64_t>(kind),
                                        use_constant ? 1 : 0};
      std::shared_ptr<const Prepared> p = cache_.Find(key);
      if (p == nullptr) {
        p = cache_.Insert(key, Prepare(src, wei, dst,
                                       kind != CKind::kNone && use_bias ? &c_desc : nullptr,
                                       kind != CKind::kNone && !use_bias ? &c_desc : nullptr,
                                       alpha_, use_constant ? &constant_b_ : nullptr, cache_));
      }
      outputs[0] = Tensor::AllocateDense(DataType::kFp32, {m, n});
      return Execute(*p, src, a, wei, b, dst, outputs[0], kind != CKind::kNone ? &c_desc : nullptr,
                     c_data);
    } catch (const dnnl::error& e) {
      if (e.status == dnnl_unimplemented) return Fallback(inputs, outputs);
      return DnnlError(e, "Gemm");
    }
  }

 private:
  float alpha_;
  float beta_;
  bool trans_a_;
  bool trans_b_;
  Tensor scaled_c_;  // beta * constant C
  const char* constant_c_data_ = nullptr;
  bool has_constant_c_ = false;
};

// The tuned implementation in `params` ("impl=NAME"; "" for none).
StatusOr<std::string> TunedImpl(std::string_view params, std::string_view who) {
  ASSIGN_OR_RETURN(TuningParams parsed, TuningParams::Parse(params));
  RETURN_IF_ERROR(parsed.CheckKeys({"impl"}, who));
  return parsed.Get("impl").value_or("");
}

StatusOr<std::unique_ptr<Kernel>> MakeDnnlMatMul(const KernelBuildContext& context) {
  if (!AllFp32Known(context)) return Unimplemented("oneDNN MatMul: fp32 only");
  if (context.node.inputs.size() != 2) return Unimplemented("oneDNN MatMul: 2 inputs expected");
  ASSIGN_OR_RETURN(std::string impl, TunedImpl(context.tuning_params, "oneDNN MatMul"));
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, MakeReference(context));
  ASSIGN_OR_RETURN(MatMulPrecision precision, ReadMatMulPrecision(context.node));
  return std::unique_ptr<Kernel>(new DnnlMatMulKernel(
      std::move(reference), context.intra_op_threads, ConstantInput(context, 1), precision,
      std::move(impl)));
}

StatusOr<std::unique_ptr<Kernel>> MakeDnnlGemm(const KernelBuildContext& context) {
  if (!AllFp32Known(context)) return Unimplemented("oneDNN Gemm: fp32 only");
  const size_t arity = context.node.inputs.size();
  if (arity < 2 || arity > 3) return Unimplemented("oneDNN Gemm: 2 or 3 inputs expected");
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, MakeReference(context));
  const Node& node = context.node;
  ASSIGN_OR_RETURN(float alpha, node.GetFloat("alpha", 1.0f));
  ASSIGN_OR_RETURN(float beta, node.GetFloat("beta", 1.0f));
  ASSIGN_OR_RETURN(int64_t trans_a, node.GetInt("transA", 0));
  ASSIGN_OR_RETURN(int64_t trans_b, node.GetInt("transB", 0));
  ASSIGN_OR_RETURN(MatMulPrecision precision, ReadMatMulPrecision(node));
  ASSIGN_OR_RETURN(std::string impl, TunedImpl(context.tuning_params, "oneDNN Gemm"));
  return std::unique_ptr<Kernel>(new DnnlGemmKernel(
      std::move(reference), context.intra_op_threads, alpha, beta, trans_a != 0, trans_b != 0,
      ConstantInput(context, 1), ConstantInput(context, 2), precision, std::move(impl)));
}

NEREID_REGISTER_KERNEL_PRIORITY("", "MatMul", MakeDnnlMatMul, 10);
NEREID_REGISTER_KERNEL_PRIORITY("", "Gemm", MakeDnnlGemm, 10);

}  // namespace

int64_t DnnlMatMulFallbackCountForTesting() { return g_fallbacks.load(); }

}  // namespace nereid::engine::cpu
