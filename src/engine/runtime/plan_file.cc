#include "engine/runtime/plan_file.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "engine/runtime/byte_codec.h"
#include "engine/runtime/cpu_features.h"
#include "engine/runtime/crc32c.h"
#include "engine/runtime/graph_codec.h"

namespace nereid::engine {
namespace {

constexpr size_t kSectionAlignment = 64;
constexpr uint32_t kMaxSections = 64;
// Offsets in the fixed header.
constexpr size_t kVersionAt = 8, kCountAt = 12, kFileSizeAt = 16, kCrcAt = 24;

const char* const kRequiredSections[] = {"META", "OPTS", "GRPH", "KERN", "WGHT"};

template <typename T>
T Load(std::string_view bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(T));
  return v;
}

template <typename T>
void Store(std::string* bytes, size_t at, T v) {
  std::memcpy(bytes->data() + at, &v, sizeof(T));
}

void WriteStrings(const std::vector<std::string>& list, ByteWriter* w) {
  w->U32(static_cast<uint32_t>(list.size()));
  for (const std::string& s : list) w->Str(s);
}

std::vector<std::string> ReadStrings(ByteReader* r) {
  std::vector<std::string> list(r->Count(sizeof(uint64_t)));
  for (std::string& s : list) s = r->Str();
  return list;
}

std::string EncodeMeta(const PlanInfo& info) {
  ByteWriter w;
  w.Str(info.engine_version);
  w.Str(info.onednn_version);
  WriteStrings(info.required_cpu_features, &w);
  WriteStrings(info.compiled_on_cpu_features, &w);
  return std::move(w.bytes());
}

std::string EncodeOptions(const PlanInfo& info) {
  ByteWriter w;
  w.U8(static_cast<uint8_t>(info.precision));
  w.U8(static_cast<uint8_t>(info.calibrator));
  w.Str(info.calibration_data);
  w.I64(info.tuning_budget_ms);
  w.U8(info.optimize ? 1 : 0);
  WriteStrings(info.disabled_passes, &w);
  w.U32(static_cast<uint32_t>(info.passes.size()));
  for (const PlanInfo::Pass& p : info.passes) {
    w.Str(p.name);
    w.I32(p.rewrites);
  }
  w.U32(static_cast<uint32_t>(info.shape_profile.size()));
  for (const InputShapeRange& r : info.shape_profile) {
    w.Str(r.name);
    w.Dims(r.min);
    w.Dims(r.opt);
    w.Dims(r.max);
  }
  return std::move(w.bytes());
}

std::string EncodeKernels(const PlanInfo& info) {
  ByteWriter w;
  w.U32(static_cast<uint32_t>(info.kernels.size()));
  for (const PlanInfo::KernelChoice& k : info.kernels) {
    w.Str(k.node);
    w.Str(k.op_type);
    w.I32(k.priority);
    w.Str(k.params);
  }
  return std::move(w.bytes());
}

Status DecodeMeta(std::string_view bytes, PlanInfo* info) {
  ByteReader r(bytes, "plan section META");
  info->engine_version = r.Str();
  info->onednn_version = r.Str();
  info->required_cpu_features = ReadStrings(&r);
  info->compiled_on_cpu_features = ReadStrings(&r);
  if (r.ok() && !r.at_end()) r.Fail("unexpected bytes at the end");
  return r.status();
}

Status DecodeOptions(std::string_view bytes, PlanInfo* info) {
  ByteReader r(bytes, "plan section OPTS");
  const uint8_t precision = r.U8();
  const uint8_t calibrator = r.U8();
  if (r.ok() && precision > static_cast<uint8_t>(Precision::kBest)) r.Fail("unknown precision");
  if (r.ok() && calibrator > static_cast<uint8_t>(Calibrator::kEntropy)) {
    r.Fail("unknown calibrator");
  }
  info->precision = static_cast<Precision>(precision);
  info->calibrator = static_cast<Calibrator>(calibrator);
  info->calibration_data = r.Str();
  info->tuning_budget_ms = r.I64();
  info->optimize = r.U8() != 0;
  info->disabled_passes = ReadStrings(&r);
  info->passes.resize(r.Count(12));
  for (PlanInfo::Pass& p : info->passes) {
    p.name = r.Str();
    p.rewrites = r.I32();
  }
  info->shape_profile.resize(r.Count(20));
  for (InputShapeRange& range : info->shape_profile) {
    range.name = r.Str();
    range.min = r.Dims(0);
    range.opt = r.Dims(0);
    range.max = r.Dims(0);
    if (r.ok() && (range.min.size() != range.max.size() || range.opt.size() != range.max.size())) {
      r.Fail("the shape range of '" + range.name + "' mixes ranks");
    }
  }
  if (r.ok() && !r.at_end()) r.Fail("unexpected bytes at the end");
  return r.status();
}

Status DecodeKernels(std::string_view bytes, PlanInfo* info) {
  ByteReader r(bytes, "plan section KERN");
  info->kernels.resize(r.Count(28));
  for (PlanInfo::KernelChoice& k : info->kernels) {
    k.node = r.Str();
    k.op_type = r.Str();
    k.priority = r.I32();
    k.params = r.Str();
  }
  if (r.ok() && !r.at_end()) r.Fail("unexpected bytes at the end");
  return r.status();
}

const PlanSection* Find(const std::vector<PlanSection>& sections, std::string_view tag) {
  for (const PlanSection& s : sections) {
    if (s.tag == tag) return &s;
  }
  return nullptr;
}

std::string Hex(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof(text), "%08x", v);
  return text;
}

