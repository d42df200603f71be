// Golden graphs: printGraph of each zoo model must match tests/frontend/golden/<model>.graph.
// After an intended change, regenerate with RECC_UPDATE_GOLDEN=1 and review the diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "compiler/frontend/Frontend.h"
#include "compiler/ir/Printer.h"

using namespace recc;

namespace {

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

/// "line 12:\n  expected: ...\n  actual:   ..." for the first differing line.
std::string firstDifference(const std::string& want, const std::string& got) {
  auto a = lines(want), b = lines(got);
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    std::string x = i < a.size() ? a[i] : "<end of file>", y = i < b.size() ? b[i] : "<end of file>";
    if (x != y) return "line " + std::to_string(i + 1) + ":\n  expected: " + x + "\n  actual:   " + y;
  }
  return "";
}

void checkGolden(const std::string& model) {
  const std::string src = std::string(RECC_SOURCE_DIR);
  const std::string golden = src + "/tests/frontend/golden/" + model + ".graph";
  std::string got = printGraph(buildModel(src + "/zoo/" + model + ".rec"));
  const char* update = std::getenv("RECC_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::ofstream(golden) << got;
    return;
  }
  std::ifstream in(golden);
  ASSERT_TRUE(in) << "missing golden " << golden << " (run with RECC_UPDATE_GOLDEN=1 to create it)";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(firstDifference(want.str(), got), "")
      << model << ": graph differs from " << golden << " (RECC_UPDATE_GOLDEN=1 rewrites it)";
}

}  // namespace

TEST(Golden, DeepFM) { checkGolden("deepfm"); }
TEST(Golden, WideDeep) { checkGolden("wide_deep"); }
TEST(Golden, Fnn) { checkGolden("fnn"); }
TEST(Golden, EmbeddingMlp) { checkGolden("embedding_mlp"); }
TEST(Golden, AlsMlp) { checkGolden("als_mlp"); }
TEST(Golden, AlsConcat) { checkGolden("als_concat"); }
TEST(Golden, Cnn) { checkGolden("cnn"); }
TEST(Golden, Rnn) { checkGolden("rnn"); }
TEST(Golden, RnnAls) { checkGolden("rnn_als"); }
TEST(Golden, RnnHistory) { checkGolden("rnn_history"); }
TEST(Golden, Afm) { checkGolden("afm"); }
TEST(Golden, Nfm) { checkGolden("nfm"); }
TEST(Golden, Pnn) { checkGolden("pnn"); }
TEST(Golden, Dcn) { checkGolden("dcn"); }
TEST(Golden, BaseSequential) { checkGolden("base_sequential"); }
TEST(Golden, Din) { checkGolden("din"); }
TEST(Golden, DinPlus) { checkGolden("din_plus"); }
TEST(Golden, Dien) { checkGolden("dien"); }
TEST(Golden, TransformerEncoder) { checkGolden("transformer_encoder"); }
TEST(Golden, Bst) { checkGolden("bst"); }
TEST(Golden, Transformer4Rec) { checkGolden("transformer4rec"); }

TEST(Golden, DifferenceReportNamesTheLine) {
  EXPECT_EQ(firstDifference("a\nb\n", "a\nc\n"), "line 2:\n  expected: b\n  actual:   c");
  EXPECT_EQ(firstDifference("a\n", "a\nx\n"), "line 2:\n  expected: <end of file>\n  actual:   x");
  EXPECT_EQ(firstDifference("same\n", "same\n"), "");
}
