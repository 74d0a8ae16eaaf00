#include "backends/torch/torch_io_mapping.h"

#include <gtest/gtest.h>

namespace nereid::backends::pytorch {
namespace {

TorchArg TensorArg(const std::string& name) { return {name, TorchArgKind::kTensor, "Tensor"}; }

TorchSignature Sig(std::vector<TorchArg> args, TorchResultKind result = TorchResultKind::kTensor,
                   size_t tuple_size = 0) {
  TorchSignature s;
  s.args = std::move(args);
  s.result = result;
  s.tuple_size = tuple_size;
  s.result_type = result == TorchResultKind::kTensor ? "Tensor" : "Tuple[Tensor, Tensor]";
  return s;
}

std::string Error(const StatusOr<TorchIoMapping>& m) {
  EXPECT_FALSE(m.ok());
  return m.ok() ? "" : m.status().message();
}

TEST(TorchIoMappingTest, NamedIndex) {
  EXPECT_EQ(NamedIndex("INPUT__0"), 0);
  EXPECT_EQ(NamedIndex("OUTPUT__12"), 12);
  EXPECT_EQ(NamedIndex("logits__3"), 3);
  EXPECT_EQ(NamedIndex("__7"), 7);
  EXPECT_EQ(NamedIndex("INPUT_0"), std::nullopt);
  EXPECT_EQ(NamedIndex("INPUT__"), std::nullopt);
  EXPECT_EQ(NamedIndex("INPUT__x"), std::nullopt);
  EXPECT_EQ(NamedIndex("INPUT__1a"), std::nullopt);
  EXPECT_EQ(NamedIndex("INPUT__-1"), std::nullopt);
  EXPECT_EQ(NamedIndex("INPUT__99999999999"), std::nullopt);
  // The first "__" separates: "a__b__1" has index text "b__1".
  EXPECT_EQ(NamedIndex("a__b__1"), std::nullopt);
}

TEST(TorchIoMappingTest, InputsByArgumentName) {
  auto m =
      MapTorchIo({"scale", "image"}, {"OUTPUT__0"}, Sig({TensorArg("image"), TensorArg("scale")}));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_FALSE(m->dict_input);
  EXPECT_EQ(m->binding, TorchInputBinding::kArgumentName);
  EXPECT_EQ(m->input_position, (std::vector<int>{1, 0}));
  EXPECT_EQ(m->output_position, (std::vector<int>{0}));
}

TEST(TorchIoMappingTest, InputsByIndexInAnyConfigOrder) {
  auto m =
      MapTorchIo({"INPUT__1", "INPUT__0"}, {"OUTPUT__0"}, Sig({TensorArg("a"), TensorArg("b")}));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->binding, TorchInputBinding::kNamedIndex);
  EXPECT_EQ(m->input_position, (std::vector<int>{1, 0}));
}

TEST(TorchIoMappingTest, ArgumentNamesWinWhenEveryNameIsOne) {
  // "x__1" is forward()'s first argument's name, so it binds by name.
  auto m = MapTorchIo({"x__1", "y__0"}, {"OUTPUT__0"}, Sig({TensorArg("x__1"), TensorArg("y__0")}));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->input_position, (std::vector<int>{0, 1}));
}

TEST(TorchIoMappingTest, NameMatchingNeitherRuleIsRefused) {
  std::string e = Error(MapTorchIo({"INPUT__0", "pixels"}, {"OUTPUT__0"},
                                   Sig({TensorArg("image"), TensorArg("scale")})));
  EXPECT_EQ(e,
            "input names must all be forward(image, scale)'s argument names or all follow "
            "<name>__<index> (INPUT__0, INPUT__1, ...): input 'pixels' is neither");
}

TEST(TorchIoMappingTest, MixedConventionsAreRefused) {
  std::string e = Error(MapTorchIo({"image", "INPUT__1"}, {"OUTPUT__0"},
                                   Sig({TensorArg("image"), TensorArg("scale")})));
  EXPECT_NE(e.find("not a mix: 'image' is an argument name, 'INPUT__1' an index"),
            std::string::npos)
      << e;
}

TEST(TorchIoMappingTest, IndexOutOfRangeAndDuplicatesAreRefused) {
  auto sig = Sig({TensorArg("a"), TensorArg("b")});
  EXPECT_EQ(Error(MapTorchIo({"INPUT__0", "INPUT__2"}, {"OUTPUT__0"}, sig)),
            "input 'INPUT__2' names position 2 but forward(a, b) takes 2 argument(s)");
  EXPECT_EQ(Error(MapTorchIo({"A__0", "B__0"}, {"OUTPUT__0"}, sig)),
            "inputs 'A__0' and 'B__0' both name position 0");
}

