// Optimized FP32 Transpose, registered above the reference kernel.
//
// The permutation is first simplified: input dims of size 1 are dropped and
// input dims that stay neighbours in the output are merged, so BERT's
// [1,128,12,64] perm [0,2,1,3] becomes [128,12,64] perm [1,0,2] and
// [1,128,12,64] perm [0,2,3,1] becomes [128,768] perm [1,0]. Then:
//   - nothing left to permute: one parallel copy;
//   - the last input dim stays last: the output is a sequence of contiguous
//     runs of the input, copied with memcpy;
//   - otherwise: a batch of 2-D transposes (the output's last dim against
//     the output dim holding the input's last dim, the remaining dims as
//     batch), done in 16x16 tiles so reads and writes both stay in cache;
//     with AVX-512 each tile is transposed in registers.
// Work (runs, or batch x tile rows) is split across the thread budget.
//
// Fallback: Unimplemented at build time for a known non-FP32 dtype; at run
// time other dtypes and invalid permutations go to the reference kernel
// (which reports the errors).
//
// Thread safety: Run is const and keeps no state.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <optional>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/cpu_util.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/parallel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::cpu {
namespace {

constexpr int64_t kMinChunkElements = 16384;
constexpr int64_t kTile = 16;

// A permutation after dropping size-1 dims and merging neighbours: output
// dim j is input dim perm[j]; dims are the input's.
struct Simplified {
  std::vector<int64_t> dims;
  std::vector<int64_t> perm;
};

Simplified Simplify(const Shape& in, const std::vector<int64_t>& perm) {
  const size_t rank = in.size();
  // Input dims that remain (size != 1), renumbered.
  std::vector<int64_t> renumber(rank, -1);
  int64_t kept = 0;
  for (size_t d = 0; d < rank; ++d) {
    if (in[d] != 1) renumber[d] = kept++;
  }
  std::vector<int64_t> p;  // output order over kept input dims
  std::vector<int64_t> kept_dims;
  for (size_t d = 0; d < rank; ++d) {
    if (in[d] != 1) kept_dims.push_back(in[d]);
  }
  for (int64_t src : perm) {
    if (renumber[src] >= 0) p.push_back(renumber[src]);
  }
  // Group runs of consecutive input dims in output order.
  std::vector<std::pair<int64_t, int64_t>> groups;  // [first, last] input dims
  for (int64_t d : p) {
    if (!groups.empty() && groups.back().second + 1 == d) {
      groups.back().second = d;
    } else {
      groups.emplace_back(d, d);
    }
  }
  // Merged input dims in input order.
  std::vector<size_t> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return groups[a].first < groups[b].first; });
  Simplified s;
  std::vector<int64_t> new_index(groups.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const auto [first, last] = groups[order[k]];
    int64_t size = 1;
    for (int64_t d = first; d <= last; ++d) size *= kept_dims[d];
    s.dims.push_back(size);
    new_index[order[k]] = static_cast<int64_t>(k);
  }
  for (size_t g = 0; g < groups.size(); ++g) s.perm.push_back(new_index[g]);
  return s;
}

// out[i * out_stride + j] = in[i + j * in_stride] for i < ni, j < nj.
void BlockScalar(const float* in, int64_t in_stride, float* out, int64_t out_stride, int64_t ni,
                 int64_t nj) {
  for (int64_t j0 = 0; j0 < nj; j0 += kTile) {
    const int64_t j1 = std::min(nj, j0 + kTile);
    for (int64_t i = 0; i < ni; ++i) {
      for (int64_t j = j0; j < j1; ++j) out[i * out_stride + j] = in[i + j * in_stride];
    }
  }
}

