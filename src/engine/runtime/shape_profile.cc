#include "engine/runtime/shape_profile.h"

#include <algorithm>
#include <charconv>

namespace nereid::engine {
namespace {

StatusOr<Shape> ParseDims(std::string_view text, std::string_view flag, const std::string& name) {
  Shape dims;
  auto bad = [&](std::string_view why) {
    return InvalidArgument(std::string(flag) + ": input '" + name + "': " + std::string(why) +
                           " in '" + std::string(text) + "' (expected dims like 1x3x224x224)");
  };
  if (text.empty()) return bad("no dimensions");
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find('x', start), text.size());
    const std::string_view part = text.substr(start, end - start);
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size()) {
      return bad("'" + std::string(part) + "' is not a dimension");
    }
    if (value < 0) return bad("dimension " + std::to_string(value) + " is negative");
    dims.push_back(value);
    if (dims.size() > 64) return bad("more than 64 dimensions");
    start = end + 1;
  }
  return dims;
}

}  // namespace

StatusOr<std::vector<std::pair<std::string, Shape>>> ParseShapeList(std::string_view text,
                                                                    std::string_view flag) {
  std::vector<std::pair<std::string, Shape>> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string_view item = text.substr(start, end - start);
    const size_t colon = item.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return InvalidArgument(std::string(flag) + ": '" + std::string(item) +
                             "' is not NAME:DIMS (e.g. input:1x3x224x224)");
    }
    std::string name(item.substr(0, colon));
    ASSIGN_OR_RETURN(Shape dims, ParseDims(item.substr(colon + 1), flag, name));
    for (const auto& [seen, unused] : out) {
      if (seen == name) {
        return InvalidArgument(std::string(flag) + ": input '" + name + "' is given twice");
      }
    }
    out.emplace_back(std::move(name), std::move(dims));
    start = end + 1;
  }
  return out;
}

StatusOr<ShapeProfile> MakeShapeProfile(std::string_view fixed, std::string_view min,
                                        std::string_view opt, std::string_view max) {
  ShapeProfile profile;
  if (!fixed.empty()) {
    if (!min.empty() || !opt.empty() || !max.empty()) {
      return InvalidArgument(
          "--shapes cannot be combined with --min-shapes, --opt-shapes or "
          "--max-shapes");
    }
    ASSIGN_OR_RETURN(auto shapes, ParseShapeList(fixed, "--shapes"));
    for (auto& [name, dims] : shapes) profile.push_back({name, dims, dims, dims});
    return profile;
  }
  if (min.empty() && opt.empty() && max.empty()) return profile;
  if (min.empty() || max.empty()) {
    return InvalidArgument(
        "a shape range needs both --min-shapes and --max-shapes (and "
        "optionally --opt-shapes)");
  }
  ASSIGN_OR_RETURN(auto mins, ParseShapeList(min, "--min-shapes"));
  ASSIGN_OR_RETURN(auto maxs, ParseShapeList(max, "--max-shapes"));
  std::vector<std::pair<std::string, Shape>> opts;
  if (!opt.empty()) {
    ASSIGN_OR_RETURN(opts, ParseShapeList(opt, "--opt-shapes"));
  }
  auto find = [](const auto& list, const std::string& name) -> const Shape* {
    for (const auto& [n, dims] : list) {
      if (n == name) return &dims;
    }
    return nullptr;
  };
  for (const auto& [name, lo] : mins) {
    const Shape* hi = find(maxs, name);
    if (hi == nullptr) {
      return InvalidArgument("input '" + name + "' is in --min-shapes but not in --max-shapes");
    }
    const Shape* mid = find(opts, name);
    profile.push_back({name, lo, mid ? *mid : *hi, *hi});
  }
  for (const auto& [name, dims] : maxs) {
    if (!find(mins, name)) {
      return InvalidArgument("input '" + name + "' is in --max-shapes but not in --min-shapes");
    }
  }
  for (const auto& [name, dims] : opts) {
    if (!find(mins, name)) {
      return InvalidArgument("input '" + name + "' is in --opt-shapes but not in --min-shapes");
    }
  }
  for (const InputShapeRange& r : profile) {
    if (r.min.size() != r.max.size() || r.opt.size() != r.max.size()) {
      return InvalidArgument("input '" + r.name +
                             "': min, opt and max shapes must have the same "
                             "rank (" +
                             DescribeShapeRange(r) + ")");
    }
    for (size_t d = 0; d < r.min.size(); ++d) {
      if (r.min[d] > r.opt[d] || r.opt[d] > r.max[d]) {
        return InvalidArgument("input '" + r.name + "': dimension " + std::to_string(d) +
                               " must satisfy min <= opt <= max (" + DescribeShapeRange(r) + ")");
      }
    }
  }
  return profile;
}

