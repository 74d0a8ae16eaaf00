#include "engine/runtime/graph_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>

#include "engine/runtime/crc32c.h"

namespace nereid::engine {
namespace {

using ::testing::HasSubstr;

Tensor MakeTensor(DataType dtype, Shape shape, const void* data, size_t size) {
  return Tensor::CopyOf(TensorView{dtype, std::move(shape), static_cast<const char*>(data), size});
}

// BYTES in Triton's serialized form: 4-byte length, then the bytes.
std::string SerializeStrings(const std::vector<std::string>& strings) {
  std::string out;
  for (const std::string& s : strings) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += s;
  }
  return out;
}

// A graph with every attribute kind, optional (omitted) inputs and outputs,
// a value of unknown rank and one of unknown dtype, and initializers of
// several dtypes: what a precision pass could leave behind.
Graph RichGraph() {
  Graph g;
  g.name = "rich";
  g.opsets[""] = 17;
  g.opsets["nereid"] = 1;
  const int x = g.GetOrAddValue("x");
  g.values[x].dtype = DataType::kFp32;
  g.values[x].shape = Shape{-1, 3, 8, 8};
  const int w8 = g.GetOrAddValue("w_int8");
  const int w16 = g.GetOrAddValue("w_fp16");
  const int wbf = g.GetOrAddValue("w_bf16");
  const int names = g.GetOrAddValue("names");
  const int mid = g.GetOrAddValue("mid");  // unknown dtype and rank
  const int y = g.GetOrAddValue("y");
  g.values[y].dtype = DataType::kFp32;
  g.values[y].shape = Shape{-1, 4};
  const int8_t int8_data[6] = {-128, -1, 0, 1, 64, 127};
  g.initializers[w8] = MakeTensor(DataType::kInt8, {2, 3}, int8_data, sizeof(int8_data));
  const uint16_t half_data[3] = {0x3C00, 0xC000, 0x7BFF};
  g.initializers[w16] = MakeTensor(DataType::kFp16, {3}, half_data, sizeof(half_data));
  const uint16_t bf_data[2] = {0x3F80, 0xBF80};
  g.initializers[wbf] = MakeTensor(DataType::kBf16, {1, 2}, bf_data, sizeof(bf_data));
  const std::string strings = SerializeStrings({"cat", "", "dog"});
  g.initializers[names] = MakeTensor(DataType::kBytes, {3}, strings.data(), strings.size());
  for (int id : {w8, w16, wbf, names}) {
    g.values[id].dtype = g.initializers[id].dtype();
    g.values[id].shape = g.initializers[id].shape();
  }
  g.inputs = {x};
  g.outputs = {y};

  Node a;
  a.name = "quantized_conv";
  a.domain = "nereid";
  a.op_type = "FusedConv";
  a.inputs = {x, w8, kNoValue, w16};
  a.outputs = {mid, kNoValue};
  a.attributes["alpha"].kind = Attribute::Kind::kFloat;
  a.attributes["alpha"].f = -0.125f;
  a.attributes["group"].kind = Attribute::Kind::kInt;
  a.attributes["group"].i = -(int64_t{1} << 40);
  a.attributes["precision"].kind = Attribute::Kind::kString;
  a.attributes["precision"].s = "int8";
  a.attributes["scales"].kind = Attribute::Kind::kFloats;
  a.attributes["scales"].floats = {0.5f, 1e-30f, -3.25f};
  a.attributes["pads"].kind = Attribute::Kind::kInts;
  a.attributes["pads"].ints = {0, 1, -1, INT64_MAX};
  a.attributes["labels"].kind = Attribute::Kind::kStrings;
  a.attributes["labels"].strings = {"a", "", std::string("b\0c", 3)};
  a.attributes["body"].kind = Attribute::Kind::kUnsupported;
  a.attributes["body"].s = "GRAPH";
  const int32_t zero_points[2] = {3, -7};
  a.attributes["zero_points"].kind = Attribute::Kind::kTensor;
  a.attributes["zero_points"].t =
      MakeTensor(DataType::kInt32, {2}, zero_points, sizeof(zero_points));
  a.attributes["empty"].kind = Attribute::Kind::kInts;
  g.nodes.push_back(std::move(a));
  Node b;
  b.op_type = "Identity";
  b.inputs = {mid};
  b.outputs = {y};
  g.nodes.push_back(std::move(b));
  return g;
}

void ExpectTensorsEqual(const Tensor& a, const Tensor& b, const std::string& what) {
  EXPECT_EQ(a.dtype(), b.dtype()) << what;
  EXPECT_EQ(a.shape(), b.shape()) << what;
  ASSERT_EQ(a.byte_size(), b.byte_size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.byte_size()), 0) << what;
}

void ExpectAttributesEqual(const Attribute& a, const Attribute& b, const std::string& what) {
  ASSERT_EQ(a.kind, b.kind) << what;
  EXPECT_EQ(a.f, b.f) << what;
  EXPECT_EQ(a.i, b.i) << what;
  EXPECT_EQ(a.s, b.s) << what;
  EXPECT_EQ(a.floats, b.floats) << what;
  EXPECT_EQ(a.ints, b.ints) << what;
  EXPECT_EQ(a.strings, b.strings) << what;
  if (a.kind == Attribute::Kind::kTensor) ExpectTensorsEqual(a.t, b.t, what);
}

