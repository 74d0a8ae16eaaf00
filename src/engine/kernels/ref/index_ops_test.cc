// Unit tests for the reduction, indexing and shape-manipulation kernels:
// what the ONNX node tests do not cover (bad attributes, bad indices, empty
// tensors, negative axes, int32 index inputs, views).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/numeric.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;

template <typename T>
Tensor T_(DataType dtype, Shape shape, std::vector<T> values) {
  Tensor t = Tensor::AllocateDense(dtype, std::move(shape));
  std::copy(values.begin(), values.end(), t.mutable_data_as<T>());
  return t;
}
Tensor F32(Shape s, std::vector<float> v) { return T_<float>(DataType::kFp32, s, v); }
Tensor I64(Shape s, std::vector<int64_t> v) { return T_<int64_t>(DataType::kInt64, s, v); }
Tensor I32(Shape s, std::vector<int32_t> v) { return T_<int32_t>(DataType::kInt32, s, v); }

template <typename T>
std::vector<T> Vals(const Tensor& t) {
  const T* p = t.data_as<T>();
  return std::vector<T>(p, p + t.byte_size() / sizeof(T));
}

struct OpBuilder {
  Node node;
  int64_t opset = 17;
  size_t outputs = 1;

  explicit OpBuilder(std::string op) { node.op_type = std::move(op); }
  OpBuilder& Int(const std::string& name, int64_t v) {
    Attribute a;
    a.kind = Attribute::Kind::kInt;
    a.i = v;
    node.attributes[name] = a;
    return *this;
  }
  OpBuilder& Ints(const std::string& name, std::vector<int64_t> v) {
    Attribute a;
    a.kind = Attribute::Kind::kInts;
    a.ints = std::move(v);
    node.attributes[name] = a;
    return *this;
  }
  OpBuilder& Str(const std::string& name, std::string v) {
    Attribute a;
    a.kind = Attribute::Kind::kString;
    a.s = std::move(v);
    node.attributes[name] = a;
    return *this;
  }
  OpBuilder& Opset(int64_t v) {
    opset = v;
    return *this;
  }
  OpBuilder& Outputs(size_t n) {
    outputs = n;
    return *this;
  }

  StatusOr<std::unique_ptr<Kernel>> Build(size_t num_inputs) const {
    KernelFactory factory = KernelRegistry::Global().FindReference("", node.op_type);
    if (factory == nullptr) return NotFound("no kernel for " + node.op_type);
    Node n = node;
    n.inputs.assign(num_inputs, 0);
    n.outputs.assign(outputs, 0);
    KernelBuildContext context{n, opset, {}, {}, {}};
    return factory(context);
  }

  StatusOr<std::vector<Tensor>> RunAll(std::vector<const Tensor*> inputs) const {
    ASSIGN_OR_RETURN(auto kernel, Build(inputs.size()));
    std::vector<Tensor> out(outputs);
    RETURN_IF_ERROR(kernel->Run(inputs, out));
    return out;
  }
  StatusOr<Tensor> Run(std::vector<const Tensor*> inputs) const {
    ASSIGN_OR_RETURN(auto out, RunAll(std::move(inputs)));
    return out[0];
  }
};

void ExpectInvalid(const StatusOr<Tensor>& r, const std::string& text = "") {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(text));
}

TEST(IndexOpsTest, AllFamilyOpsAreRegistered) {
  for (const char* op :
       {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "Squeeze",
        "Unsqueeze", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterND",
        "ScatterElements", "Scatter", "Expand", "Tile", "Pad", "Shape", "Size",
        "ConstantOfShape", "Range", "Dropout", "TopK", "CumSum", "NonZero", "Trilu", "OneHot"}) {
    EXPECT_NE(KernelRegistry::Global().Find("", op), nullptr) << op;
  }
}

// ---- Reductions ----

