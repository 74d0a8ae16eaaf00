// `--precision best`: which precision runs one node fastest. The node is
// built in each candidate precision with the kernel registry's factories
// (as a plan would build it) and timed on random inputs of the shapes the
// calibration run observed, with the batch dimension set to 1.
//
// INT8 convolutions with 4-D weights are timed in the form an INT8 chain
// (chain_int8.h) runs them: quantized NHWC input, residual and output. That
// is the form they take when their neighbours are INT8 too, which is what
// "best" converges to on a CPU where INT8 wins; a layer whose neighbours stay
// FP32 pays one conversion that this timing does not include.
//
// Thread safety: reads the graph; builds and runs private kernels.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/ir/graph.h"

namespace nereid::engine {

struct PrecisionTiming {
  // "fp32", "bf16", "int8" (chained form where it applies) or
  // "int8-unchained" (FP32 in and out)
  std::string precision;
  double ms = 0;          // median per run; < 0: could not be built or run
};

// Times `candidates` (copies of one node of `graph`, each with its precision
// attributes set, labelled by precision). `shapes` holds the observed
// shape of every computed input of the node. Returns one timing per
// candidate, in order.
StatusOr<std::vector<PrecisionTiming>> TimePrecisions(
    const Graph& graph, const std::vector<std::pair<std::string, Node>>& candidates,
    const std::map<int, Shape>& shapes, int threads);

}  // namespace nereid::engine
