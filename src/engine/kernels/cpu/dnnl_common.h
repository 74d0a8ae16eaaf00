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

#include <string_view>

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

// Sets the OpenMP thread count of the calling thread (call at the start of
// every Run with the kernel's intra_op_threads; values < 1 count as 1).
void SetThreads(int threads);

// A Status for a caught dnnl::error, message "oneDNN <what>: <e.what()>":
// Unimplemented for dnnl_unimplemented (so a factory can fall back to the
// reference kernel), InvalidArgument for dnnl_invalid_arguments, Internal
// for everything else.
Status DnnlError(const dnnl::error& e, std::string_view what);

}  // namespace nereid::engine::cpu
