// Plan files: a compiled plan on disk (docs/plan_format.md is the
// reference; this header is the code).
//
//   header (64 bytes): magic "NEREIDPL", format version, section count,
//                      file size, CRC-32C of header + section table
//   section table:     per section: tag, CRC-32C, offset, size (32 bytes)
//   sections, each 64-byte aligned:
//     META  engine version, oneDNN version, CPU features required/compiled on
//     OPTS  compile options: precision, calibration, tuning budget, shape
//           profile, passes applied
//     GRPH  the optimized graph (runtime/graph_codec.h)
//     KERN  per node: the kernel factory's priority and a parameter blob
//     WGHT  initializer bytes, each 64-byte aligned
//
// Decoding checks in this order, each failure a precise error: size and
// magic, format version, declared file size (truncation), header checksum,
// META's checksum, engine version and CPU features (FailedPrecondition:
// the file is fine but not for this engine or CPU), then every other
// section's checksum before any of it is parsed, and the parsers
// bounds-check everything (byte_codec.h).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/ir/graph.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {

inline constexpr std::string_view kPlanMagic = "NEREIDPL";
inline constexpr uint32_t kPlanFormatVersion = 1;
inline constexpr size_t kPlanHeaderBytes = 64;
inline constexpr size_t kPlanSectionEntryBytes = 32;

// The engine version plans record and must match to load. Bump it whenever
// a change makes stored graphs mean something else: a pass's output, a
// nereid.* op's attributes, a kernel's reading of them.
inline constexpr std::string_view kEngineVersion = "0.1.1";

// "2.6.3": the oneDNN library this process runs on.
std::string OneDnnVersion();

// A decoded plan file.
struct PlanFile {
  PlanInfo info;
  Graph graph;
};

// The file bytes of `graph` (optimized, with its initializers) and `info`
// (whose engine version and CPU requirements are written as given).
StatusOr<std::string> EncodePlanFile(const Graph& graph, const PlanInfo& info);

// Decodes `bytes`, which must be 64-byte aligned and stay valid while
// `owner` lives (the graph's initializers point into them), checking the
// plan's requirements against `cpu_features`.
StatusOr<PlanFile> DecodePlanFile(std::string_view bytes, const std::shared_ptr<const void>& owner,
                                  const std::vector<std::string>& cpu_features);

// One entry of the section table.
struct PlanSection {
  std::string tag;  // "META", "GRPH", ...
  uint32_t crc = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
};

// The section table after the header checks (magic, format version, size,
// header checksum, every section inside the file); section checksums are
// not verified here.
StatusOr<std::vector<PlanSection>> ReadPlanSections(std::string_view bytes);

}  // namespace nereid::engine