void ExpectGraphsEqual(const Graph& a, const Graph& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.opsets, b.opsets);
  ASSERT_EQ(a.values.size(), b.values.size());
  for (size_t i = 0; i < a.values.size(); ++i) {
    EXPECT_EQ(a.values[i].name, b.values[i].name);
    EXPECT_EQ(a.values[i].dtype, b.values[i].dtype) << a.values[i].name;
    EXPECT_EQ(a.values[i].shape, b.values[i].shape) << a.values[i].name;
    EXPECT_EQ(b.FindValue(a.values[i].name), static_cast<int>(i));
  }
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.outputs, b.outputs);
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t n = 0; n < a.nodes.size(); ++n) {
    const Node& x = a.nodes[n];
    const Node& y = b.nodes[n];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.domain, y.domain);
    EXPECT_EQ(x.op_type, y.op_type);
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.outputs, y.outputs);
    ASSERT_EQ(x.attributes.size(), y.attributes.size());
    for (const auto& [name, attr] : x.attributes) {
      ASSERT_TRUE(y.attributes.count(name)) << name;
      ExpectAttributesEqual(attr, y.attributes.at(name), x.op_type + "." + name);
    }
  }
  ASSERT_EQ(a.initializers.size(), b.initializers.size());
  for (const auto& [id, tensor] : a.initializers) {
    ASSERT_TRUE(b.initializers.count(id)) << a.values[id].name;
    ExpectTensorsEqual(tensor, b.initializers.at(id), a.values[id].name);
  }
}

// Encoded graph with its weights copied into 64-byte aligned storage.
struct Encoded {
  std::string structure;
  std::shared_ptr<char> weights;
  size_t weights_size = 0;
};

Encoded Encode(const Graph& graph) {
  ByteWriter s, w;
  EncodeGraph(graph, &s, &w);
  Encoded e;
  e.structure = s.bytes();
  e.weights_size = w.size();
  e.weights.reset(static_cast<char*>(std::aligned_alloc(64, (w.size() + 64) / 64 * 64)), std::free);
  std::memcpy(e.weights.get(), w.bytes().data(), w.size());
  return e;
}

StatusOr<Graph> Decode(const Encoded& e, std::string_view structure) {
  ByteReader r(structure, "GRPH");
  return DecodeGraph(&r, std::string_view(e.weights.get(), e.weights_size), e.weights);
}

TEST(GraphCodecTest, EveryAttributeKindAndDtypeRoundTrips) {
  const Graph graph = RichGraph();
  Encoded e = Encode(graph);
  auto decoded = Decode(e, e.structure);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectGraphsEqual(graph, *decoded);
  // Initializers are views into the weights, 64-byte aligned, not copies.
  for (const auto& [id, t] : decoded->initializers) {
    EXPECT_GE(t.data(), e.weights.get());
    EXPECT_LT(t.data(), e.weights.get() + e.weights_size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  }
  // Deterministic: the same graph gives the same bytes.
  Encoded again = Encode(*decoded);
  EXPECT_EQ(again.structure, e.structure);
  EXPECT_EQ(again.weights_size, e.weights_size);
}

TEST(GraphCodecTest, EveryTruncationIsAnErrorNotACrash) {
  Encoded e = Encode(RichGraph());
  for (size_t n = 0; n < e.structure.size(); ++n) {
    auto decoded = Decode(e, std::string_view(e.structure).substr(0, n));
    ASSERT_FALSE(decoded.ok()) << "truncated at " << n;
    EXPECT_THAT(decoded.status().message(), HasSubstr("GRPH is malformed")) << n;
  }
  auto extra = Decode(e, e.structure + "x");
  EXPECT_THAT(extra.status().message(), HasSubstr("unexpected bytes"));
}

TEST(GraphCodecTest, RandomCorruptionIsAnErrorOrAValidGraph) {
  // The checksums of a plan file catch corruption first; the decoder must
  // still survive any bytes (a plan written by a buggy or hostile tool).
  Encoded e = Encode(RichGraph());
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes = e.structure;
    const size_t at = rng() % bytes.size();
    bytes[at] = static_cast<char>(rng());
    (void)Decode(e, bytes);  // must not crash, hang or allocate without bound
  }
}

TEST(GraphCodecTest, RejectsInconsistentGraphs) {
  Graph g = RichGraph();
  // An initializer whose bytes do not match its shape.
  Graph bad_size = g;
  const int w8 = bad_size.FindValue("w_int8");
  const Tensor& t = bad_size.initializers[w8];
  bad_size.initializers[w8] =
      Tensor::Wrap(DataType::kInt8, {4, 3}, t.data(), t.byte_size(), t.owner());
  Encoded e = Encode(bad_size);
  EXPECT_THAT(Decode(e, e.structure).status().message(), HasSubstr("needs 12 bytes, not 6"));

  // A node input pointing past the values.
  Graph bad_id = g;
  bad_id.nodes[1].inputs[0] = 99;
  e = Encode(bad_id);
  EXPECT_THAT(Decode(e, e.structure).status().message(), HasSubstr("value id 99 is out of range"));

  // An unknown dtype byte.
  Graph bad_type = g;
  bad_type.values[0].dtype = static_cast<DataType>(200);
  e = Encode(bad_type);
  EXPECT_THAT(Decode(e, e.structure).status().message(), HasSubstr("unknown element type 200"));
}

TEST(Crc32cTest, KnownValuesAndBothPathsAgree) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32c("", 0), 0u);
  std::mt19937 rng(1);
  std::string data(1010, '\0');  // room for the largest offset + length
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t n : {1, 7, 8, 9, 63, 64, 65, 999}) {
    for (size_t offset : {0, 1, 3}) {
      EXPECT_EQ(Crc32c(data.data() + offset, n), Crc32cPortable(data.data() + offset, n)) << n;
    }
  }
  // Extending a CRC equals computing it in one go.
  EXPECT_EQ(Crc32c(data.data() + 10, 90, Crc32c(data.data(), 10)), Crc32c(data.data(), 100));
}

}  // namespace
}  // namespace nereid::engine