Status CheckSection(std::string_view bytes, const PlanSection& s) {
  const uint32_t crc = Crc32c(bytes.data() + s.offset, s.size);
  if (crc == s.crc) return Status::Ok();
  return InvalidArgument("plan section " + s.tag + " is corrupt (CRC-32C " + Hex(crc) +
                         ", the table says " + Hex(s.crc) + ")");
}

std::string_view Payload(std::string_view bytes, const PlanSection& s) {
  return bytes.substr(s.offset, s.size);
}

}  // namespace

std::string OneDnnVersion() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

StatusOr<std::string> EncodePlanFile(const Graph& graph, const PlanInfo& info) {
  ByteWriter structure, weights;
  EncodeGraph(graph, &structure, &weights);
  const std::vector<std::pair<const char*, std::string>> payloads = {
      {"META", EncodeMeta(info)},
      {"OPTS", EncodeOptions(info)},
      {"GRPH", std::move(structure.bytes())},
      {"KERN", EncodeKernels(info)},
      {"WGHT", std::move(weights.bytes())},
  };
  const size_t table_end = kPlanHeaderBytes + payloads.size() * kPlanSectionEntryBytes;
  size_t total = table_end;
  for (const auto& [tag, payload] : payloads) total += payload.size() + kSectionAlignment;
  std::string file;
  file.reserve(total);
  file.resize(table_end, '\0');
  std::memcpy(file.data(), kPlanMagic.data(), kPlanMagic.size());
  Store<uint32_t>(&file, kVersionAt, kPlanFormatVersion);
  Store<uint32_t>(&file, kCountAt, static_cast<uint32_t>(payloads.size()));
  for (size_t i = 0; i < payloads.size(); ++i) {
    file.resize((file.size() + kSectionAlignment - 1) / kSectionAlignment * kSectionAlignment,
                '\0');
    const size_t entry = kPlanHeaderBytes + i * kPlanSectionEntryBytes;
    const std::string& payload = payloads[i].second;
    std::memcpy(file.data() + entry, payloads[i].first, 4);
    Store<uint32_t>(&file, entry + 4, Crc32c(payload.data(), payload.size()));
    Store<uint64_t>(&file, entry + 8, file.size());
    Store<uint64_t>(&file, entry + 16, payload.size());
    file += payload;
  }
  Store<uint64_t>(&file, kFileSizeAt, file.size());
  // The header checksum covers the header (its own field as zero) and the table.
  Store<uint32_t>(&file, kCrcAt, Crc32c(file.data(), table_end));
  return file;
}