// Transposes the 16x16 tile r[0..15] (r[k] = row k) in registers. (The
// all-lanes zero-masked intrinsics are the plain instructions; their plain
// forms trip GCC 12's maybe-uninitialized warning.)
NEREID_AVX512 inline void Transpose16x16(__m512 r[16]) {
  constexpr __mmask16 kAll = 0xFFFF;
  __m512 t[16];
  // Interleave pairs of rows: 2x2 blocks.
  for (int k = 0; k < 16; k += 2) {
    t[k] = _mm512_maskz_unpacklo_ps(kAll, r[k], r[k + 1]);
    t[k + 1] = _mm512_maskz_unpackhi_ps(kAll, r[k], r[k + 1]);
  }
  // 4x4 blocks inside each 128-bit lane.
  for (int k = 0; k < 16; k += 4) {
    r[k] = _mm512_maskz_shuffle_ps(kAll, t[k], t[k + 2], 0x44);
    r[k + 1] = _mm512_maskz_shuffle_ps(kAll, t[k], t[k + 2], 0xEE);
    r[k + 2] = _mm512_maskz_shuffle_ps(kAll, t[k + 1], t[k + 3], 0x44);
    r[k + 3] = _mm512_maskz_shuffle_ps(kAll, t[k + 1], t[k + 3], 0xEE);
  }
  // Now lane l of r[4a + b] holds column 4l + b of rows 4a..4a+3. Gather
  // lanes: first pairs of row groups (a, a + 1), then (a, a + 2).
  for (int k = 0; k < 4; ++k) {
    t[k] = _mm512_maskz_shuffle_f32x4(kAll, r[k], r[k + 4], 0x88);       // lanes 0,2 of each
    t[k + 4] = _mm512_maskz_shuffle_f32x4(kAll, r[k], r[k + 4], 0xDD);   // lanes 1,3 of each
    t[k + 8] = _mm512_maskz_shuffle_f32x4(kAll, r[k + 8], r[k + 12], 0x88);
    t[k + 12] = _mm512_maskz_shuffle_f32x4(kAll, r[k + 8], r[k + 12], 0xDD);
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm512_maskz_shuffle_f32x4(kAll, t[k], t[k + 8], 0x88);
    r[k + 8] = _mm512_maskz_shuffle_f32x4(kAll, t[k], t[k + 8], 0xDD);
    r[k + 4] = _mm512_maskz_shuffle_f32x4(kAll, t[k + 4], t[k + 12], 0x88);
    r[k + 12] = _mm512_maskz_shuffle_f32x4(kAll, t[k + 4], t[k + 12], 0xDD);
  }
}

NEREID_AVX512 void BlockAvx512(const float* in, int64_t in_stride, float* out, int64_t out_stride,
                               int64_t ni, int64_t nj) {
  for (int64_t j0 = 0; j0 < nj; j0 += kTile) {
    const int64_t nj_tile = std::min(kTile, nj - j0);
    for (int64_t i0 = 0; i0 < ni; i0 += kTile) {
      const int64_t ni_tile = std::min(kTile, ni - i0);
      if (ni_tile < kTile || nj_tile < kTile) {
        for (int64_t i = i0; i < i0 + ni_tile; ++i) {
          for (int64_t j = j0; j < j0 + nj_tile; ++j) out[i * out_stride + j] = in[i + j * in_stride];
        }
        continue;
      }
      __m512 r[16];
      for (int k = 0; k < 16; ++k) r[k] = _mm512_loadu_ps(in + i0 + (j0 + k) * in_stride);
      Transpose16x16(r);
      for (int k = 0; k < 16; ++k) _mm512_storeu_ps(out + (i0 + k) * out_stride + j0, r[k]);
    }
  }
}

class TransposeKernel final : public FallbackKernel {
 public:
  TransposeKernel(std::unique_ptr<Kernel> reference, int threads,
                  std::optional<std::vector<int64_t>> perm)
      : FallbackKernel(std::move(reference), threads), perm_(std::move(perm)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    if (inputs.size() != 1 || outputs.empty() || !IsDenseFp32(inputs[0])) {
      return Fallback(inputs, outputs);
    }
    const Tensor& x = *inputs[0];
    const Shape& in_shape = x.shape();
    const size_t rank = in_shape.size();
    std::vector<int64_t> perm(rank);
    if (perm_) {
      perm = *perm_;
      if (!IsPermutation(perm, rank)) return Fallback(inputs, outputs);  // reference's error
    } else {
      for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(rank - 1 - i);
    }
    Shape out_shape(rank);
    for (size_t d = 0; d < rank; ++d) out_shape[d] = in_shape[perm[d]];
    ASSIGN_OR_RETURN(outputs[0], ref::AllocateOutput(DataType::kFp32, out_shape));
    const int64_t total = ref::NumElements(in_shape);
    if (total == 0) return Status::Ok();
    const float* in = x.data_as<float>();
    float* out = outputs[0].mutable_data_as<float>();
    const Simplified s = Simplify(in_shape, perm);
    const size_t k = s.dims.size();
    if (k <= 1) {
      ParallelFor(total, threads_, kMinChunkElements, [&](int64_t begin, int64_t end) {
        std::memcpy(out + begin, in + begin, static_cast<size_t>(end - begin) * sizeof(float));
      });
      return Status::Ok();
    }
    // Input strides and, per output dim j, its extent and input stride.
    std::vector<int64_t> in_strides(k);
    int64_t stride = 1;
    for (size_t d = k; d-- > 0;) {
      in_strides[d] = stride;
      stride *= s.dims[d];
    }
    std::vector<int64_t> out_dims(k), src_stride(k);
    for (size_t j = 0; j < k; ++j) {
      out_dims[j] = s.dims[s.perm[j]];
      src_stride[j] = in_strides[s.perm[j]];
    }
    if (s.perm[k - 1] == static_cast<int64_t>(k - 1)) {
      CopyRuns(in, out, out_dims, src_stride);
    } else {
      TransposeBlocks(in, out, out_dims, src_stride, s.perm);
    }
    return Status::Ok();
  }

