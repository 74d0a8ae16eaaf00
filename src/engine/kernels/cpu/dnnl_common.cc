#include "engine/kernels/cpu/dnnl_common.h"

#include <omp.h>

#include <string>

namespace nereid::engine::cpu {

const dnnl::engine& CpuEngine() {
  static const dnnl::engine* const engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& CpuStream() {
  thread_local dnnl::stream stream(CpuEngine());
  return stream;
}

dnnl::memory::dims ToDims(const Shape& shape) {
  return dnnl::memory::dims(shape.begin(), shape.end());
}

dnnl::memory::dims ConvWeightDims(const Shape& ws, int64_t group) {
  if (group == 1) return ToDims(ws);
  dnnl::memory::dims dims = {group, ws[0] / group, ws[1]};
  dims.insert(dims.end(), ws.begin() + 2, ws.end());
  return dims;
}

dnnl::memory::data_type ToDnnlType(DataType dtype) {
  using dt = dnnl::memory::data_type;
  switch (dtype) {
    case DataType::kFp32:
      return dt::f32;
    case DataType::kFp16:
      return dt::f16;
    case DataType::kBf16:
      return dt::bf16;
    case DataType::kInt32:
      return dt::s32;
    case DataType::kInt8:
      return dt::s8;
    case DataType::kUint8:
      return dt::u8;
    default:
      return dt::undef;
  }
}

dnnl::memory::format_tag PlainTag(size_t rank) {
  using tag = dnnl::memory::format_tag;
  switch (rank) {
    case 1:
      return tag::a;
    case 2:
      return tag::ab;
    case 3:
      return tag::abc;
    case 4:
      return tag::abcd;
    case 5:
      return tag::abcde;
    case 6:
      return tag::abcdef;
    default:
      return tag::undef;
  }
}

dnnl::memory TempMemory(const dnnl::memory::desc& md, Tensor* holder) {
  *holder = Tensor::Allocate(DataType::kUint8, {}, md.get_size());
  return dnnl::memory(md, CpuEngine(), holder->mutable_data());
}

void SetThreads(int threads) { omp_set_num_threads(threads < 1 ? 1 : threads); }

Status DnnlError(const dnnl::error& e, std::string_view what) {
  std::string msg = "oneDNN " + std::string(what) + ": " + e.what();
  switch (e.status) {
    case dnnl_unimplemented:
      return Unimplemented(std::move(msg));
    case dnnl_invalid_arguments:
      return InvalidArgument(std::move(msg));
    default:
      return Internal(std::move(msg));
  }
}

}  // namespace nereid::engine::cpu