TEST(IndexOpsTest, ReduceSumEmptyAxesReducesAllOrIsNoop) {
  Tensor x = F32({2, 2}, {1, 2, 3, 4});
  Tensor empty = I64({0}, {});
  auto all = OpBuilder("ReduceSum").Int("keepdims", 0).Run({&x, &empty});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->shape(), Shape{});
  EXPECT_EQ(Vals<float>(*all), std::vector<float>{10});
  auto noop = OpBuilder("ReduceSum").Int("noop_with_empty_axes", 1).Run({&x, &empty});
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ(noop->shape(), (Shape{2, 2}));
  EXPECT_EQ(Vals<float>(*noop), (std::vector<float>{1, 2, 3, 4}));
}

TEST(IndexOpsTest, ReduceAcceptsInt32AxesAndNegativeAxes) {
  Tensor x = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor axes = I32({1}, {-1});
  auto y = OpBuilder("ReduceSum").Run({&x, &axes});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), (Shape{2, 1}));
  EXPECT_EQ(Vals<float>(*y), (std::vector<float>{6, 15}));
}

TEST(IndexOpsTest, ReduceRejectsBadAxes) {
  Tensor x = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  ExpectInvalid(OpBuilder("ReduceMax").Ints("axes", {0, -2}).Run({&x}), "repeated");
  ExpectInvalid(OpBuilder("ReduceMax").Ints("axes", {2}).Run({&x}), "out of range");
  Tensor bad = F32({1}, {0});
  ExpectInvalid(OpBuilder("ReduceSum").Run({&x, &bad}), "INT32 or INT64");
  ExpectInvalid(OpBuilder("ReduceMean").Int("keepdims", 2).Run({&x}), "keepdims");
}

TEST(IndexOpsTest, ReduceOverEmptyAxisGivesIdentityValues) {
  Tensor x = F32({0, 2}, {});
  auto sum = OpBuilder("ReduceSum").Int("keepdims", 0).Run({&x, nullptr});
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(Vals<float>(*sum), std::vector<float>{0});
  auto prod = OpBuilder("ReduceProd").Ints("axes", {0}).Run({&x});
  ASSERT_TRUE(prod.ok());
  EXPECT_EQ(Vals<float>(*prod), (std::vector<float>{1, 1}));
  auto max = OpBuilder("ReduceMax").Ints("axes", {0}).Run({&x});
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(Vals<float>(*max)[0], -std::numeric_limits<float>::infinity());
  auto mean = OpBuilder("ReduceMean").Ints("axes", {0}).Run({&x});
  ASSERT_TRUE(mean.ok());
  EXPECT_TRUE(std::isnan(Vals<float>(*mean)[0]));
}

TEST(IndexOpsTest, ReduceIntegerTypesAndLogSumExpStability) {
  Tensor x = I32({3}, {std::numeric_limits<int32_t>::max(), 1, -5});
  auto sum = OpBuilder("ReduceSum").Run({&x, nullptr});
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(Vals<int32_t>(*sum), std::vector<int32_t>{2147483643});
  auto l1 = OpBuilder("ReduceL1").Run({&x});
  ASSERT_TRUE(l1.ok());
  Tensor big = F32({2}, {1000, 1000});
  auto lse = OpBuilder("ReduceLogSumExp").Run({&big});
  ASSERT_TRUE(lse.ok());
  EXPECT_NEAR(Vals<float>(*lse)[0], 1000 + std::log(2.0), 1e-3);
}

TEST(IndexOpsTest, ArgMaxTiesAndErrors) {
  Tensor x = F32({4}, {1, 3, 3, 0});
  auto first = OpBuilder("ArgMax").Run({&x});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Vals<int64_t>(*first), std::vector<int64_t>{1});
  auto last = OpBuilder("ArgMax").Int("select_last_index", 1).Int("keepdims", 0).Run({&x});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->shape(), Shape{});
  EXPECT_EQ(Vals<int64_t>(*last), std::vector<int64_t>{2});
  Tensor empty = F32({0, 2}, {});
  ExpectInvalid(OpBuilder("ArgMin").Run({&empty}), "empty");
  ExpectInvalid(OpBuilder("ArgMin").Int("axis", 5).Run({&x}), "out of range");
  ExpectInvalid(OpBuilder("ArgMin").Int("select_last_index", 3).Run({&x}), "select_last_index");
}

