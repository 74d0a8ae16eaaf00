#include "core/warmup.h"

#include <gmock/gmock.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/model.h"

namespace nereid::core {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

inference::ModelConfig Parse(const std::string& text) {
  inference::ModelConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

const char* kConfig = R"(
  name: "m" backend: "fake" max_batch_size: 4
  input [ { name: "A" data_type: TYPE_FP32 dims: [ 2 ] } ]
  output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 2 ] } ]
  instance_group [ { count: 2 kind: KIND_CPU name: "g" } ])";

// Records what it executes (per instance) and fails when told to.
struct Recorder {
  std::mutex mu;
  std::vector<std::vector<std::vector<float>>> batches;  // per Execute: per request: A
  std::vector<std::thread::id> threads;
  std::string fail_with;
};

class RecordingInstance : public ModelInstance {
 public:
  explicit RecordingInstance(Recorder* recorder) : recorder_(recorder) {}
  void Execute(std::vector<std::unique_ptr<InferenceRequest>>& requests) override {
    std::lock_guard<std::mutex> lock(recorder_->mu);
    recorder_->threads.push_back(std::this_thread::get_id());
    std::vector<std::vector<float>> batch;
    for (auto& r : requests) {
      const TensorView& a = r->FindInput("A")->tensor;
      const float* p = reinterpret_cast<const float*>(a.data);
      batch.emplace_back(p, p + a.byte_size / 4);
      if (recorder_->fail_with.empty()) {
        r->Complete(std::make_unique<InferenceResponse>());
      } else {
        r->CompleteWithError(Internal(recorder_->fail_with));
      }
    }
    recorder_->batches.push_back(std::move(batch));
  }

 private:
  Recorder* recorder_;
};

class RecordingModel : public BackendModel {
 public:
  explicit RecordingModel(Recorder* recorder) : recorder_(recorder) {}
  StatusOr<std::unique_ptr<ModelInstance>> CreateInstance(const InstanceOptions&) override {
    return std::unique_ptr<ModelInstance>(std::make_unique<RecordingInstance>(recorder_));
  }

 private:
  Recorder* recorder_;
};

StatusOr<std::shared_ptr<Model>> Create(const std::string& warmup, Recorder* recorder,
                                        const std::string& model_dir = "") {
  static SystemClock clock;
  Model::Options options;
  options.model_dir = model_dir;
  return Model::Create(Parse(std::string(kConfig) + warmup), 1,
                       std::make_unique<RecordingModel>(recorder), options, clock);
}

TEST(WarmupTest, EveryInstanceRunsEverySampleBeforeTheModelExists) {
  Recorder recorder;
  auto model = Create(R"(model_warmup [
      { name: "zeros" batch_size: 3 count: 2
        inputs { key: "A" value { data_type: TYPE_FP32 dims: [ 2 ] zero_data: true } } },
      { name: "random" batch_size: 1
        inputs { key: "A" value { data_type: TYPE_FP32 dims: [ 2 ] random_data: true } } } ])",
                      &recorder);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  // 2 instances x (2 executions of "zeros" + 1 of "random").
  ASSERT_EQ(recorder.batches.size(), 6u);
  for (int i = 0; i < 2; ++i) {
    const auto& zeros = recorder.batches[i * 3];
    ASSERT_EQ(zeros.size(), 3u);  // batch_size requests in one execution
    EXPECT_EQ(zeros[0], (std::vector<float>{0, 0}));
    const auto& random = recorder.batches[i * 3 + 2];
    ASSERT_EQ(random.size(), 1u);
    EXPECT_GE(random[0][0], 0.0f);
    EXPECT_LT(random[0][0], 1.0f);
  }
  // Not on the loading thread (instances serve on threads of their own).
  for (const auto& id : recorder.threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(WarmupTest, AFailingSampleFailsTheLoadNamingIt) {
  Recorder recorder;
  recorder.fail_with = "kernel exploded";
  auto model = Create(R"(model_warmup [ { name: "first" batch_size: 1
        inputs { key: "A" value { data_type: TYPE_FP32 dims: [ 2 ] zero_data: true } } } ])",
                      &recorder);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(),
              HasSubstr("model_warmup sample 'first' failed on instance g_0: kernel exploded"));
}

