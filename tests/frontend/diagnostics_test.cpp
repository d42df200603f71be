// Diagnostics: every file in tests/frontend/diagnostics/ must fail to build with exactly the
// location and message of its `# expect:` line (tests/frontend/DiagnosticFiles.h). They are
// built with zoo/ on the include path, as `recc check FILE -I zoo` would.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "compiler/frontend/Frontend.h"
#include "tests/frontend/DiagnosticFiles.h"

using namespace recc;
using namespace recc_test;
namespace fs = std::filesystem;

namespace {

const std::string& kDir = diagnosticsDir();

FrontendOptions withZoo() {
  FrontendOptions o;
  o.includePaths = {std::string(RECC_SOURCE_DIR) + "/zoo"};
  return o;
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
    DiagExpectation want = parseDiagExpectation(p);
    ASSERT_TRUE(want.valid) << p << " lacks an '# expect: line:col: message' first line";
    try {
      buildModel(p.string(), withZoo());
      ADD_FAILURE() << p.filename() << " built without error";
    } catch (const DiagError& e) {
      EXPECT_EQ(fs::path(e.loc().file).filename().string(), want.file) << e.message();
      EXPECT_EQ(e.loc().line, want.line) << e.message();
      EXPECT_EQ(e.loc().col, want.col) << e.message();
      EXPECT_TRUE(want.matches(e.message())) << "message: " << e.message() << "\nwanted:  " << want.message
                                             << (want.prefix ? " ..." : "");
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

namespace {

/// A scratch directory tree for one test, removed when it ends.
struct TempTree {
  fs::path root;
  TempTree() {
    root = fs::temp_directory_path() /
           ("recc_diag_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root);
    root = fs::canonical(root);  // the temp directory may itself be reached through a symlink
  }
  ~TempTree() { fs::remove_all(root); }
  fs::path write(const std::string& rel, const std::string& text) {
    fs::path p = root / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
};

}  // namespace

TEST(Diagnostics, ImportsStayInsideTheModelDirectoryAndIncludePaths) {
  TempTree t;
  const fs::path secret = t.write("outside/secret.rec", "def secret(x) { return x }\n");
  t.write("models/lib/ok.rec", "def ok(x) { return x }\n");
  t.write("inc/shared.rec", "import \"../outside/secret.rec\"\ndef shared(x) { return x }\n");
  fs::create_symlink(secret, t.root / "models" / "link.rec");
  fs::create_directory_symlink(t.root / "outside", t.root / "models" / "linkdir");
  const std::string models = (t.root / "models").string(), inc = (t.root / "inc").string();
  // The model imports `what` at line 2, column 8.
  auto build = [&](const std::string& what, const FrontendOptions& o) {
    fs::path m = t.write("models/m.rec", "# imports one file\nimport \"" + what + "\"\nmodel M { input age : dense }\n");
    return buildModel(m.string(), o);
  };
  const FrontendOptions none;
  for (const std::string& what : {std::string("../outside/secret.rec"), std::string("link.rec"),
                                  std::string("linkdir/secret.rec"), std::string("lib/../../outside/secret.rec"),
                                  secret.string()}) {
    SCOPED_TRACE(what);
    try {
      build(what, none);
      ADD_FAILURE() << "the import was allowed";
    } catch (const DiagError& e) {
      EXPECT_EQ(e.message(), "import \"" + what + "\" is outside the allowed directories (" + models +
                                 "): it resolves to " + secret.string() + "; pass -I DIR to allow another directory");
      EXPECT_EQ(fs::path(e.loc().file).filename(), "m.rec");
      EXPECT_EQ(e.loc().line, 2);
      EXPECT_EQ(e.loc().col, 8);
    }
    // Naming the directory with -I allows it.
    FrontendOptions o;
    o.includePaths = {(t.root / "outside").string()};
    EXPECT_NO_THROW(build(what, o));
  }
  EXPECT_NO_THROW(build("lib/ok.rec", none));
  EXPECT_NO_THROW(build("lib/../lib/ok.rec", none));
  // A file found on an include path is confined too: its own `..` import may not leave the roots.
  FrontendOptions withInc;
  withInc.includePaths = {inc};
  try {
    build("shared.rec", withInc);
    ADD_FAILURE() << "the nested import was allowed";
  } catch (const DiagError& e) {
    EXPECT_EQ(e.message(), "import \"../outside/secret.rec\" is outside the allowed directories (" + models + ", " +
                               inc + "): it resolves to " + secret.string() + "; pass -I DIR to allow another directory");
    EXPECT_EQ(fs::path(e.loc().file).filename(), "shared.rec");
    EXPECT_EQ(e.loc().line, 1);
    EXPECT_EQ(e.loc().col, 8);
  }
}
