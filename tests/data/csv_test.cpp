// readCsv: quoting, BOM/CRLF, and the error messages for malformed files.
#include "tests/data/DataTestUtil.h"

namespace recc {
namespace {

using testing::dataError;
using testing::fixture;
using testing::startsWith;
using testing::tempFile;

TEST(Csv, QuotedFieldsWithCommasQuotesAndNewlines) {
  CsvTable t = readCsv(fixture("quoted.csv"));
  ASSERT_EQ(t.header, (std::vector<std::string>{"name", "quote", "n"}));
  ASSERT_EQ(t.rows, 3);
  EXPECT_EQ(t.cell(0, 0), "Smith, John");
  EXPECT_EQ(t.cell(1, 0), "He said \"hi\"");
  EXPECT_EQ(t.cell(1, 1), "multi\nline");
  EXPECT_EQ(t.cell(0, 2), "");
  EXPECT_EQ(t.cell(2, 2), "3");
  EXPECT_EQ(t.column("quote"), 1);
  EXPECT_EQ(t.column("nope"), -1);
}

TEST(Csv, BomAndCrlfAndNoTrailingNewline) {
  std::string p = tempFile("bom.csv", "\xEF\xBB\xBFid,v\r\na,1\r\n\"b\r\nc\",2");
  CsvTable t = readCsv(p);
  ASSERT_EQ(t.header, (std::vector<std::string>{"id", "v"}));
  ASSERT_EQ(t.rows, 2);
  EXPECT_EQ(t.cell(0, 0), "a");
  EXPECT_EQ(t.cell(1, 0), "1");
  EXPECT_EQ(t.cell(0, 1), "b\r\nc");  // newlines inside quotes are data
  EXPECT_EQ(t.cell(1, 1), "2");
}

TEST(Csv, TrailingBlankLinesIgnored) {
  CsvTable t = readCsv(tempFile("blank.csv", "a,b\n1,2\n\n\n"));
  EXPECT_EQ(t.rows, 1);
}

TEST(Csv, RaggedRowNamesFileAndRow) {
  std::string msg = dataError([] { readCsv(fixture("ragged.csv")); });
  EXPECT_EQ(msg, fixture("ragged.csv") + ": row 4: expected 3 fields, found 2");
}

TEST(Csv, RowNumbersCountRecordsNotLines) {
  // Row 3 spans two lines through a quoted newline; the ragged row is still row 4.
  std::string p = tempFile("ragged2.csv", "a,b\n1,2\n\"x\ny\",3\n4\n");
  EXPECT_CONTAINS(dataError([&] { readCsv(p); }), ": row 4: expected 2 fields, found 1");
}

TEST(Csv, BlankLineInTheMiddleIsRagged) {
  std::string p = tempFile("mid.csv", "a,b\n1,2\n\n3,4\n");
  EXPECT_CONTAINS(dataError([&] { readCsv(p); }), "row 3: expected 2 fields, found 1");
}

TEST(Csv, MissingFile) {
  std::string msg = dataError([] { readCsv(fixture("does_not_exist.csv")); });
  EXPECT_TRUE(startsWith(msg, fixture("does_not_exist.csv") + ": cannot open")) << msg;
}

TEST(Csv, DirectoryIsNotAFile) {
  std::string dir = std::string(RECC_SOURCE_DIR) + "/tests/data/files";
  std::string msg = dataError([&] { readCsv(dir); });
  EXPECT_TRUE(startsWith(msg, dir + ": cannot")) << msg;
}

TEST(Csv, EmptyFile) {
  std::string msg = dataError([] { readCsv(fixture("empty.csv")); });
  EXPECT_TRUE(startsWith(msg, fixture("empty.csv") + ": ")) << msg;
  EXPECT_CONTAINS(msg, "empty");
  EXPECT_CONTAINS(dataError([] { readCsv(tempFile("bomonly.csv", "\xEF\xBB\xBF\r\n")); }), "empty");
}

TEST(Csv, HeaderOnlyHasZeroRows) {
  CsvTable t = readCsv(fixture("header_only.csv"));
  EXPECT_EQ(t.rows, 0);
  EXPECT_EQ(t.header.size(), 5u);
}

TEST(Csv, UnterminatedQuote) {
  std::string msg = dataError([] { readCsv(fixture("unterminated.csv")); });
  EXPECT_TRUE(startsWith(msg, fixture("unterminated.csv") + ": row 2: unterminated")) << msg;
}

TEST(Csv, GarbageAfterClosingQuote) {
  std::string p = tempFile("garbage.csv", "a,b\n\"x\"y,1\n");
  EXPECT_CONTAINS(dataError([&] { readCsv(p); }), "row 2: unexpected character");
}

TEST(Csv, DuplicateHeader) {
  std::string p = tempFile("dup.csv", "a,b,a\n1,2,3\n");
  EXPECT_CONTAINS(dataError([&] { readCsv(p); }), "duplicate column 'a'");
}

TEST(Csv, ManyRowsAndQuotedCellsKeepTheirValues) {
  // Enough rows for the large cell block; doubled-quote cells (side arena) between plain ones.
  std::string text = "id,name\n";
  for (int r = 0; r < 300000; ++r)
    text += std::to_string(r) + (r % 1000 == 7 ? ",\"a \"\"q\"\" " + std::to_string(r) + "\"\n"
                                               : ",n" + std::to_string(r) + "\n");
  CsvTable t = readCsv(testing::tempFile("many.csv", text));
  ASSERT_EQ(t.rows, 300000);
  CsvTable copy = t;  // copies share the cells and the file bytes
  t = CsvTable();
  EXPECT_EQ(copy.cell(0, 299999), "299999");
  EXPECT_EQ(copy.cell(1, 123456), "n123456");
  EXPECT_EQ(copy.cell(1, 7), "a \"q\" 7");
  EXPECT_EQ(copy.cell(1, 299007), "a \"q\" 299007");
  EXPECT_EQ(copy.col(1)[8], "n8");
  EXPECT_EQ(copy.col(1).size(), 300000);
}

// A large file is scanned in parts on several threads: the same table, and the same first error
// (with its row) as one thread. Quoted cells with doubled quotes live in the parts' own arenas;
// a newline inside a quoted cell makes the parts' line ends wrong, and the file is then scanned
// in one pass.
TEST(Csv, ThreadsGiveTheOneThreadTableAndError) {
  auto file = [](int quotedEvery, int multiLineEvery) {
    std::string text = "id,name,x\n";
    for (int r = 0; r < 800000; ++r) {
      std::string name = "name" + std::to_string(r % 977);
      if (quotedEvery && r % quotedEvery == 3) name = "\"a \"\"q\"\", " + name + "\"";
      if (multiLineEvery && r % multiLineEvery == 5) name = "\"two\nlines\"";
      text += std::to_string(r * 7) + "," + name + "," + std::to_string(r % 3) + "\n";
    }
    return text;
  };
  const std::string text = file(0, 0);
  ASSERT_GT(text.size(), size_t{12} << 20);  // parts of 4 MiB: 3 threads get 3 parts
  for (const std::string& body : {text + "1,2,3", text + "\n\n", file(1000, 0), file(1000, 50000)}) {
    const std::string path = tempFile("parts.csv", body);
    CsvTable one = readCsv(path, 1);
    for (int threads : {2, 3}) {
      CsvTable many = readCsv(path, threads);
      ASSERT_EQ(many.header, one.header);
      ASSERT_EQ(many.rows, one.rows) << threads;
      for (size_t c = 0; c < 3; ++c)
        for (int64_t r = 0; r < one.rows; ++r) ASSERT_EQ(many.cell(c, r), one.cell(c, r)) << c << " " << r;
    }
  }
  EXPECT_EQ(readCsv(tempFile("parts.csv", file(1000, 0)), 2).cell(1, 700003), "a \"q\", name471");  // 700003 % 977
  // Ragged rows in the second and third thirds: the first is reported.
  std::string bad = text;
  bad.replace(bad.find("\n4200000,"), 1, "\n7\n");        // data row 600,000
  bad.replace(bad.find("\n2100000,"), 1, "\n1,2,3,4\n");  // data row 300,000
  const std::string path = tempFile("parts-bad.csv", bad);
  const std::string want = dataError([&] { readCsv(path, 1); });
  EXPECT_CONTAINS(want, "row 300002: expected 3 fields, found 4");
  EXPECT_EQ(dataError([&] { readCsv(path, 3); }), want);
}

TEST(Csv, QuotedEmptyAndHeaderCells) {
  CsvTable t = readCsv(testing::tempFile("qh.csv", "\"a\"\"b\",c\n\"\",\"\"\"\"\n"));
  ASSERT_EQ(t.header, (std::vector<std::string>{"a\"b", "c"}));
  ASSERT_EQ(t.rows, 1);
  EXPECT_EQ(t.cell(0, 0), "");
  EXPECT_EQ(t.cell(1, 0), "\"");
}

}  // namespace
}  // namespace recc
