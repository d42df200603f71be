// The catalogue of bad inputs at the command line: each gives its exit code and a message that
// says what is wrong and where (file and line:col, or CSV row and column), never a crash.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/driver/RunRecc.h"

using namespace recc_test;

namespace {

const char* kHeader = "user_id,movie_id,genres,year,rating,timestamp,label\n";
const char* kRows =
    "1,10,Drama,1995,4.0,1,1\n2,11,Comedy|Drama,1996,2.0,2,0\n3,10,Action,1995,5.0,3,1\n"
    "1,12,Drama,1999,1.0,4,0\n";

std::string writeCsv(const std::string& name, const std::string& text) {
  std::string p = tmpPath(name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

RunResult trainOn(const std::string& trainCsv, const std::string& extra = "") {
  std::string good = writeCsv("good.csv", std::string(kHeader) + kRows);
  return runRecc("train " + src("zoo/deepfm.rec") + " --train " + trainCsv + " --test " + good +
                 " --epochs 1 --quiet --set hidden=[8,4] " + extra);
}

struct CsvCase {
  const char* name;
  std::string text;
  const char* message;
};

}  // namespace

TEST(ErrorCatalogue, CsvInputs) {
  const std::vector<CsvCase> cases = {
      {"empty.csv", "", "empty.csv: file is empty (expected a header row)"},
      {"header_only.csv", kHeader, "has no data rows"},
      {"ragged.csv", std::string(kHeader) + "1,10,Drama,1995,4.0,1,1\n2,11,Comedy\n", "row 3: expected 7 fields, found 3"},
      {"nonnumeric_label.csv", std::string(kHeader) + "1,10,Drama,1995,4.0,1,yes\n", "row 2, column 'label'"},
      {"label_two.csv", std::string(kHeader) + "1,10,Drama,1995,4.0,1,2\n", "row 2, column 'label'"},
      {"missing_col.csv", "user_id,movie_id,genres,label\n1,2,Drama,1\n", "missing column 'year'"},
  };
  for (const CsvCase& c : cases) {
    RunResult r = trainOn(writeCsv(c.name, c.text));
    EXPECT_EQ(r.code, 3) << c.name << ":\n" << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.name << ": expected '" << c.message << "' in\n" << r.out;
    EXPECT_NE(r.out.find(c.name), std::string::npos) << "the message names the file:\n" << r.out;
  }
  RunResult missing = trainOn(tmpPath("does_not_exist.csv"));
  EXPECT_EQ(missing.code, 3);
  EXPECT_NE(missing.out.find("does_not_exist.csv"), std::string::npos) << missing.out;
}

TEST(ErrorCatalogue, CsvQuotingBomAndCrlfAreRead) {
  std::string text = "\xEF\xBB\xBFuser_id,movie_id,genres,year,rating,timestamp,label\r\n"
                     "1,10,\"Drama|Comedy\",1995,4.0,1,1\r\n2,\"11\",\"Com\"\"edy, dark\",1996,2.0,2,0\r\n"
                     "3,10,Action,1995,5.0,3,1\r\n1,12,Drama,1999,1.0,4,0\r\n";
  RunResult r = trainOn(writeCsv("quoted.csv", text));
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST(ErrorCatalogue, DenseValues) {
  std::string model = tmpPath("dense.rec");
  std::ofstream(model) << "model D {\n  input rating : dense\n  label label : binary\n"
                          "  logit = rating * param([]) + param([])\n  output prob = sigmoid(logit)\n"
                          "  loss bce_with_logits(logit, label)\n}\n";
  for (const char* bad : {"abc", "nan", "inf"}) {
    std::string csv = writeCsv(std::string("dense_") + bad + ".csv",
                               std::string(kHeader) + "1,10,Drama,1995," + bad + ",1,1\n");
    RunResult r = runRecc("train " + model + " --train " + csv + " --test " + csv + " --quiet");
    EXPECT_EQ(r.code, 3) << bad << "\n" << r.out;
    EXPECT_NE(r.out.find("row 2, column 'rating'"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("is not a finite number"), std::string::npos) << r.out;
  }
}

TEST(ErrorCatalogue, Checkpoints) {
  std::string ckpt = tmpPath("cat.ckpt");
  std::string good = writeCsv("ck.csv", std::string(kHeader) + kRows);
  ASSERT_EQ(runRecc("train " + src("zoo/als_mlp.rec") + " --train " + good + " --test " + good +
                    " --epochs 1 --quiet --out " + ckpt).code, 0);
  std::string bytes = readFile(ckpt);
  std::string truncated = writeCsv("trunc.ckpt", bytes.substr(0, bytes.size() / 3));
  std::string notCkpt = writeCsv("not.ckpt", "hello, I am a CSV\n");
  struct Case {
    std::string path;
    const char* message;
  };
  for (const Case& c : {Case{truncated, "truncated"}, Case{notCkpt, "not a recc checkpoint"},
                        Case{tmpPath("none.ckpt"), "none.ckpt"}}) {
    RunResult r = runRecc("eval " + c.path + " --data " + good);
    EXPECT_EQ(r.code, 3) << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << "expected '" << c.message << "' in\n" << r.out;
  }
  // A checkpoint of another model: resuming deepfm from an als_mlp checkpoint is refused.
  RunResult other = runRecc("train " + src("zoo/deepfm.rec") + " --train " + good + " --test " + good +
                            " --epochs 2 --quiet --resume " + ckpt);
  EXPECT_EQ(other.code, 3) << other.out;
  EXPECT_NE(other.out.find("another model"), std::string::npos) << other.out;
}

TEST(ErrorCatalogue, ModelWithoutLossCannotTrain) {
  std::string model = tmpPath("noloss.rec");
  std::ofstream(model) << "model N {\n  input rating : dense\n  label label : binary\n"
                          "  output prob = sigmoid(rating * param([]))\n}\n";
  std::string good = writeCsv("nl.csv", std::string(kHeader) + kRows);
  RunResult r = runRecc("train " + model + " --train " + good + " --test " + good);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("has no loss"), std::string::npos) << r.out;
}

TEST(ErrorCatalogue, InvalidUtf8ModelFile) {
  std::string model = tmpPath("latin1.rec");
  std::ofstream(model, std::ios::binary) << "model M {\n  input caf\xE9 : dense\n}\n";
  RunResult r = runRecc("check " + model);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("latin1.rec:2:12: error: invalid UTF-8 byte"), std::string::npos) << r.out;
}

TEST(ErrorCatalogue, ModelTooLargeForMemoryIsRefusedWithItsSize) {
  std::string good = writeCsv("mem.csv", std::string(kHeader) + kRows);
  RunResult r = runRecc("train " + src("zoo/deepfm.rec") + " --train " + good + " --test " + good +
                        " --quiet --set dim=2000000000");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("GiB for its parameters and optimizer state, more than the"), std::string::npos) << r.out;
}