 private:
  // The input's last dim is the output's: copy runs of out_dims.back().
  void CopyRuns(const float* in, float* out, const std::vector<int64_t>& out_dims,
                const std::vector<int64_t>& src_stride) const {
    const size_t k = out_dims.size();
    const int64_t run = out_dims[k - 1];
    const int64_t runs = ref::DimProduct(out_dims, 0, k - 1);
    const int64_t min_runs = std::max<int64_t>(1, kMinChunkElements / run);
    ParallelFor(runs, threads_, min_runs, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> index(k - 1);
      int64_t src = 0;
      int64_t rem = begin;
      for (size_t d = k - 1; d-- > 0;) {
        index[d] = rem % out_dims[d];
        rem /= out_dims[d];
        src += index[d] * src_stride[d];
      }
      for (int64_t r = begin; r < end; ++r) {
        std::memcpy(out + r * run, in + src, static_cast<size_t>(run) * sizeof(float));
        for (size_t d = k - 1; d-- > 0;) {
          src += src_stride[d];
          if (++index[d] < out_dims[d]) break;
          src -= src_stride[d] * out_dims[d];
          index[d] = 0;
        }
      }
    });
  }

  // The output's last dim L (input stride != 1) against output dim q, which
  // is the input's last dim (input stride 1); other dims form the batch.
  void TransposeBlocks(const float* in, float* out, const std::vector<int64_t>& out_dims,
                       const std::vector<int64_t>& src_stride,
                       const std::vector<int64_t>& perm) const {
    const size_t k = out_dims.size();
    const size_t last_in = k - 1;
    size_t q = 0;
    while (static_cast<size_t>(perm[q]) != last_in) ++q;
    std::vector<int64_t> out_strides(k);
    int64_t stride = 1;
    for (size_t j = k; j-- > 0;) {
      out_strides[j] = stride;
      stride *= out_dims[j];
    }
    const int64_t ni = out_dims[q];
    const int64_t nj = out_dims[k - 1];
    const int64_t in_stride_j = src_stride[k - 1];
    const int64_t out_stride_i = out_strides[q];
    // Batch dims: every output dim except q and the last.
    std::vector<int64_t> batch_dims, batch_src, batch_dst;
    for (size_t j = 0; j + 1 < k; ++j) {
      if (j == q) continue;
      batch_dims.push_back(out_dims[j]);
      batch_src.push_back(src_stride[j]);
      batch_dst.push_back(out_strides[j]);
    }
    const int64_t batches = ref::DimProduct(batch_dims, 0, batch_dims.size());
    // Work item: one batch entry x a band of kTile rows of i.
    const int64_t bands = (ni + kTile - 1) / kTile;
    const int64_t min_items = std::max<int64_t>(1, kMinChunkElements / (kTile * nj));
    const bool avx512 = UseAvx512();
    ParallelFor(batches * bands, threads_, min_items, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        int64_t b = item / bands;
        const int64_t i0 = (item % bands) * kTile;
        int64_t src = i0;  // the input's last dim has stride 1
        int64_t dst = i0 * out_stride_i;
        for (size_t d = batch_dims.size(); d-- > 0;) {
          const int64_t idx = b % batch_dims[d];
          b /= batch_dims[d];
          src += idx * batch_src[d];
          dst += idx * batch_dst[d];
        }
        const int64_t rows = std::min(kTile, ni - i0);
        if (avx512) {
          BlockAvx512(in + src, in_stride_j, out + dst, out_stride_i, rows, nj);
        } else {
          BlockScalar(in + src, in_stride_j, out + dst, out_stride_i, rows, nj);
        }
      }
    });
  }

  static bool IsPermutation(const std::vector<int64_t>& perm, size_t rank) {
    if (perm.size() != rank) return false;
    std::vector<bool> seen(rank, false);
    for (int64_t p : perm) {
      if (p < 0 || p >= static_cast<int64_t>(rank) || seen[p]) return false;
      seen[p] = true;
    }
    return true;
  }

  std::optional<std::vector<int64_t>> perm_;
};

StatusOr<std::unique_ptr<Kernel>> MakeTranspose(const KernelBuildContext& context) {
  ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, BuildFp32Reference(context));
  std::optional<std::vector<int64_t>> perm;
  if (context.node.FindAttribute("perm") != nullptr) {
    ASSIGN_OR_RETURN(perm, context.node.GetInts("perm"));
  }
  return std::unique_ptr<Kernel>(
      new TransposeKernel(std::move(reference), context.intra_op_threads, std::move(perm)));
}

NEREID_REGISTER_KERNEL_PRIORITY("", "Transpose", MakeTranspose, 10);

}  // namespace
}  // namespace nereid::engine::cpu
