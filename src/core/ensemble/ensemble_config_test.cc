// Ensemble configs: the checks of the ensemble's own dataflow (through
// ValidateAndNormalize, so errors carry file and line), the checks against
// composing models, step pruning and the batch/non-batch shape conversion.
#include "core/ensemble/ensemble_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/repository/config_parser.h"
#include "proto/model_config.pb.h"

namespace nereid::core {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A step: model, "input:tensor,..." and "output:tensor,...".
std::string Step(const std::string& model, const std::string& inputs, const std::string& outputs) {
  std::string s = "{ model_name: \"" + model + "\" model_version: -1\n";
  auto maps = [&s](const char* field, const std::string& list) {
    size_t pos = 0;
    while (pos < list.size()) {
      size_t comma = list.find(',', pos);
      if (comma == std::string::npos) comma = list.size();
      std::string pair = list.substr(pos, comma - pos);
      size_t colon = pair.find(':');
      s += std::string(field) + " { key: \"" + pair.substr(0, colon) + "\" value: \"" +
           pair.substr(colon + 1) + "\" }\n";
      pos = comma + 1;
    }
  };
  maps("input_map", inputs);
  maps("output_map", outputs);
  return s + "}";
}

// An FP32 ensemble "e" with inputs A (and B), output OUT, and `steps`.
std::string Ensemble(const std::vector<std::string>& steps, const std::string& extra = "",
                     bool input_b = false) {
  std::string c = "name: \"e\"\nplatform: \"ensemble\"\nmax_batch_size: 4\n" + extra +
                  "input [ { name: \"A\" data_type: TYPE_FP32 dims: [ -1 ] }";
  if (input_b) c += ", { name: \"B\" data_type: TYPE_FP32 dims: [ -1 ] }";
  c += " ]\noutput [ { name: \"OUT\" data_type: TYPE_FP32 dims: [ -1 ] } ]\n";
  c += "ensemble_scheduling {\n  step [\n";
  for (size_t i = 0; i < steps.size(); ++i) c += (i ? ",\n" : "") + steps[i];
  return c + "\n  ]\n}\n";
}

// Parses and validates like the model manager; the error message or "".
std::string Check(const std::string& text) {
  inference::ModelConfig config;
  auto where = ParseModelConfig(text, "e/config.pbtxt", &config);
  if (!where.ok()) return "parse: " + where.status().message();
  Status s = ValidateAndNormalize("e", *where, &config);
  return s.ok() ? "" : s.message();
}

inference::ModelConfig Parse(const std::string& text) {
  inference::ModelConfig config;
  auto where = ParseModelConfig(text, "config.pbtxt", &config);
  EXPECT_TRUE(where.ok()) << where.status().ToString();
  return config;
}

TEST(EnsembleConfigTest, ChainAndDiamondAreValid) {
  EXPECT_EQ(Check(Ensemble({Step("m", "IN:A", "OUT:T"), Step("m", "IN:T", "OUT:OUT")})), "");
  EXPECT_EQ(Check(Ensemble({Step("m", "IN:A", "OUT:T"), Step("m", "IN:T", "OUT:L"),
                            Step("m", "IN:T", "OUT:R"), Step("add", "X:L,Y:R", "Z:OUT")})),
            "");
  // Steps may come in any order; the dataflow decides.
  EXPECT_EQ(Check(Ensemble({Step("m", "IN:T", "OUT:OUT"), Step("m", "IN:A", "OUT:T")})), "");
  // No instance_group is added to an ensemble.
  auto config = Parse(Ensemble({Step("m", "IN:A", "OUT:OUT")}));
  ConfigLocator none;
  ASSERT_TRUE(ValidateAndNormalize("e", none, &config).ok());
  EXPECT_EQ(config.instance_group_size(), 0);
}

TEST(EnsembleConfigTest, StructuralErrorsNameEnsembleStepAndTensor) {
  EXPECT_THAT(Check(Ensemble({Step("m", "IN:A", "OUT:T"), Step("n", "IN:A", "OUT:T"),
                              Step("k", "IN:T", "OUT:OUT")})),
              AllOf(HasSubstr("e/config.pbtxt:"), HasSubstr("ensemble 'e' step 1 (model 'n')"),
                    HasSubstr("tensor 'T' is already produced by step 0 (model 'm')")));
  EXPECT_THAT(Check(Ensemble({Step("m", "IN:A", "OUT:A"), Step("k", "IN:A", "OUT:OUT")})),
              AllOf(HasSubstr("step 0 (model 'm')"), HasSubstr("writes tensor 'A'"),
                    HasSubstr("ensemble input")));
  EXPECT_THAT(Check(Ensemble({Step("m", "IN:NOPE", "OUT:OUT")})),
              AllOf(HasSubstr("ensemble 'e' step 0 (model 'm')"), HasSubstr("'NOPE'"),
                    HasSubstr("neither an ensemble input nor produced by any step")));
  EXPECT_THAT(Check(Ensemble({Step("m", "IN:A", "OUT:T"), Step("k", "IN:T", "OUT:U"),
                              Step("j", "IN:U", "OUT:T2")})),
              AllOf(HasSubstr("ensemble 'e'"), HasSubstr("output 'OUT' is not produced")));
  EXPECT_THAT(Check(Ensemble({Step("m", "IN:A", "OUT:OUT")}, "", /*input_b=*/true)),
              AllOf(HasSubstr("ensemble 'e'"), HasSubstr("input 'B' is not read by any step")));
  EXPECT_THAT(Check(Ensemble({Step("m", "IN:A", "OUT:OUT,EXTRA:X")})),
              AllOf(HasSubstr("step 0 (model 'm')"), HasSubstr("tensor 'X'"),
                    HasSubstr("neither read by a step nor an ensemble output")));
  EXPECT_THAT(Check(Ensemble({})), HasSubstr("ensemble 'e' has no steps"));
  EXPECT_THAT(Check(Ensemble({"{ model_name: \"\" input_map { key: \"a\" value: \"A\" } }"})),
              HasSubstr("step 0: model_name must be set"));
  EXPECT_THAT(Check(Ensemble({"{ model_name: \"m\" output_map { key: \"a\" value: \"OUT\" } }"})),
              HasSubstr("step 0 (model 'm'): input_map must not be empty"));
  EXPECT_THAT(Check(Ensemble({Step("e", "IN:A", "OUT:OUT")})),
              HasSubstr("an ensemble cannot contain itself"));
}

TEST(EnsembleConfigTest, CyclesAreNamed) {
  // 1 reads T2 (from 2), 2 reads T1 (from 1).
  std::string msg =
      Check(Ensemble({Step("m", "IN:A", "OUT:OUT,O2:X"), Step("p", "IN:T2,X:X", "OUT:T1"),
                      Step("q", "IN:T1", "OUT:T2")}));
  EXPECT_THAT(msg,
              AllOf(HasSubstr("ensemble 'e': steps form a cycle"), HasSubstr("step 1 (model 'p')"),
                    HasSubstr("step 2 (model 'q')"), HasSubstr("'T1'"), HasSubstr("'T2'")));
  EXPECT_THAT(Check(Ensemble({Step("m", "IN:A,X:S", "OUT:OUT,Y:S")})),
              AllOf(HasSubstr("cycle"), HasSubstr("step 0 (model 'm') -['S']-> step 0")));
}

TEST(EnsembleConfigTest, FieldsAnEnsembleCannotHave) {
  EXPECT_THAT(Check(Ensemble({Step("m", "IN:A", "OUT:OUT")}, "instance_group [ { count: 1 } ]\n")),
              HasSubstr("remove instance_group"));
  EXPECT_THAT(Check(Ensemble({Step("m", "IN:A", "OUT:OUT")}, "backend: \"identity\"\n")),
              HasSubstr("an ensemble has no backend"));
  std::string no_platform = Ensemble({Step("m", "IN:A", "OUT:OUT")});
  no_platform.replace(no_platform.find("platform: \"ensemble\""), 20, "");
  EXPECT_THAT(Check(no_platform), HasSubstr("needs platform: \"ensemble\""));
  EXPECT_THAT(Check("name: \"e\" platform: \"ensemble\" input [ { name: \"A\" data_type: TYPE_FP32 "
                    "dims: [1] } ] output [ { name: \"B\" data_type: TYPE_FP32 dims: [1] } ]"),
              HasSubstr("needs ensemble_scheduling"));
}

TEST(EnsembleConfigTest, BindChecksEveryStepAgainstItsModel) {
  auto ensemble = Parse(Ensemble({Step("m", "IN:A", "OUT:T"), Step("n", "X:T", "Y:OUT")}));
  auto m = Parse(R"(name: "m" max_batch_size: 8
      input [ { name: "IN" data_type: TYPE_FP32 dims: [ 3 ] } ]
      output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 3 ] } ])");
  auto n = Parse(R"(name: "n" max_batch_size: 0
      input [ { name: "X" data_type: TYPE_FP32 dims: [ -1, 3 ] },
              { name: "OPT" data_type: TYPE_FP32 dims: [ 1 ] optional: true } ]
      output [ { name: "Y" data_type: TYPE_FP32 dims: [ -1, -1 ] } ])");
  auto bind = [&](const inference::ModelConfig& a, const inference::ModelConfig& b) {
    auto plan = BuildEnsemblePlan(ensemble);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    Status s = BindComposingModels(ensemble, {&a, &b}, &*plan);
    return s.ok() ? std::string() : s.message();
  };
  // A non-batching model whose dims carry the batch dimension fits.
  EXPECT_EQ(bind(m, n), "");
  auto plan = BuildEnsemblePlan(ensemble);
  ASSERT_TRUE(BindComposingModels(ensemble, {&m, &n}, &*plan).ok());
  EXPECT_TRUE(plan->steps[0].model_batches);
  EXPECT_FALSE(plan->steps[1].model_batches);
  EXPECT_THAT(plan->steps[1].input_dims.at("X"), ElementsAre(-1, 3));

  auto small = m;
  small.set_max_batch_size(2);
  EXPECT_THAT(bind(small, n), AllOf(HasSubstr("ensemble 'e' step 0 (model 'm')"),
                                    HasSubstr("max_batch_size 4 exceeds the model's 2")));
  auto renamed = m;
  renamed.mutable_input(0)->set_name("OTHER");
  EXPECT_THAT(bind(renamed, n), AllOf(HasSubstr("input_map key 'IN' is not an input of model 'm'"),
                                      HasSubstr("'OTHER'")));
  auto two = m;
  *two.add_input() = m.input(0);
  two.mutable_input(1)->set_name("IN2");
  EXPECT_THAT(bind(two, n), HasSubstr("input 'IN2' of model 'm' is not mapped"));
  auto no_out = m;
  no_out.mutable_output(0)->set_name("O");
  EXPECT_THAT(bind(no_out, n), HasSubstr("output_map key 'OUT' is not an output of model 'm'"));
  auto ints = n;
  ints.mutable_input(0)->set_data_type(inference::TYPE_INT32);
  EXPECT_THAT(bind(m, ints), AllOf(HasSubstr("tensor 'T' is TYPE_FP32 as output 'OUT' of step 0"),
                                   HasSubstr("TYPE_INT32 as input 'X' of step 1 (model 'n')")));
  auto wide = n;
  wide.mutable_input(0)->set_dims(1, 4);
  EXPECT_THAT(bind(m, wide),
              AllOf(HasSubstr("tensor 'T' has shape [-1,3]"),
                    HasSubstr("[-1,4] as input 'X' of step 1"), HasSubstr("cannot match")));
  auto flat = n;
  flat.mutable_output(0)->clear_dims();
  flat.mutable_output(0)->add_dims(-1);
  flat.mutable_output(0)->add_dims(2);
  flat.mutable_output(0)->add_dims(2);
  EXPECT_THAT(bind(m, flat), HasSubstr("ensemble output 'OUT'"));
}