Status CheckShapeProfile(const ShapeProfile& profile, const std::vector<ValueInfo>& inputs) {
  for (const InputShapeRange& r : profile) {
    const ValueInfo* input = nullptr;
    for (const ValueInfo& v : inputs) {
      if (v.name == r.name) input = &v;
    }
    if (input == nullptr) {
      std::string names;
      for (const ValueInfo& v : inputs) names += (names.empty() ? "" : ", ") + v.name;
      return InvalidArgument("shape profile: '" + r.name +
                             "' is not an input of the model "
                             "(inputs: " +
                             names + ")");
    }
    // An input without a known shape (rank unknown) takes any rank.
    if (input->shape.empty() && !r.min.empty()) continue;
    if (input->shape.size() != r.min.size()) {
      return InvalidArgument("shape profile: input '" + r.name + "' has shape " +
                             ShapeToString(input->shape) + " in the model, rank " +
                             std::to_string(input->shape.size()) + ", but the profile gives " +
                             DescribeShapeRange(r));
    }
    for (size_t d = 0; d < r.min.size(); ++d) {
      const int64_t fixed = input->shape[d];
      if (fixed >= 0 && (r.min[d] != fixed || r.max[d] != fixed)) {
        return InvalidArgument("shape profile: input '" + r.name + "' dimension " +
                               std::to_string(d) + " is fixed at " + std::to_string(fixed) +
                               " by the model " + ShapeToString(input->shape) +
                               ", but the profile gives " + DescribeShapeRange(r));
      }
    }
  }
  return Status::Ok();
}

Status CheckShapeInRange(const InputShapeRange& range, const Shape& shape) {
  bool inside = shape.size() == range.min.size();
  for (size_t d = 0; inside && d < shape.size(); ++d) {
    inside = shape[d] >= range.min[d] && shape[d] <= range.max[d];
  }
  if (inside) return Status::Ok();
  return InvalidArgument("input '" + range.name + "': shape " + ShapeToString(shape) +
                         " is outside the plan's shape profile (" + DescribeShapeRange(range) +
                         ")");
}

std::string DescribeShapeRange(const InputShapeRange& range) {
  if (range.min == range.max) return ShapeToString(range.min);
  return "min " + ShapeToString(range.min) + ", opt " + ShapeToString(range.opt) + ", max " +
         ShapeToString(range.max);
}

std::string ShapeListText(const ShapeProfile& profile, std::string_view what) {
  std::string text;
  for (const InputShapeRange& r : profile) {
    const Shape& dims = what == "min" ? r.min : what == "opt" ? r.opt : r.max;
    text += (text.empty() ? "" : ",") + r.name + ":";
    for (size_t d = 0; d < dims.size(); ++d) text += (d ? "x" : "") + std::to_string(dims[d]);
  }
  return text;
}

std::map<std::string, Shape, std::less<>> FixedDimsOf(const ShapeProfile& profile) {
  std::map<std::string, Shape, std::less<>> fixed;
  for (const InputShapeRange& r : profile) {
    Shape dims(r.min.size(), -1);
    for (size_t d = 0; d < r.min.size() && d < r.max.size(); ++d) {
      if (r.min[d] == r.max[d]) dims[d] = r.min[d];
    }
    fixed[r.name] = std::move(dims);
  }
  return fixed;
}

}  // namespace nereid::engine