// ---- Squeeze / Unsqueeze ----

TEST(IndexOpsTest, SqueezeAndUnsqueezeAreViews) {
  Tensor x = F32({1, 3, 1}, {1, 2, 3});
  auto sq = OpBuilder("Squeeze").Run({&x});
  ASSERT_TRUE(sq.ok());
  EXPECT_EQ(sq->shape(), Shape{3});
  EXPECT_EQ(sq->data(), x.data());
  Tensor axes = I64({2}, {-1, 0});
  auto un = OpBuilder("Unsqueeze").Run({&x, &axes});
  ASSERT_TRUE(un.ok());
  EXPECT_EQ(un->shape(), (Shape{1, 1, 3, 1, 1}));
  EXPECT_EQ(un->data(), x.data());
  auto old = OpBuilder("Unsqueeze").Opset(11).Ints("axes", {1}).Run({&x});
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->shape(), (Shape{1, 1, 3, 1}));
}

TEST(IndexOpsTest, SqueezeUnsqueezeErrors) {
  Tensor x = F32({1, 3}, {1, 2, 3});
  Tensor one = I64({1}, {1});
  ExpectInvalid(OpBuilder("Squeeze").Run({&x, &one}), "is not 1");
  Tensor dup = I64({2}, {0, -4});  // both name output dim 0 of 4
  ExpectInvalid(OpBuilder("Unsqueeze").Run({&x, &dup}), "repeated");
  Tensor far = I64({1}, {7});
  ExpectInvalid(OpBuilder("Unsqueeze").Run({&x, &far}), "out of range");
  EXPECT_FALSE(OpBuilder("Unsqueeze").Opset(11).Build(1).ok());  // 'axes' required
}

// ---- Split / Slice ----

TEST(IndexOpsTest, SplitSizesAndErrors) {
  Tensor x = F32({5}, {1, 2, 3, 4, 5});
  Tensor sizes = I64({2}, {2, 3});
  auto parts = OpBuilder("Split").Outputs(2).RunAll({&x, &sizes});
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(Vals<float>((*parts)[1]), (std::vector<float>{3, 4, 5}));
  ExpectInvalid(OpBuilder("Split").Outputs(2).Run({&x}), "equal parts");
  Tensor wrong = I64({2}, {2, 2});
  ExpectInvalid(OpBuilder("Split").Outputs(2).Run({&x, &wrong}), "sum to");
  Tensor neg = I64({2}, {-1, 6});
  ExpectInvalid(OpBuilder("Split").Outputs(2).Run({&x, &neg}), "split size");
  auto uneven = OpBuilder("Split").Opset(18).Int("num_outputs", 2).Outputs(2).RunAll({&x});
  ASSERT_TRUE(uneven.ok());
  EXPECT_EQ((*uneven)[0].shape(), Shape{3});
  EXPECT_EQ((*uneven)[1].shape(), Shape{2});
}

TEST(IndexOpsTest, SliceClampsExtremeBoundsAndSteps) {
  Tensor x = F32({5}, {0, 1, 2, 3, 4});
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  Tensor starts = I64({1}, {kMax});
  Tensor ends = I64({1}, {kMin});
  Tensor axes = I64({1}, {0});
  Tensor steps = I64({1}, {kMin});
  auto y = OpBuilder("Slice").Run({&x, &starts, &ends, &axes, &steps});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(Vals<float>(*y), std::vector<float>{4});
  Tensor s2 = I32({1}, {-2});
  Tensor e2 = I32({1}, {-100});
  Tensor st2 = I32({1}, {-2});
  auto rev = OpBuilder("Slice").Run({&x, &s2, &e2, nullptr, &st2});
  ASSERT_TRUE(rev.ok()) << rev.status().ToString();
  EXPECT_EQ(Vals<float>(*rev), (std::vector<float>{3, 1}));
  Tensor big_step = I64({1}, {kMax});
  Tensor zero = I64({1}, {0});
  Tensor end = I64({1}, {kMax});
  auto one = OpBuilder("Slice").Run({&x, &zero, &end, nullptr, &big_step});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(Vals<float>(*one), std::vector<float>{0});
}

