#include "backends/torch/torch_errors.h"

#include <gtest/gtest.h>

namespace nereid::backends::pytorch {
namespace {

TEST(TorchErrorsTest, ScriptedRaiseGivesTheExceptionLine) {
  // What libtorch 1.13 says for `raise ValueError("negative input")` in a
  // scripted forward().
  const char* what =
      "The following operation failed in the TorchScript interpreter.\n"
      "Traceback of TorchScript (most recent call last):\n"
      "  File \"gen.py\", line 21, in forward\n"
      "    def forward(self, x):\n"
      "        if bool(x.sum() < 0):\n"
      "            raise ValueError(\"negative input\")\n"
      "            ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ <--- HERE\n"
      "        return x * 2\n"
      "builtins.ValueError: negative input\n";
  EXPECT_EQ(SummarizeTorchError(what), "builtins.ValueError: negative input");
}

TEST(TorchErrorsTest, PlainErrorGivesItsFirstLine) {
  EXPECT_EQ(SummarizeTorchError("PytorchStreamReader failed reading zip archive: failed finding "
                                "central directory\nException raised from ...\n"),
            "PytorchStreamReader failed reading zip archive: failed finding central directory");
  EXPECT_EQ(SummarizeTorchError("\n\n  padded  \n"), "padded");
  EXPECT_EQ(SummarizeTorchError(""), "(no message)");
}

TEST(TorchErrorsTest, LongLinesAreCut) {
  std::string line(1000, 'x');
  EXPECT_EQ(SummarizeTorchError(line), std::string(400, 'x') + "...");
}

}  // namespace
}  // namespace nereid::backends::pytorch