TEST(TorchIoMappingTest, InputCountMustMatchForward) {
  EXPECT_EQ(Error(MapTorchIo({"INPUT__0"}, {"OUTPUT__0"}, Sig({TensorArg("a"), TensorArg("b")}))),
            "the config lists 1 input(s) but forward(a, b) takes 2");
}

TEST(TorchIoMappingTest, NonTensorArgumentsAreRefused) {
  auto sig = Sig({TensorArg("x"), {"k", TorchArgKind::kOther, "int"}});
  EXPECT_EQ(Error(MapTorchIo({"x", "k"}, {"OUTPUT__0"}, sig)),
            "forward(x, k): argument 'k' has type int; only Tensor arguments (or a single "
            "Dict[str, Tensor]) are supported");
  auto dicts = Sig({TensorArg("x"), {"d", TorchArgKind::kTensorDict, "Dict[str, Tensor]"}});
  EXPECT_NE(Error(MapTorchIo({"x", "d"}, {"OUTPUT__0"}, dicts)).find("single Dict"),
            std::string::npos);
}

TEST(TorchIoMappingTest, DictInputTakesAnyNames) {
  auto sig = Sig({{"inputs", TorchArgKind::kTensorDict, "Dict[str, Tensor]"}});
  auto m = MapTorchIo({"alpha", "beta", "gamma"}, {"OUTPUT__0"}, sig);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_TRUE(m->dict_input);
  EXPECT_EQ(m->binding, TorchInputBinding::kDictKey);
  EXPECT_TRUE(m->input_position.empty());
}

TEST(TorchIoMappingTest, OutputsByPositionInTupleAndList) {
  auto tuple = Sig({TensorArg("x")}, TorchResultKind::kTensorTuple, 3);
  auto m = MapTorchIo({"x"}, {"OUTPUT__2", "OUTPUT__0"}, tuple);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->output_position, (std::vector<int>{2, 0}));
  EXPECT_EQ(Error(MapTorchIo({"x"}, {"OUTPUT__3"}, tuple)),
            "output 'OUTPUT__3' names position 3 but forward() returns Tuple[Tensor, Tensor] "
            "(3 tensor(s))");
  // A list's length is only known when it runs: any index is accepted here.
  auto list = Sig({TensorArg("x")}, TorchResultKind::kTensorList);
  EXPECT_TRUE(MapTorchIo({"x"}, {"OUTPUT__5"}, list).ok());
  // A single tensor is position 0.
  EXPECT_FALSE(MapTorchIo({"x"}, {"OUTPUT__1"}, Sig({TensorArg("x")})).ok());
}

TEST(TorchIoMappingTest, OutputNamesMustBeIndexed) {
  EXPECT_EQ(Error(MapTorchIo({"x"}, {"logits"}, Sig({TensorArg("x")}))),
            "output 'logits' does not follow <name>__<index> (OUTPUT__0, OUTPUT__1, ...), which "
            "binds an output to its position in what forward() returns");
}

TEST(TorchIoMappingTest, DictAndScalarResultsAreRefused) {
  auto dict = Sig({TensorArg("x")}, TorchResultKind::kDict);
  dict.result_type = "Dict[str, Tensor]";
  EXPECT_NE(Error(MapTorchIo({"x"}, {"OUTPUT__0"}, dict))
                .find("forward() returns Dict[str, Tensor]: outputs are bound by position"),
            std::string::npos);
  auto scalar = Sig({TensorArg("x")}, TorchResultKind::kOther);
  scalar.result_type = "int";
  EXPECT_EQ(Error(MapTorchIo({"x"}, {"OUTPUT__0"}, scalar)),
            "forward() returns int: only a Tensor, a tuple of Tensors or a List[Tensor] can be "
            "served");
}

TEST(TorchIoMappingTest, EmptyConfigListsAreRefused) {
  EXPECT_NE(Error(MapTorchIo({}, {"OUTPUT__0"}, Sig({TensorArg("x")}))).find("lists no inputs"),
            std::string::npos);
  EXPECT_NE(Error(MapTorchIo({"x"}, {}, Sig({TensorArg("x")}))).find("lists no outputs"),
            std::string::npos);
}

TEST(TorchIoMappingTest, SupportedDataTypes) {
  EXPECT_TRUE(TorchSupportsDataType(DataType::kFp32));
  EXPECT_TRUE(TorchSupportsDataType(DataType::kBool));
  EXPECT_TRUE(TorchSupportsDataType(DataType::kBf16));
  EXPECT_FALSE(TorchSupportsDataType(DataType::kBytes));
  EXPECT_FALSE(TorchSupportsDataType(DataType::kUint16));
  EXPECT_FALSE(TorchSupportsDataType(DataType::kUint64));
}

}  // namespace
}  // namespace nereid::backends::pytorch
