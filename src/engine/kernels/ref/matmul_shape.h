// MatMul's shape rules (numpy matmul), shared by the reference kernel and the
// oneDNN kernel so both accept and reject exactly the same shapes.
#pragma once

#include <algorithm>
#include <string>

#include "common/data_type.h"
#include "common/status.h"

namespace nereid::engine::ref {

struct MatMulGeometry {
  Shape a, b;            // after 1-D promotion: A [K] -> [1, K], B [K] -> [K, 1]
  bool a_vec = false;    // A was 1-D (its added dim is dropped from the output)
  bool b_vec = false;
  int64_t m = 0, k = 0, n = 0;
  Shape batch_a, batch_b;  // batch dims right-aligned and padded with 1 to batch's rank
  Shape batch;             // broadcast batch dims
  Shape out;               // output shape
};

// InvalidArgument for rank-0 inputs, differing inner dims or batch dims that
// do not broadcast.
inline StatusOr<MatMulGeometry> MatMulShapes(const Shape& a, const Shape& b) {
  if (a.empty() || b.empty()) return InvalidArgument("MatMul inputs must have rank >= 1");
  MatMulGeometry g;
  g.a = a;
  g.b = b;
  g.a_vec = a.size() == 1;
  g.b_vec = b.size() == 1;
  if (g.a_vec) g.a.insert(g.a.begin(), 1);
  if (g.b_vec) g.b.push_back(1);
  g.m = g.a[g.a.size() - 2];
  g.k = g.a.back();
  g.n = g.b.back();
  if (g.b[g.b.size() - 2] != g.k) {
    return InvalidArgument("MatMul inner dimensions differ: " + ShapeToString(a) + " x " +
                           ShapeToString(b));
  }
  const size_t rank = std::max(g.a.size(), g.b.size()) - 2;
  g.batch_a.assign(rank, 1);
  g.batch_b.assign(rank, 1);
  g.batch.assign(rank, 1);
  std::copy(g.a.begin(), g.a.end() - 2, g.batch_a.end() - static_cast<ptrdiff_t>(g.a.size() - 2));
  std::copy(g.b.begin(), g.b.end() - 2, g.batch_b.end() - static_cast<ptrdiff_t>(g.b.size() - 2));
  for (size_t i = 0; i < rank; ++i) {
    if (g.batch_a[i] != g.batch_b[i] && g.batch_a[i] != 1 && g.batch_b[i] != 1) {
      return InvalidArgument("MatMul batch dimensions do not broadcast: " + ShapeToString(a) +
                             " x " + ShapeToString(b));
    }
    g.batch[i] = g.batch_a[i] == 1 ? g.batch_b[i] : g.batch_a[i];
  }
  g.out = g.batch;
  if (!g.a_vec) g.out.push_back(g.m);
  if (!g.b_vec) g.out.push_back(g.n);
  return g;
}

}  // namespace nereid::engine::ref