TEST(IndexOpsTest, SliceOfEmptyDimWithNegativeStepIsEmpty) {
  Tensor x = F32({0}, {});
  Tensor s = I64({1}, {-1});
  Tensor e = I64({1}, {-10});
  Tensor st = I64({1}, {-1});
  auto y = OpBuilder("Slice").Run({&x, &s, &e, nullptr, &st});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->shape(), Shape{0});
}

TEST(IndexOpsTest, SliceErrors) {
  Tensor x = F32({2, 2}, {1, 2, 3, 4});
  Tensor s = I64({1}, {0});
  Tensor e = I64({1}, {1});
  Tensor zero_step = I64({1}, {0});
  ExpectInvalid(OpBuilder("Slice").Run({&x, &s, &e, nullptr, &zero_step}), "steps");
  Tensor two = I64({2}, {0, 1});
  ExpectInvalid(OpBuilder("Slice").Run({&x, &s, &two}), "same length");
  Tensor dup = I64({2}, {0, -2});
  ExpectInvalid(OpBuilder("Slice").Run({&x, &two, &two, &dup}), "repeated");
  Tensor axis3 = I64({1}, {3});
  ExpectInvalid(OpBuilder("Slice").Run({&x, &s, &e, &axis3}), "out of range");
  auto old = OpBuilder("Slice").Opset(9).Ints("starts", {1}).Ints("ends", {2}).Run({&x});
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(Vals<float>(*old), (std::vector<float>{3, 4}));
}

// ---- Gather / Scatter ----

