// Diagnostics: every file in tests/frontend/diagnostics/ starts with
//   # expect: [file:]line:col: message-substring
// and must fail to build with exactly that location and a message containing that text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/frontend/Frontend.h"

using namespace recc;
namespace fs = std::filesystem;

namespace {

const std::string kDir = std::string(RECC_SOURCE_DIR) + "/tests/frontend/diagnostics";

struct Expectation {
  std::string file;  // basename of the file the error must point into
  int line = 0, col = 0;
  std::string message;
};

Expectation parseExpectation(const fs::path& p) {
  std::ifstream in(p);
  std::string first;
  std::getline(in, first);
  const std::string tag = "# expect: ";
  EXPECT_EQ(first.rfind(tag, 0), 0u) << p << " lacks an '# expect:' first line";
  std::string rest = first.substr(tag.size());
  Expectation e;
  e.file = p.filename().string();
  // Optional "file.rec:" prefix, then "line:col: message".
  size_t c1 = rest.find(':');
  if (rest.substr(0, c1).find(".rec") != std::string::npos) {
    e.file = rest.substr(0, c1);
    rest = rest.substr(c1 + 1);
    c1 = rest.find(':');
  }
  size_t c2 = rest.find(':', c1 + 1);
  e.line = std::stoi(rest.substr(0, c1));
  e.col = std::stoi(rest.substr(c1 + 1, c2 - c1 - 1));
  e.message = rest.substr(c2 + 2);
  return e;
}

std::vector<fs::path> diagnosticFiles() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(kDir))
    if (entry.path().extension() == ".rec") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Builds `source` and returns the DiagError; fails the test if it builds.
DiagError errorOf(const std::string& source, const FrontendOptions& o = {}) {
  try {
    buildModelFromString(source, "t.rec", o);
  } catch (const DiagError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a DiagError for:\n" << source;
  return DiagError({}, "");
}

}  // namespace

TEST(Diagnostics, EveryFileFailsWhereItSays) {
  std::vector<fs::path> files = diagnosticFiles();
  EXPECT_GE(files.size(), 30u);
  for (const fs::path& p : files) {
    SCOPED_TRACE(p.filename().string());
    Expectation want = parseExpectation(p);
    try {
      buildModel(p.string());
      ADD_FAILURE() << p.filename() << " built without error";
    } catch (const DiagError& e) {
      EXPECT_EQ(fs::path(e.loc().file).filename().string(), want.file) << e.message();
      EXPECT_EQ(e.loc().line, want.line) << e.message();
      EXPECT_EQ(e.loc().col, want.col) << e.message();
      EXPECT_NE(e.message().find(want.message), std::string::npos)
          << "message: " << e.message() << "\nwanted:  " << want.message;
    }
  }
}

TEST(Diagnostics, RenderedWithSourceLineAndCaret) {
  std::string path = kDir + "/shape_concat_rank.rec";
  try {
    buildModel(path);
    FAIL() << "expected an error";
  } catch (const DiagError& e) {
    std::string r = renderDiag(e);
    EXPECT_NE(r.find("shape_concat_rank.rec:8:9: error: concat: shapes [B,4,32] and [B,32] differ in rank"),
              std::string::npos)
        << r;
    EXPECT_NE(r.find("  bad = concat([fields, emb(user_id)], axis = 1)\n        ^\n"), std::string::npos) << r;
  }
}

TEST(Diagnostics, SetUnknownHyperparameter) {
  FrontendOptions o;
  o.overrides = {{"dimm", "64"}};
  DiagError e = errorOf("model M(dim = 8) {\n  input age : dense\n}\n", o);
  EXPECT_EQ(e.message(), "--set: unknown hyperparameter 'dimm' (model M has dim)");
  EXPECT_EQ(e.loc().line, 1);
  EXPECT_EQ(e.loc().col, 7);
}

TEST(Diagnostics, SetValueIsParsedAsALiteral) {
  FrontendOptions o;
  o.overrides = {{"dim", "[1,"}};
  DiagError e = errorOf("model M(dim = 8) { input age : dense }", o);
  EXPECT_EQ(e.loc().file, "--set dim");
  EXPECT_NE(e.message().find("expected"), std::string::npos) << e.message();
}

TEST(Diagnostics, MissingModelFile) {
  try {
    buildModel(kDir + "/does_not_exist.rec");
    FAIL();
  } catch (const DiagError& e) {
    EXPECT_NE(e.message().find("cannot read model file"), std::string::npos);
  }
}

TEST(Diagnostics, RecursionThroughAFunctionValueIsCaughtWhileBuilding) {
  // `f` calls its argument, which is `f` itself: not visible statically, caught when inlining.
  DiagError e = errorOf("def f(g, x) { return g(g, x) }\nmodel M {\n  input age : dense\n  y = f(f, age)\n}\n");
  EXPECT_NE(e.message().find("recursive call to 'f'"), std::string::npos) << e.message();
  EXPECT_EQ(e.loc().line, 1);
}

TEST(Diagnostics, LossWeightKeyword) {
  DiagError e = errorOf("model M {\n  label y : binary\n  loss mean(y, axis = 0), wieght = 2\n}\n");
  EXPECT_EQ(e.message(), "unknown loss option 'wieght' (expected weight)");
  EXPECT_EQ(e.loc().line, 3);
  EXPECT_EQ(e.loc().col, 27);
}

TEST(Diagnostics, TruncatedSourcesOnlyEverThrowDiagError) {
  // Every prefix of a real model (cut at each token boundary-ish step) is either a valid
  // program or a DiagError; never another exception or a crash.
  std::string path = std::string(RECC_SOURCE_DIR) + "/zoo/deepfm.rec";
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  int diags = 0;
  for (size_t cut = 0; cut < text.size(); cut += 3) {
    try {
      buildModelFromString(text.substr(0, cut), path);
    } catch (const DiagError& e) {
      ++diags;
      EXPECT_FALSE(e.message().empty());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cut at " << cut << ": non-diagnostic exception " << e.what();
    }
  }
  EXPECT_GT(diags, 100);
}

TEST(Diagnostics, MutatedSourcesOnlyEverThrowDiagError) {
  // Replace one character at a time with characters that break things in different ways.
  std::string path = std::string(RECC_SOURCE_DIR) + "/zoo/fnn.rec";
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::string junk = "(\"]-$0x";
  for (size_t pos = text.find("model"); pos < text.size(); pos += 5) {
    std::string t = text;
    t[pos] = junk[pos % junk.size()];
    try {
      buildModelFromString(t, path);
    } catch (const DiagError&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "mutation at " << pos << ": non-diagnostic exception " << e.what();
    }
  }
}

TEST(Diagnostics, IntegerOverflowAndHugeValues) {
  DiagError e = errorOf("model M(a = 9223372036854775807 * 2) {\n  input age : dense\n}\n");
  EXPECT_EQ(e.message(), "integer overflow in '*'");
  EXPECT_EQ(e.loc().col, 33);
  DiagError big = errorOf("model M {\n  input age : dense\n  x = dense(age, 1e300)\n}\n");
  EXPECT_NE(big.message().find("dense: expected an integer, got a float"), std::string::npos) << big.message();
  DiagError half = errorOf("model M {\n  input age : dense\n  x = dense(age, 5 / 2)\n}\n");
  EXPECT_EQ(half.message(), "dense: expected an integer, got a float 2.5");
  DiagError r = errorOf("model M(n = len(range(1000000000))) { input age : dense }");
  EXPECT_NE(r.message().find("range: 1000000000 is too long"), std::string::npos) << r.message();
}
