// Shape profiles: the input shapes a compiled plan is built for, in
// trtexec's vocabulary (--shapes for one fixed shape per input, or
// --min-shapes / --opt-shapes / --max-shapes for a range).
//
// Text form, as trtexec takes it: "name:1x3x224x224,mask:1x128". The name
// ends at the last ':' (ONNX names such as "input:0" keep their colon).
//
// Thread safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/runtime/plan.h"

namespace nereid::engine {

// Parses "name:1x3x224x224,..." (dims >= 0, each name once). `flag` names
// the option in errors ("--shapes").
StatusOr<std::vector<std::pair<std::string, Shape>>> ParseShapeList(std::string_view text,
                                                                    std::string_view flag);

// A profile from the four options' texts (empty = not given): `fixed`
// alone gives min = opt = max; otherwise min and max must name the same
// inputs, opt defaults to max where it is not given, and each range must
// hold min <= opt <= max dim by dim with equal ranks.
StatusOr<ShapeProfile> MakeShapeProfile(std::string_view fixed, std::string_view min,
                                        std::string_view opt, std::string_view max);

// Checks a profile against the model's inputs: every name is an input, the
// ranks agree and dims the model fixes are the profile's at min and max.
// InvalidArgument naming the input otherwise.
Status CheckShapeProfile(const ShapeProfile& profile, const std::vector<ValueInfo>& inputs);

// InvalidArgument naming the input and its range when `shape` is outside it.
Status CheckShapeInRange(const InputShapeRange& range, const Shape& shape);

// "min [1,3,224,224], opt [4,3,224,224], max [8,3,224,224]", or
// "[1,3,224,224]" for a fixed shape.
std::string DescribeShapeRange(const InputShapeRange& range);

// The "name:AxB,..." text of one of a profile's shapes (what = min/opt/max).
std::string ShapeListText(const ShapeProfile& profile, std::string_view what);

// Per input of the profile: its dims where min == max, -1 where they vary
// (what compilation fixes before shape inference).
std::map<std::string, Shape, std::less<>> FixedDimsOf(const ShapeProfile& profile);

}  // namespace nereid::engine