TEST(IndexOpsTest, GatherNegativeInt32IndicesAndOutOfRange) {
  Tensor x = F32({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor idx = I32({2}, {-1, 0});
  auto y = OpBuilder("Gather").Run({&x, &idx});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Vals<float>(*y), (std::vector<float>{5, 6, 1, 2}));
  Tensor bad = I64({1}, {3});
  ExpectInvalid(OpBuilder("Gather").Run({&x, &bad}), "out of range");
  Tensor bad_neg = I64({1}, {-3});
  ExpectInvalid(OpBuilder("Gather").Int("axis", 1).Run({&x, &bad_neg}), "out of range");
  Tensor fidx = F32({1}, {0});
  ExpectInvalid(OpBuilder("Gather").Run({&x, &fidx}), "INT32 or INT64");
}

TEST(IndexOpsTest, GatherElementsAndNDValidateShapes) {
  Tensor x = F32({2, 2}, {1, 2, 3, 4});
  Tensor big = I64({3, 1}, {0, 0, 0});
  ExpectInvalid(OpBuilder("GatherElements").Int("axis", 1).Run({&x, &big}), "exceeds");
  Tensor rank1 = I64({2}, {0, 0});
  ExpectInvalid(OpBuilder("GatherElements").Run({&x, &rank1}), "rank");
  Tensor nd = I64({1, 3}, {0, 0, 0});
  ExpectInvalid(OpBuilder("GatherND").Run({&x, &nd}), "last indices dim");
  Tensor nd_oob = I64({1, 2}, {0, 2});
  ExpectInvalid(OpBuilder("GatherND").Run({&x, &nd_oob}), "out of range");
  Tensor batch = I64({2, 1}, {1, -2});
  auto y = OpBuilder("GatherND").Int("batch_dims", 1).Run({&x, &batch});
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(Vals<float>(*y), (std::vector<float>{2, 3}));
  EXPECT_FALSE(OpBuilder("GatherND").Int("batch_dims", -1).Build(2).ok());
}

TEST(IndexOpsTest, ScatterReductionsAndErrors) {
  Tensor data = F32({3}, {1, 1, 1});
  Tensor idx = I64({2, 1}, {0, 0});
  Tensor upd = F32({2}, {2, 3});
  auto add = OpBuilder("ScatterND").Str("reduction", "add").Run({&data, &idx, &upd});
  ASSERT_TRUE(add.ok());
  EXPECT_EQ(Vals<float>(*add), (std::vector<float>{6, 1, 1}));
  auto mul = OpBuilder("ScatterND").Str("reduction", "mul").Run({&data, &idx, &upd});
  ASSERT_TRUE(mul.ok());
  EXPECT_EQ(Vals<float>(*mul), (std::vector<float>{6, 1, 1}));
  EXPECT_FALSE(OpBuilder("ScatterND").Str("reduction", "max").Build(3).ok());  // opset 18
  EXPECT_TRUE(OpBuilder("ScatterND").Opset(18).Str("reduction", "max").Build(3).ok());
  Tensor oob = I64({2, 1}, {0, 3});
  ExpectInvalid(OpBuilder("ScatterND").Run({&data, &oob, &upd}), "out of range");
  EXPECT_EQ(Vals<float>(data), (std::vector<float>{1, 1, 1}));  // input untouched
  Tensor eidx = I32({2}, {-1, -1});
  auto el = OpBuilder("ScatterElements").Str("reduction", "add").Run({&data, &eidx, &upd});
  ASSERT_TRUE(el.ok());
  EXPECT_EQ(Vals<float>(*el), (std::vector<float>{1, 1, 6}));
  Tensor eoob = I64({2}, {0, 5});
  ExpectInvalid(OpBuilder("ScatterElements").Run({&data, &eoob, &upd}), "out of range");
  Tensor wrong = F32({3}, {1, 2, 3});
  ExpectInvalid(OpBuilder("ScatterElements").Run({&data, &eidx, &wrong}), "updates shape");
}

// ---- Expand / Tile / Pad ----

TEST(IndexOpsTest, ExpandTileErrorsAndEdgeCases) {
  Tensor x = F32({2, 1}, {1, 2});
  Tensor shape = I64({2}, {2, 3});
  auto e = OpBuilder("Expand").Run({&x, &shape});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(Vals<float>(*e), (std::vector<float>{1, 1, 1, 2, 2, 2}));
  Tensor bad = I64({2}, {3, 1});
  ExpectInvalid(OpBuilder("Expand").Run({&x, &bad}));
  Tensor neg = I64({1}, {-1});
  ExpectInvalid(OpBuilder("Expand").Run({&x, &neg}), "negative");
  Tensor reps = I64({2}, {0, 2});
  auto t = OpBuilder("Tile").Run({&x, &reps});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->shape(), (Shape{0, 2}));
  Tensor reps_neg = I64({2}, {1, -1});
  ExpectInvalid(OpBuilder("Tile").Run({&x, &reps_neg}), "negative");
  Tensor reps_short = I64({1}, {2});
  ExpectInvalid(OpBuilder("Tile").Run({&x, &reps_short}), "rank");
}