StatusOr<std::vector<PlanSection>> ReadPlanSections(std::string_view bytes) {
  const size_t prefix = std::min(bytes.size(), kPlanMagic.size());
  if (bytes.substr(0, prefix) != kPlanMagic.substr(0, prefix)) {
    return InvalidArgument("not a Nereid plan file (no NEREIDPL magic at its start)");
  }
  if (bytes.size() < kPlanHeaderBytes) {
    return InvalidArgument("truncated plan file: " + std::to_string(bytes.size()) +
                           " bytes, less than its " + std::to_string(kPlanHeaderBytes) +
                           "-byte header");
  }
  const uint32_t version = Load<uint32_t>(bytes, kVersionAt);
  if (version != kPlanFormatVersion) {
    return FailedPrecondition("plan file format version " + std::to_string(version) +
                              "; this nereid reads version " + std::to_string(kPlanFormatVersion) +
                              " (recompile the model)");
  }
  const uint64_t file_size = Load<uint64_t>(bytes, kFileSizeAt);
  if (bytes.size() < file_size) {
    return InvalidArgument("truncated plan file: " + std::to_string(bytes.size()) +
                           " bytes of the " + std::to_string(file_size) + " its header declares");
  }
  if (bytes.size() > file_size) {
    return InvalidArgument("plan file has " + std::to_string(bytes.size() - file_size) +
                           " unexpected bytes after the " + std::to_string(file_size) +
                           " its header declares");
  }
  const uint32_t count = Load<uint32_t>(bytes, kCountAt);
  if (count == 0 || count > kMaxSections ||
      kPlanHeaderBytes + uint64_t{count} * kPlanSectionEntryBytes > bytes.size()) {
    return InvalidArgument("plan header is corrupt (section count " + std::to_string(count) + ")");
  }
  const size_t table_end = kPlanHeaderBytes + count * kPlanSectionEntryBytes;
  std::string header(bytes.substr(0, table_end));
  Store<uint32_t>(&header, kCrcAt, 0);
  const uint32_t crc = Crc32c(header.data(), header.size());
  if (crc != Load<uint32_t>(bytes, kCrcAt)) {
    return InvalidArgument("plan header is corrupt (CRC-32C " + Hex(crc) + ", stored " +
                           Hex(Load<uint32_t>(bytes, kCrcAt)) + ")");
  }
  std::vector<PlanSection> sections;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t entry = kPlanHeaderBytes + i * kPlanSectionEntryBytes;
    PlanSection s;
    s.tag.assign(bytes.data() + entry, 4);
    s.crc = Load<uint32_t>(bytes, entry + 4);
    s.offset = Load<uint64_t>(bytes, entry + 8);
    s.size = Load<uint64_t>(bytes, entry + 16);
    if (s.offset < table_end || s.offset % kSectionAlignment != 0 || s.offset > bytes.size() ||
        s.size > bytes.size() - s.offset) {
      return InvalidArgument("plan section table is corrupt (section " + s.tag +
                             " lies outside the file)");
    }
    sections.push_back(std::move(s));
  }
  // Sections may not overlap, and the padding between them must be zero:
  // then every byte of the file is either checksummed or checked.
  std::vector<const PlanSection*> by_offset;
  for (const PlanSection& s : sections) by_offset.push_back(&s);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const PlanSection* a, const PlanSection* b) { return a->offset < b->offset; });
  uint64_t end = table_end;
  for (const PlanSection* s : by_offset) {
    if (s->offset < end) {
      return InvalidArgument("plan section table is corrupt (section " + s->tag +
                             " overlaps another)");
    }
    for (uint64_t at = end; at < s->offset; ++at) {
      if (bytes[at] != '\0') {
        return InvalidArgument("plan file is corrupt (non-zero padding at byte " +
                               std::to_string(at) + ")");
      }
    }
    end = s->offset + s->size;
  }
  if (end != bytes.size()) {
    return InvalidArgument("plan file is corrupt (" + std::to_string(bytes.size() - end) +
                           " bytes after its last section)");
  }
  for (const char* tag : kRequiredSections) {
    if (Find(sections, tag) == nullptr) {
      return InvalidArgument(std::string("plan file has no ") + tag + " section");
    }
  }
  return sections;
}

StatusOr<PlanFile> DecodePlanFile(std::string_view bytes, const std::shared_ptr<const void>& owner,
                                  const std::vector<std::string>& cpu_features) {
  ASSIGN_OR_RETURN(std::vector<PlanSection> sections, ReadPlanSections(bytes));
  PlanFile plan;
  const PlanSection& meta = *Find(sections, "META");
  RETURN_IF_ERROR(CheckSection(bytes, meta));
  RETURN_IF_ERROR(DecodeMeta(Payload(bytes, meta), &plan.info));
  if (plan.info.engine_version != kEngineVersion) {
    return FailedPrecondition("plan was compiled by engine version " + plan.info.engine_version +
                              "; this nereid's engine is version " + std::string(kEngineVersion) +
                              " (recompile the model with this nereid)");
  }
  std::vector<std::string> missing =
      MissingCpuFeatures(plan.info.required_cpu_features, cpu_features);
  if (!missing.empty()) {
    return FailedPrecondition(
        "plan needs CPU features this CPU lacks: " + JoinCpuFeatures(missing) +
        " (plan compiled on a CPU with: " + JoinCpuFeatures(plan.info.compiled_on_cpu_features) +
        "; this CPU has: " + JoinCpuFeatures(cpu_features) + "); recompile it on this machine");
  }
  for (const PlanSection& s : sections) {
    if (&s != &meta) RETURN_IF_ERROR(CheckSection(bytes, s));
  }
  RETURN_IF_ERROR(DecodeOptions(Payload(bytes, *Find(sections, "OPTS")), &plan.info));
  RETURN_IF_ERROR(DecodeKernels(Payload(bytes, *Find(sections, "KERN")), &plan.info));
  ByteReader structure(Payload(bytes, *Find(sections, "GRPH")), "plan section GRPH");
  ASSIGN_OR_RETURN(plan.graph,
                   DecodeGraph(&structure, Payload(bytes, *Find(sections, "WGHT")), owner));
  if (plan.info.kernels.size() != plan.graph.nodes.size()) {
    return InvalidArgument("plan section KERN lists " + std::to_string(plan.info.kernels.size()) +
                           " kernels for " + std::to_string(plan.graph.nodes.size()) + " nodes");
  }
  plan.info.loaded_from_file = true;
  return plan;
}

}  // namespace nereid::engine
