// Intra-op parallelism for Nereid's own kernels.
//
// Every parallel kernel in the engine runs on one OpenMP thread team per
// calling thread: oneDNN (Debian's build uses the OpenMP runtime) and our own
// loops share it, so a plan never runs two competing pools. The team size is
// the plan's `intra_op_threads` budget, passed explicitly on every call, so
// model instances running on different server threads each get exactly their
// own budget (OpenMP teams are per calling thread).
//
// ParallelFor splits [0, n) into at most `threads` contiguous chunks of at
// least `min_chunk` items and calls fn(begin, end) once per chunk; it runs
// inline (no team) when there is a single chunk, so tiny tensors pay nothing.
// fn must not throw and must be safe to run concurrently on disjoint ranges.
#pragma once

#include <algorithm>
#include <cstdint>

namespace nereid::engine {

template <typename Fn>
void ParallelFor(int64_t n, int threads, int64_t min_chunk, Fn&& fn) {
  if (n <= 0) return;
  min_chunk = std::max<int64_t>(min_chunk, 1);
  const int64_t chunks = std::clamp<int64_t>(n / min_chunk, 1, std::max(threads, 1));
  if (chunks == 1) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = n * c / chunks;
    const int64_t end = n * (c + 1) / chunks;
    fn(begin, end);
  }
}

}  // namespace nereid::engine
