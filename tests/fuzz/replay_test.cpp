// Replays a fuzz target's corpus (tests/fuzz/corpus/<target>/) through its entry point, one
// test per file, so that CI checks every saved input without clang or libFuzzer: the target is
// compiled into this executable with the project's compiler. An input the target rejects with
// its expected error passes; another exception fails the test; a crash or an abort fails it
// by ending the process (each test runs on its own under ctest).
//
// Built once per target (test_fuzz_replay_frontend, test_fuzz_replay_csv) with
// RECC_FUZZ_CORPUS set to the corpus directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<std::string> corpusFiles() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(RECC_FUZZ_CORPUS, ec))
    if (e.is_regular_file()) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

class Corpus : public ::testing::TestWithParam<std::string> {};

TEST(CorpusDir, IsNotEmpty) { EXPECT_FALSE(corpusFiles().empty()) << RECC_FUZZ_CORPUS; }

TEST_P(Corpus, Replays) {
  const std::string path = std::string(RECC_FUZZ_CORPUS) + "/" + GetParam();
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << path;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Own buffer of the exact size, as libFuzzer gives it (so ASan sees reads past the end).
  std::vector<uint8_t> data(bytes.begin(), bytes.end());
  const int r = LLVMFuzzerTestOneInput(data.data(), data.size());
  EXPECT_TRUE(r == 0 || r == -1) << path;  // -1: an input the target chose to skip
}

// Test names: the file name with anything but letters and digits as '_' (corpus files are
// SHA-1 names or seed names, so these stay unique).
std::string testName(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Fuzz, Corpus, ::testing::ValuesIn(corpusFiles()), testName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Corpus);

}  // namespace
