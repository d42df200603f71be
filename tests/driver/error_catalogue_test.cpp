// The catalogue of bad inputs at the command line: each gives its exit code and the whole message,
// which says what is wrong and where (file and line:col, or CSV row and column), never a crash.
// Model-file errors are the files of tests/frontend/diagnostics/ (syntax, names, arguments,
// duplicates, recursion, imports, types, shapes of every op family, dimension overflow, an empty
// file), each run through `recc check`; CSV, checkpoint, memory and command-line errors follow.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
// GCC 12 reports a false -Wmaybe-uninitialized inside <regex> in sanitizer builds.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

#include "tests/driver/RunRecc.h"
#include "tests/frontend/DiagnosticFiles.h"

using namespace recc_test;
namespace fs = std::filesystem;

namespace {

const char* kHeader = "user_id,movie_id,genres,year,rating,timestamp,label\n";
const char* kRows =
    "1,10,Drama,1995,4.0,1,1\n2,11,Comedy|Drama,1996,2.0,2,0\n3,10,Action,1995,5.0,3,1\n"
    "1,12,Drama,1999,1.0,4,0\n";

std::string writeFile(const std::string& name, const std::string& text) {
  std::string p = tmpPath(name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::string goodCsv() { return writeFile("good.csv", std::string(kHeader) + kRows); }

RunResult trainOn(const std::string& trainCsv, const std::string& extra = "") {
  return runRecc("train " + src("zoo/deepfm.rec") + " --train " + trainCsv + " --test " + goodCsv() +
                 " --epochs 1 --quiet --set hidden=[8,4] " + extra);
}

/// The run exited with `code` and printed `line` as one whole line.
void expectLine(const RunResult& r, int code, const std::string& line) {
  EXPECT_EQ(r.code, code) << r.out;
  EXPECT_TRUE(("\n" + r.out).find("\n" + line + "\n") != std::string::npos)
      << "expected the line\n  " << line << "\nin\n" << r.out;
}

/// A model with one dense input, one label and two scalar parameters.
std::string denseModel() {
  return writeFile("dense.rec", "model D {\n  input rating : dense\n  label label : binary\n"
                                "  logit = rating * param([]) + param([])\n  output prob = sigmoid(logit)\n"
                                "  loss bce_with_logits(logit, label)\n}\n");
}

}  // namespace

TEST(ErrorCatalogue, EveryDiagnosticFileFailsAtTheCommandLine) {
  std::vector<fs::path> files = diagnosticFiles();
  EXPECT_GE(files.size(), 60u);
  for (const fs::path& p : files) {
    SCOPED_TRACE(p.filename().string());
    DiagExpectation want = parseDiagExpectation(p);
    ASSERT_TRUE(want.valid);
    RunResult r = runRecc("check " + p.string() + " -I " + src("zoo"));
    EXPECT_EQ(r.code, 1) << r.out;
    // The first line is "<path>:<line>:<col>: error: <message>" (then the source line and a caret).
    std::string first = r.out.substr(0, r.out.find('\n'));
    const std::string tag = ": error: ";
    size_t at = first.find(tag);
    ASSERT_NE(at, std::string::npos) << r.out;
    std::string loc = first.substr(0, at), message = first.substr(at + tag.size());
    std::string where = ":" + std::to_string(want.line) + ":" + std::to_string(want.col);
    EXPECT_EQ(fs::path(loc).filename().string(), want.file + where) << r.out;
    EXPECT_TRUE(want.matches(message)) << "message: " << message << "\nwanted:  " << want.message;
  }
}

TEST(ErrorCatalogue, ImportOutsideTheAllowedDirectories) {
  std::string model = writeFile("escape.rec", "# reads a system file\nimport \"/etc/passwd\"\nmodel M { input age : dense }\n");
  std::string dir = fs::canonical(fs::path(model).parent_path()).string();
  RunResult r = runRecc("check " + model);
  expectLine(r, 1, model + ":2:8: error: import \"/etc/passwd\" is outside the allowed directories (" + dir +
                       "): it resolves to /etc/passwd; pass -I DIR to allow another directory");
  EXPECT_NE(r.out.find("import \"/etc/passwd\"\n       ^\n"), std::string::npos) << r.out;
}

TEST(ErrorCatalogue, CsvInputs) {
  struct Case {
    const char* name;
    std::string text;
    std::string message;  // after "<path>: "
  };
  const std::vector<Case> cases = {
      {"empty.csv", "", "file is empty (expected a header row)"},
      {"header_only.csv", kHeader, "has no data rows (only a header); nothing to train or score"},
      {"ragged.csv", std::string(kHeader) + "1,10,Drama,1995,4.0,1,1\n2,11,Comedy\n", "row 3: expected 7 fields, found 3"},
      {"unterminated.csv", std::string(kHeader) + "1,10,\"Drama,1995,4.0,1,1\n",
       "row 2: unterminated quoted field (a '\"' is never closed)"},
      {"after_quote.csv", std::string(kHeader) + "1,10,\"Drama\"x,1995,4.0,1,1\n",
       "row 2: unexpected character after a closing quote (quote the whole field and double any quote inside it)"},
      {"nonnumeric_label.csv", std::string(kHeader) + "1,10,Drama,1995,4.0,1,yes\n",
       "row 2, column 'label': label 'yes' is not 0 or 1"},
      {"label_two.csv", std::string(kHeader) + "1,10,Drama,1995,4.0,1,1\n1,10,Drama,1995,4.0,1,2\n",
       "row 3, column 'label': label '2' is not 0 or 1"},
      {"missing_col.csv", "user_id,movie_id,genres,label\n1,2,Drama,1\n",
       "missing column 'year' (needed by input year); the header has: user_id, movie_id, genres, label "
       "[input declared at " + src("zoo/deepfm.rec") + ":16]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = writeFile(c.name, c.text);
    expectLine(trainOn(path), 3, "recc: error: " + path + ": " + c.message);
  }
  std::string missing = tmpPath("does_not_exist.csv");
  expectLine(trainOn(missing), 3, "recc: error: " + missing + ": cannot open file: No such file or directory");
}

TEST(ErrorCatalogue, CsvQuotingBomAndCrlfAreRead) {
  std::string text = "\xEF\xBB\xBFuser_id,movie_id,genres,year,rating,timestamp,label\r\n"
                     "1,10,\"Drama|Comedy\",1995,4.0,1,1\r\n2,\"11\",\"Com\"\"edy, dark\",1996,2.0,2,0\r\n"
                     "3,10,Action,1995,5.0,3,1\r\n1,12,Drama,1999,1.0,4,0\r\n";
  RunResult r = trainOn(writeFile("quoted.csv", text));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("error"), std::string::npos) << r.out;
}

TEST(ErrorCatalogue, DenseValues) {
  std::string model = denseModel();
  for (const char* bad : {"abc", "nan", "inf", "-inf", ""}) {
    SCOPED_TRACE(bad);
    std::string csv = writeFile("dense_bad.csv", std::string(kHeader) + "1,10,Drama,1995,2.5,1,1\n1,10,Drama,1995," +
                                                     bad + ",1,1\n");
    RunResult r = runRecc("train " + model + " --train " + csv + " --test " + csv + " --quiet");
    expectLine(r, 3, "recc: error: " + csv + ": row 3, column 'rating': '" + bad + "' is not a finite number");
  }
}

TEST(ErrorCatalogue, MultiValuedCellLongerThanDeclaredIsAWarning) {
  // deepfm declares genres : ids<genre>[6]; rows 3 and 5 have 8 and 7 genres.
  std::string csv = writeFile("long_genres.csv", std::string(kHeader) + "1,10,Drama,1995,4.0,1,1\n"
                                                     "2,11,A|B|C|D|E|F|G|H,1996,2.0,2,0\n3,10,Action,1995,5.0,3,1\n"
                                                     "1,12,A|B|C|D|E|F|G,1999,1.0,4,0\n");
  RunResult r = trainOn(csv);
  expectLine(r, 0, "recc: warning: " + csv +
                       ": 2 cells of column genres had more than 6 values; extra values were dropped (first at row 3)");
  EXPECT_NE(r.out.find("test  auc "), std::string::npos) << "training went on:\n" << r.out;
  // eval and predict warn about the file they read, too.
  std::string ckpt = tmpPath("long.ckpt");
  ASSERT_EQ(trainOn(goodCsv(), "--out " + ckpt).code, 0);
  expectLine(runRecc("eval " + ckpt + " --data " + csv), 0,
             "recc: warning: " + csv +
                 ": 2 cells of column genres had more than 6 values; extra values were dropped (first at row 3)");
  expectLine(runRecc("predict " + ckpt + " --data " + csv + " --out " + tmpPath("long_preds.csv")), 0,
             "recc: warning: " + csv +
                 ": 2 cells of column genres had more than 6 values; extra values were dropped (first at row 3)");
}

TEST(ErrorCatalogue, OutOfVocabularyIdsAreCountedNotFatal) {
  std::string test = writeFile("oov.csv", std::string(kHeader) + "9,99,Drama,1995,4.0,1,1\n1,10,Western,1995,2.0,2,0\n");
  RunResult r = runRecc("train " + src("zoo/deepfm.rec") + " --train " + goodCsv() + " --test " + test +
                        " --epochs 1 --set hidden=[8,4]");
  // user 9, movie 99 and genre Western were not in the training file.
  expectLine(r, 0, "recc: 3 ids in " + test + " were not seen in training (encoded as <oov>)");
}

TEST(ErrorCatalogue, Checkpoints) {
  std::string ckpt = tmpPath("cat.ckpt");
  std::string good = goodCsv();
  ASSERT_EQ(runRecc("train " + src("zoo/als_mlp.rec") + " --train " + good + " --test " + good +
                    " --epochs 1 --quiet --out " + ckpt).code, 0);
  std::string bytes = readFile(ckpt);
  ASSERT_GT(bytes.size(), 64u);
  std::string flipped = bytes, newer = bytes;
  flipped[bytes.size() / 2] ^= 0x5a;
  newer[8] = 2;  // the format version follows the 8-byte magic
  struct Case {
    std::string path, message;  // message after "<path>"
  };
  const std::string truncated = writeFile("trunc.ckpt", bytes.substr(0, bytes.size() / 3));
  const std::string header = writeFile("header.ckpt", bytes.substr(0, 10));
  const std::string corrupt = writeFile("flipped.ckpt", flipped);
  const std::string version = writeFile("version.ckpt", newer);
  const std::string notCkpt = writeFile("not.ckpt", "hello, I am a CSV\n");
  const std::string none = tmpPath("none.ckpt");
  for (const Case& c : {
           Case{truncated, ": checkpoint is truncated (expected " + std::to_string(bytes.size()) + " bytes, found " +
                               std::to_string(bytes.size() / 3) + "); retrain or restore a backup"},
           Case{header, ": checkpoint is truncated (header incomplete); the save was interrupted \xE2\x80\x94 retrain or "
                        "restore a backup"},
           Case{corrupt, " is corrupt (checksum mismatch): the file changed after it was written; retrain or restore "
                         "a backup"},
           Case{version, ": unsupported checkpoint format version 2 (this recc reads version 1); use the recc that "
                         "wrote it or retrain"},
           Case{notCkpt, ": not a recc checkpoint (bad magic); pass a file written by `recc train --out`"},
           Case{none, ": cannot open checkpoint: No such file or directory (train with `recc train ... --out " + none +
                          "` to create it)"},
       }) {
    SCOPED_TRACE(c.path);
    expectLine(runRecc("eval " + c.path + " --data " + good), 3, "recc: error: " + c.path + c.message);
  }
  // A checkpoint of another model: resuming deepfm from an als_mlp checkpoint is refused.
  RunResult other = runRecc("train " + src("zoo/deepfm.rec") + " --train " + good + " --test " + good +
                            " --epochs 2 --quiet --resume " + ckpt);
  expectLine(other, 3, "recc: error: " + ckpt + ": was written by another model or other --set values than " +
                           src("zoo/deepfm.rec") + "; resume with the same model file and settings");
}

TEST(ErrorCatalogue, ModelWithoutLossCannotTrain) {
  std::string good = goodCsv();
  std::string model = writeFile("noloss.rec", "model N {\n  input rating : dense\n  label label : binary\n"
                                              "  output prob = sigmoid(rating * param([]))\n}\n");
  expectLine(runRecc("train " + model + " --train " + good + " --test " + good), 1,
             model + ": error: model 'N' has no loss; add `loss ...` to train it");
  // An empty model is valid to check, and has nothing to train.
  std::string empty = writeFile("empty_model.rec", "model E {\n}\n");
  EXPECT_EQ(runRecc("check " + empty).code, 0);
  expectLine(runRecc("train " + empty + " --train " + good + " --test " + good), 1,
             empty + ": error: model 'E' has no loss; add `loss ...` to train it");
}

TEST(ErrorCatalogue, InvalidUtf8ModelFile) {
  std::string model = writeFile("latin1.rec", "model M {\n  input caf\xE9 : dense\n}\n");
  RunResult r = runRecc("check " + model);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("latin1.rec:2:12: error: invalid UTF-8 byte"), std::string::npos) << r.out;
}

TEST(ErrorCatalogue, CommandLine) {
  const std::string model = src("zoo/deepfm.rec"), good = goodCsv();
  const std::string train = "train " + model + " --train " + good + " --test " + good + " ";
  expectLine(runRecc("check " + model + " --bogus 1"), 2, "recc: error: recc check: unknown flag --bogus");
  expectLine(runRecc(train + "--epochs zero"), 2, "recc: error: --epochs: 'zero' is not a number");
  expectLine(runRecc(train + "--batch -3"), 2, "recc: error: --batch: '-3' must be a positive integer");
  expectLine(runRecc(train + "--optimizer adagrad"), 2, "recc: error: optimizer 'adagrad' is not one of sgd, adam, adamw");
  expectLine(runRecc("check " + model + " --set dim"), 2, "recc: error: --set expects name=value, got 'dim'");
  // An unknown hyperparameter is a model error at the model's header.
  RunResult set = runRecc("check " + model + " --set dimm=3");
  expectLine(set, 1, model + ":13:7: error: --set: unknown hyperparameter 'dimm' (model DeepFM has dim, hidden, "
                             "max_norm, drop)");
}

TEST(ErrorCatalogue, ModelTooLargeForMemoryIsRefusedWithItsSize) {
  // 2^40 parameters (4 TiB, the most one tensor may hold) and three optimizer copies.
  std::string big = writeFile("big.rec", "model Big {\n  input rating : dense\n  label label : binary\n"
                                         "  w = param([1048576, 1048576])\n"
                                         "  logit = rating * sum(sum(w, axis = 0), axis = 0)\n"
                                         "  loss bce_with_logits(logit, label)\n}\n");
  std::string good = goodCsv();
  RunResult r = runRecc("train " + big + " --train " + good + " --test " + good + " --quiet");
  EXPECT_EQ(r.code, 1) << r.out;
  std::regex params(
      "error: model 'Big' needs 16\\.0 TiB of memory \\(parameters 4\\.0 TiB, optimizer state 12\\.0 TiB\\), more "
      "than the [0-9.]+ [MGTP]iB available; use a smaller --batch, or reduce dim, layer sizes or vocabularies\n");
  EXPECT_TRUE(std::regex_search(r.out, params)) << r.out;
}

TEST(ErrorCatalogue, ArenaTooLargeForMemoryIsRefusedBeforeAllocating) {
  // Two scalar parameters, but every intermediate [B] at --batch 10^12 takes 4 TB.
  std::string good = goodCsv();
  RunResult r = runRecc("train " + denseModel() + " --train " + good + " --test " + good +
                        " --quiet --batch 1000000000000");
  EXPECT_EQ(r.code, 1) << r.out;
  std::regex arena(
      "error: model 'D' needs [0-9.]+ [TP]iB of memory \\(parameters 0\\.0 MiB, optimizer state 0\\.0 MiB, "
      "training step arena for batch 1000000000000 [0-9.]+ [TP]iB, inference arena for batch 4096 [0-9.]+ MiB\\), "
      "more than the [0-9.]+ [MGTP]iB available; use a smaller --batch, or reduce dim, layer sizes or "
      "vocabularies\n");
  EXPECT_TRUE(std::regex_search(r.out, arena)) << r.out;
  // `recc compile` allocates the arenas too, and checks them first.
  RunResult c = runRecc("compile " + denseModel() + " --batch 1000000000000");
  EXPECT_EQ(c.code, 1) << c.out;
  EXPECT_NE(c.out.find("training step arena for batch 1000000000000"), std::string::npos) << c.out;
  expectLine(runRecc("compile " + denseModel() + " --batch 0"), 2, "recc: error: --batch: '0' is not a positive batch size");
}