TEST(WarmupTest, SamplesAreValidatedLikeRequests) {
  struct Case {
    std::string warmup;
    std::string error;
  };
  const std::vector<Case> cases = {
      {R"(model_warmup [ { name: "wrong_type" batch_size: 1
          inputs { key: "A" value { data_type: TYPE_INT32 dims: [ 2 ] zero_data: true } } } ])",
       "model_warmup sample 'wrong_type': inference input 'A' data-type is 'INT32', but model "
       "'m' expects 'FP32'"},
      {R"(model_warmup [ { name: "wrong_dims" batch_size: 1
          inputs { key: "A" value { data_type: TYPE_FP32 dims: [ 3 ] zero_data: true } } } ])",
       "model_warmup sample 'wrong_dims': unexpected shape for input 'A'"},
      {R"(model_warmup [ { name: "unknown" batch_size: 1
          inputs { key: "B" value { data_type: TYPE_FP32 dims: [ 2 ] zero_data: true } } } ])",
       "model_warmup sample 'unknown': unexpected inference input 'B'"},
      {R"(model_warmup [ { name: "big" batch_size: 5
          inputs { key: "A" value { data_type: TYPE_FP32 dims: [ 2 ] zero_data: true } } } ])",
       "model_warmup sample 'big': batch_size 5 is larger than max_batch_size 4"},
      {R"(model_warmup [ { name: "none" batch_size: 0
          inputs { key: "A" value { data_type: TYPE_FP32 dims: [ 2 ] zero_data: true } } } ])",
       "model_warmup sample 'none': batch_size must be at least 1"},
      {R"(model_warmup [ { name: "nodata" batch_size: 1
          inputs { key: "A" value { data_type: TYPE_FP32 dims: [ 2 ] } } } ])",
       "model_warmup sample 'nodata', input 'A': set one of zero_data, random_data or "
       "input_data_file"},
      {R"(model_warmup [ { name: "notype" batch_size: 1
          inputs { key: "A" value { dims: [ 2 ] zero_data: true } } } ])",
       "model_warmup sample 'notype', input 'A': data_type is not set"},
      {R"(model_warmup [ { name: "escape" batch_size: 1
          inputs { key: "A" value { data_type: TYPE_FP32 dims: [ 2 ] input_data_file: "../x" } } } ])",
       "must name a file in the model's warmup/ directory"},
      {R"(model_warmup [ { name: "empty" batch_size: 1 } ])",
       "model_warmup sample 'empty': it has no inputs"},
  };
  for (const Case& c : cases) {
    Recorder recorder;
    auto model = Create(c.warmup, &recorder);
    ASSERT_FALSE(model.ok()) << c.warmup;
    EXPECT_THAT(model.status().message(), HasSubstr(c.error)) << c.warmup;
    EXPECT_TRUE(recorder.batches.empty()) << c.warmup;
  }
}

TEST(WarmupTest, InputDataFilesComeFromTheWarmupDirectory) {
  const fs::path dir = fs::temp_directory_path() / ("nereid_warmup_" + std::to_string(::getpid()));
  fs::create_directories(dir / "warmup");
  const float values[2] = {1.5f, -2.0f};
  std::ofstream(dir / "warmup" / "a.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(values), sizeof(values));
  std::ofstream(dir / "warmup" / "short.bin", std::ios::binary).write("abc", 3);
  const std::string sample = R"(model_warmup [ { name: "file" batch_size: 1
      inputs { key: "A" value { data_type: TYPE_FP32 dims: [ 2 ] input_data_file: "FILE" } } } ])";
  auto with = [&](const std::string& file) {
    std::string text = sample;
    text.replace(text.find("FILE"), 4, file);
    return text;
  };
  Recorder recorder;
  auto model = Create(with("a.bin"), &recorder, dir.string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(recorder.batches[0][0], (std::vector<float>{1.5f, -2.0f}));
  Recorder r2;
  EXPECT_THAT(Create(with("short.bin"), &r2, dir.string()).status().message(),
              HasSubstr("holds 3 bytes, the input needs 8"));
  EXPECT_EQ(Create(with("missing.bin"), &r2, dir.string()).status().code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

TEST(WarmupTest, BytesInputsAreLengthPrefixedStrings) {
  auto config = Parse(R"(name: "s" max_batch_size: 0
      input [ { name: "S" data_type: TYPE_STRING dims: [ 3 ] } ]
      model_warmup [ { name: "strings" batch_size: 1
        inputs { key: "S" value { data_type: TYPE_STRING dims: [ 3 ] random_data: true } } } ])");
  auto samples = BuildWarmupSamples(config, "");
  ASSERT_TRUE(samples.ok()) << samples.status().ToString();
  const WarmupInput& in = (*samples)[0].inputs[0];
  EXPECT_EQ(in.shape, (Shape{3}));  // no batch dimension without batching
  EXPECT_EQ(*CountSerializedBytesElements(in.bytes->data(), in.bytes->size()), 3);
}

}  // namespace
}  // namespace nereid::core