TEST(EnsemblePlanTest, NeededStepsFollowRequestedOutputs) {
  auto config = Parse(
      "name: \"e\" platform: \"ensemble\"\n"
      "input [ { name: \"A\" data_type: TYPE_FP32 dims: [ 1 ] } ]\n"
      "output [ { name: \"X\" data_type: TYPE_FP32 dims: [ 1 ] },"
      "         { name: \"Y\" data_type: TYPE_FP32 dims: [ 1 ] } ]\n"
      "ensemble_scheduling { step [ " +
      Step("m", "IN:A", "OUT:T") + "," + Step("m", "IN:T", "OUT:X") + "," +
      Step("m", "IN:A", "OUT:Y") + " ] }");
  auto plan = BuildEnsemblePlan(config);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_THAT(plan->NeededSteps({}), ElementsAre(true, true, true));
  EXPECT_THAT(plan->NeededSteps({"X"}), ElementsAre(true, true, false));
  EXPECT_THAT(plan->NeededSteps({"Y"}), ElementsAre(false, false, true));
  EXPECT_EQ(plan->producer.at("T"), 0u);
  EXPECT_THAT(plan->consumers.at("A"), ElementsAre(0u, 2u));
}

TEST(EnsemblePlanTest, AdaptShapeConvertsBatchDimensionLikeTriton) {
  // Same batching on both sides: unchanged.
  EXPECT_EQ(AdaptShape({3}, true, 2, {2, 3}), (Shape{2, 3}));
  EXPECT_EQ(AdaptShape({-1, 3}, false, 0, {2, 3}), (Shape{2, 3}));
  // Non-batched tensor into a batching model: batch 1 added when it fits dims.
  EXPECT_EQ(AdaptShape({3}, true, 0, {3}), (Shape{1, 3}));
  EXPECT_EQ(AdaptShape({3}, true, 0, {5, 3}), (Shape{5, 3}));
  // Batch-1 tensor into a non-batching model: batch dropped unless it fits.
  EXPECT_EQ(AdaptShape({3}, false, 1, {1, 3}), (Shape{3}));
  EXPECT_EQ(AdaptShape({-1, 3}, false, 1, {1, 3}), (Shape{1, 3}));
  EXPECT_EQ(AdaptShape({3}, false, 2, {2, 3}), (Shape{2, 3}));
  EXPECT_TRUE(DimsCompatible({-1, 3}, {7, 3}));
  EXPECT_FALSE(DimsCompatible({3}, {3, 1}));
}

}  // namespace
}  // namespace nereid::core
