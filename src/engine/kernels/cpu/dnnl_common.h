// Shared oneDNN helpers for the optimized CPU kernels (kernels/cpu/).
//
// One CPU engine for the process (oneDNN engines are cheap but primitives are
// tied to the engine they were made for, so every kernel uses this one), a
// per-thread stream, dims/dtype conversion, the per-Run thread budget and
// the conversion of dnnl::error (an exception) into a Status.
//
// Thread safety: every function is safe to call concurrently. CpuEngine()
// is created on first use and never destroyed. CpuStream() returns a stream
// owned by the calling thread (in-order CPU streams execute synchronously;
// one per thread avoids sharing one stream object across threads).
#pragma once

#include <dnnl.hpp>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"
#include "engine/kernels/kernel.h"

namespace nereid::engine::cpu {

// The process-wide oneDNN CPU engine.
const dnnl::engine& CpuEngine();

// A stream on CpuEngine() owned by the calling thread.
dnnl::stream& CpuStream();

// Shape -> oneDNN dims (same values, int64).
dnnl::memory::dims ToDims(const Shape& shape);

// Conv weights [OC, IC/g, k...] as oneDNN takes them: as they are for
// group 1, else [g, OC/g, IC/g, k...].
dnnl::memory::dims ConvWeightDims(const Shape& ws, int64_t group);

// Nereid dtype -> oneDNN data type; data_type::undef when oneDNN has none.
dnnl::memory::data_type ToDnnlType(DataType dtype);

// Plain (dense row-major) format tag for `rank` 1..6 (a, ab, abc, ...);
// format_tag::undef otherwise. For activations, abcd == nchw etc.
dnnl::memory::format_tag PlainTag(size_t rank);

// A oneDNN memory for `md` (a scratchpad, a reorder buffer) whose bytes come
// from Tensor::Allocate, so the runtime's per-shape memory plan places them
// in its arena instead of a fresh heap allocation per call. `holder` keeps
// the bytes alive; it must outlive every use of the returned memory.
dnnl::memory TempMemory(const dnnl::memory::desc& md, Tensor* holder);

// The per-kernel cache of compiled entries (primitive + descriptors) keyed by
// shapes and whatever else decides the primitive: at most `capacity`
// entries, the oldest evicted first. GetOrCreate calls `create` outside the
// lock on a miss (two threads may both create; the first insert wins and
// both get it), so primitive creation never serializes other shapes' runs.
template <typename Entry>
class ShapeCache {
 public:
  explicit ShapeCache(size_t capacity = 16) : capacity_(capacity) {}

  std::shared_ptr<const Entry> Find(const std::vector<int64_t>& key) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second;
  }
  // Inserts unless another thread did first; returns the entry in the cache.
  std::shared_ptr<const Entry> Insert(const std::vector<int64_t>& key,
                                      std::shared_ptr<const Entry> value) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = entries_.emplace(key, std::move(value));
    if (inserted) {
      order_.push_back(key);
      while (order_.size() > capacity_) {
        entries_.erase(order_.front());
        order_.pop_front();
      }
    }
    return it->second;
  }
  template <typename Create>
  std::shared_ptr<const Entry> GetOrCreate(const std::vector<int64_t>& key,
                                           Create&& create) const {
    if (auto found = Find(key)) return found;
    return Insert(key, create());
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  mutable std::map<std::vector<int64_t>, std::shared_ptr<const Entry>> entries_;  // GUARDED_BY(mu_)
  mutable std::deque<std::vector<int64_t>> order_;  // insertion order, GUARDED_BY(mu_)
};

// Sets the OpenMP thread count of the calling thread (call at the start of
// every Run with the kernel's intra_op_threads; values < 1 count as 1).
void SetThreads(int threads);

// True for oneDNN's reference implementations ("ref...", "ref_int8:any"):
// what oneDNN answers for problems its JIT kernels lack, 100-300x slower.
// Kernels refuse them and try another layout, or fall back.
inline bool IsReferenceImplName(std::string_view impl_info) {
  return impl_info.rfind("ref", 0) == 0;
}
template <typename PrimitiveDesc>
bool IsReferenceImpl(const PrimitiveDesc& pd) {
  return IsReferenceImplName(pd.impl_info_str());
}

// Auto-tuning (engine/kernels/tuning.h): the primitive descriptor of
// `op_desc` at the oneDNN implementation named `impl` (impl_info_str(), e.g.
// "jit:avx512_core"), or at oneDNN's first choice when `impl` is "" or not
// offered for this problem. With `impls`, also lists the implementations
// offered, first choice first, reference ones ("ref...") left out. oneDNN
// 2.x's implementation iterator points at `op_desc`, so it is walked only
// here, while `op_desc` lives. Throws dnnl::error like the PD constructor.
template <typename PrimitiveDesc, typename OpDesc>
PrimitiveDesc MakePrimitiveDesc(const OpDesc& op_desc, const dnnl::primitive_attr& attr,
                                const std::string& impl, std::vector<std::string>* impls) {
  PrimitiveDesc pd(op_desc, attr, CpuEngine());
  if (!impl.empty()) {
    while (pd.impl_info_str() != impl) {
      if (!pd.next_impl()) {
        pd = PrimitiveDesc(op_desc, attr, CpuEngine());
        break;
      }
    }
  }
  if (impls != nullptr) {
    impls->clear();
    PrimitiveDesc all(op_desc, attr, CpuEngine());
    do {
      std::string name = all.impl_info_str();
      if (!IsReferenceImplName(name)) impls->push_back(std::move(name));
    } while (all.next_impl());
  }
  return pd;
}

// A Status for a caught dnnl::error, message "oneDNN <what>: <e.what()>":
// Unimplemented for dnnl_unimplemented (so a factory can fall back to the
// reference kernel), InvalidArgument for dnnl_invalid_arguments, Internal
// for everything else.
Status DnnlError(const dnnl::error& e, std::string_view what);

}  // namespace nereid::engine::cpu