TEST(IndexOpsTest, PadModesCropAndErrors) {
  Tensor x = F32({3}, {1, 2, 3});
  Tensor pads = I64({2}, {4, -1});
  auto r = OpBuilder("Pad").Str("mode", "reflect").Run({&x, &pads});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Vals<float>(*r), (std::vector<float>{1, 2, 3, 2, 1, 2}));  // numpy 'reflect'
  Tensor value = F32({}, {9});
  Tensor pads2 = I64({2}, {1, 1});
  auto c = OpBuilder("Pad").Run({&x, &pads2, &value});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Vals<float>(*c), (std::vector<float>{9, 1, 2, 3, 9}));
  auto old = OpBuilder("Pad").Opset(2).Ints("pads", {0, 2}).Str("mode", "edge").Run({&x});
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(Vals<float>(*old), (std::vector<float>{1, 2, 3, 3, 3}));
  EXPECT_FALSE(OpBuilder("Pad").Str("mode", "mirror").Build(2).ok());
  Tensor crop = I64({2}, {-2, -2});
  ExpectInvalid(OpBuilder("Pad").Run({&x, &crop}), "below zero");
  Tensor odd = I64({3}, {1, 1, 1});
  ExpectInvalid(OpBuilder("Pad").Run({&x, &odd}), "pads");
  Tensor empty = F32({0}, {});
  ExpectInvalid(OpBuilder("Pad").Str("mode", "edge").Run({&empty, &pads2}), "empty");
  Tensor wrong_value = I64({}, {1});
  ExpectInvalid(OpBuilder("Pad").Run({&x, &pads2, &wrong_value}), "constant_value");
}

// ---- Shape info ----

TEST(IndexOpsTest, ShapeSizeConstantOfShapeRange) {
  Tensor x = F32({2, 3, 4}, std::vector<float>(24));
  auto s = OpBuilder("Shape").Opset(15).Int("start", -2).Int("end", 100).Run({&x});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Vals<int64_t>(*s), (std::vector<int64_t>{3, 4}));
  auto none = OpBuilder("Shape").Opset(15).Int("start", 2).Int("end", 1).Run({&x});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->shape(), Shape{0});
  auto n = OpBuilder("Size").Run({&x});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(Vals<int64_t>(*n), std::vector<int64_t>{24});
  Tensor shape = I64({2}, {2, 2});
  auto c = OpBuilder("ConstantOfShape").Run({&shape});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->dtype(), DataType::kFp32);
  EXPECT_EQ(Vals<float>(*c), (std::vector<float>{0, 0, 0, 0}));
  Tensor neg = I64({1}, {-1});
  ExpectInvalid(OpBuilder("ConstantOfShape").Run({&neg}), "negative");
  Tensor a = I64({}, {10});
  Tensor b = I64({}, {-3});
  Tensor d = I64({}, {-4});
  auto r = OpBuilder("Range").Run({&a, &b, &d});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Vals<int64_t>(*r), (std::vector<int64_t>{10, 6, 2, -2}));
  Tensor zero = I64({}, {0});
  ExpectInvalid(OpBuilder("Range").Run({&a, &b, &zero}), "zero");
  Tensor fz = F32({}, {0});
  ExpectInvalid(OpBuilder("Range").Run({&fz, &fz, &fz}), "zero");
  Tensor mixed = F32({}, {1});
  ExpectInvalid(OpBuilder("Range").Run({&a, &mixed, &d}), "element type");
}

TEST(IndexOpsTest, DropoutIsIdentityWithTrueMask) {
  Tensor x = F32({2}, {1, 2});
  auto out = OpBuilder("Dropout").Outputs(2).RunAll({&x});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].data(), x.data());
  EXPECT_EQ((*out)[1].dtype(), DataType::kBool);
  EXPECT_EQ(Vals<uint8_t>((*out)[1]), (std::vector<uint8_t>{1, 1}));
  Tensor train = T_<uint8_t>(DataType::kBool, {}, {1});
  auto t = OpBuilder("Dropout").Run({&x, nullptr, &train});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnimplemented);
  EXPECT_FALSE(OpBuilder("Dropout").Opset(10).Outputs(3).Build(1).ok());
}

// ---- TopK / CumSum / NonZero / Trilu / OneHot ----

TEST(IndexOpsTest, TopKTiesSmallestAndErrors) {
  Tensor x = F32({5}, {3, 1, 3, NAN, 0});
  Tensor k = I64({1}, {3});
  auto out = OpBuilder("TopK").Outputs(2).RunAll({&x, &k});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Vals<int64_t>((*out)[1]), (std::vector<int64_t>{3, 0, 2}));
  auto small = OpBuilder("TopK").Int("largest", 0).Outputs(2).RunAll({&x, &k});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(Vals<int64_t>((*small)[1]), (std::vector<int64_t>{4, 1, 0}));
  Tensor big = I64({1}, {6});
  auto r = OpBuilder("TopK").Outputs(2).RunAll({&x, &big});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  Tensor negk = I64({1}, {-1});
  EXPECT_FALSE(OpBuilder("TopK").Outputs(2).RunAll({&x, &negk}).ok());
  EXPECT_FALSE(OpBuilder("TopK").Opset(1).Outputs(2).Build(1).ok());  // 'k' required
}

TEST(IndexOpsTest, CumSumInt32AxisExclusiveReverse) {
  Tensor x = I32({2, 2}, {1, 2, 3, 4});
  Tensor axis = I32({}, {-1});
  auto y = OpBuilder("CumSum").Int("exclusive", 1).Int("reverse", 1).Run({&x, &axis});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Vals<int32_t>(*y), (std::vector<int32_t>{2, 0, 4, 0}));
  Tensor bad_axis = I64({}, {2});
  ExpectInvalid(OpBuilder("CumSum").Run({&x, &bad_axis}), "out of range");
  Tensor vec_axis = I64({2}, {0, 1});
  ExpectInvalid(OpBuilder("CumSum").Run({&x, &vec_axis}), "scalar");
}

TEST(IndexOpsTest, NonZeroTriluOneHot) {
  Tensor b = T_<uint8_t>(DataType::kBool, {2, 2}, {0, 1, 1, 0});
  auto nz = OpBuilder("NonZero").Run({&b});
  ASSERT_TRUE(nz.ok());
  EXPECT_EQ(nz->shape(), (Shape{2, 2}));
  EXPECT_EQ(Vals<int64_t>(*nz), (std::vector<int64_t>{0, 1, 1, 0}));
  Tensor empty = F32({0, 3}, {});
  auto nz0 = OpBuilder("NonZero").Run({&empty});
  ASSERT_TRUE(nz0.ok());
  EXPECT_EQ(nz0->shape(), (Shape{2, 0}));
  Tensor v = F32({3}, {1, 2, 3});
  ExpectInvalid(OpBuilder("Trilu").Run({&v}), "rank");
  Tensor m = F32({2, 2}, {1, 2, 3, 4});
  Tensor huge_k = I64({}, {std::numeric_limits<int64_t>::min()});
  auto tri = OpBuilder("Trilu").Run({&m, &huge_k});
  ASSERT_TRUE(tri.ok());
  EXPECT_EQ(Vals<float>(*tri), (std::vector<float>{1, 2, 3, 4}));
  Tensor idx = I64({3}, {0, -1, 7});
  Tensor depth = F32({}, {3});
  Tensor values = F32({2}, {0, 1});
  auto oh = OpBuilder("OneHot").Int("axis", 0).Run({&idx, &depth, &values});
  ASSERT_TRUE(oh.ok());
  EXPECT_EQ(oh->shape(), (Shape{3, 3}));
  EXPECT_EQ(Vals<float>(*oh), (std::vector<float>{1, 0, 0, 0, 0, 0, 0, 1, 0}));
  Tensor zero_depth = I64({}, {0});
  ExpectInvalid(OpBuilder("OneHot").Run({&idx, &zero_depth, &values}), "depth");
  ExpectInvalid(OpBuilder("OneHot").Int("axis", 3).Run({&idx, &depth, &values}), "out of range");
  Tensor three = F32({3}, {0, 1, 2});
  ExpectInvalid(OpBuilder("OneHot").Run({&idx, &depth, &three}), "values");
}

}  // namespace
}  // namespace nereid::engine
