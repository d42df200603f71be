// encode(): ids, multi-valued ids, dense and label columns, vocabularies and their errors.
#include <set>

#include "tests/data/DataTestUtil.h"

namespace recc {
namespace {

using testing::dataError;
using testing::fixture;
using testing::startsWith;

InputDecl decl(const std::string& name, InputKind kind, const std::string& vocab = "",
               int64_t length = 0, const std::string& column = "") {
  InputDecl d;
  d.name = name;
  d.column = column.empty() ? name : column;
  d.vocab = vocab;
  d.kind = kind;
  d.length = length;
  return d;
}

std::vector<InputDecl> smallInputs() {
  return {decl("user", InputKind::Id, "user"), decl("movie", InputKind::Id, "movie"),
          decl("genres", InputKind::Ids, "genre", 3), decl("x", InputKind::Dense),
          decl("label", InputKind::Label)};
}

TEST(Encode, SmallFileAllKinds) {
  Vocabularies v;
  Dataset d = encode(readCsv(fixture("small.csv")), smallInputs(), v, true, true);
  ASSERT_EQ(d.rows, 4);
  ASSERT_EQ(d.columns.size(), 5u);
  // Ids in order of first appearance, starting at 2.
  EXPECT_EQ(d.columns[0].ids, (std::vector<int32_t>{2, 3, 2, 4}));
  EXPECT_EQ(d.columns[1].ids, (std::vector<int32_t>{2, 3, 4, 2}));
  EXPECT_EQ(d.columns[0].dtype, DType::I32);
  // Genres: Action=2 Drama=3 Comedy=4 (Horror dropped by truncation); empty cell = padding.
  EXPECT_EQ(d.columns[2].width, 3);
  EXPECT_EQ(d.columns[2].ids, (std::vector<int32_t>{2, 3, 0, 0, 0, 0, 4, 2, 3, 3, 0, 0}));
  // Row 4 of the file (header = row 1) had 4 genres for 3 slots.
  ASSERT_EQ(d.truncations.size(), 1u);
  EXPECT_EQ(d.truncations[0].column, "genres");
  EXPECT_EQ(d.truncations[0].length, 3);
  EXPECT_EQ(d.truncations[0].cells, 1);
  EXPECT_EQ(d.truncations[0].firstRow, 4);
  EXPECT_EQ(d.truncatedCells(), 1);
  EXPECT_EQ(truncationWarning(d, d.truncations[0]),
            fixture("small.csv") + ": 1 cell of column genres had more than 3 values; extra values were dropped "
                                   "(first at row 4)");
  EXPECT_EQ(v["genre"].size(), 2 + 3);  // Horror was never seen: truncated before encoding
  EXPECT_EQ(d.columns[3].values, (std::vector<float>{1.5f, -2.0f, 0.25f, 300.0f}));
  EXPECT_EQ(d.columns[4].values, (std::vector<float>{1, 0, 1, 0}));
  EXPECT_EQ(d.oovCount, 0);
  EXPECT_EQ(v["user"].token(0), "<pad>");
  EXPECT_EQ(v["user"].token(1), "<oov>");
  EXPECT_EQ(v["user"].token(3), "u2");
  auto sizes = vocabSizes(v);
  EXPECT_EQ(sizes["user"], 5);
  EXPECT_EQ(sizes["movie"], 5);
}

// A CSV "id,x" whose row r has id token(r) (which may be empty).
template <class F>
CsvTable idColumn(const std::string& name, int64_t rows, F token) {
  std::string text = "id,x\n";
  for (int64_t r = 0; r < rows; ++r) text += token(r) + ",0\n";
  return readCsv(testing::tempFile(name, text));
}

TEST(Vocab, DistinctEstimateIsWithinAFewPercent) {
  for (int64_t distinct : {1, 300, 5000, 150000}) {
    CsvTable t = idColumn("distinct.csv", 200000, [&](int64_t r) {
      return (r % 7 ? "id" : "long-token-") + std::to_string(r % distinct);
    });
    std::set<std::string_view> seen;
    for (int64_t r = 0; r < t.rows; ++r) seen.insert(t.col(0)[r]);
    const auto truth = static_cast<double>(seen.size());
    EXPECT_NEAR(static_cast<double>(distinctEstimate(t.col(0), 0)), truth, 0.05 * truth + 1) << distinct;
  }
  CsvTable t = idColumn("tail.csv", 100000, [](int64_t r) { return std::to_string(r < 50000 ? 0 : r); });
  EXPECT_NEAR(static_cast<double>(distinctEstimate(t.col(0), 50000)), 50000.0, 2500.0);
}

TEST(Encode, MostlyDistinctIdColumnKeepsFirstAppearanceOrder) {
  // 300,000 rows: new ids until row 200,000 (so the vocabulary is sized from the estimate after
  // the first 65,536 rows), then repeats of earlier ones and a few more new ones.
  CsvTable t = idColumn("many.csv", 300000, [](int64_t r) {
    return std::to_string(r < 200000 ? r * 7 : (r % 10 == 0 ? r * 7 : (r * 13) % 200000 * 7));
  });
  Vocabularies v;
  Dataset d = encode(t, {decl("id", InputKind::Id, "item")}, v, true, true);
  const Vocab& voc = v["item"];
  EXPECT_EQ(voc.size(), 2 + 200000 + 10000);
  const std::vector<int32_t>& ids = d.columns[0].ids;
  for (int64_t r = 0; r < 300000; ++r) {
    const std::string tok(t.col(0)[r]);
    ASSERT_EQ(voc.token(ids[static_cast<size_t>(r)]), tok) << r;
    if (r < 200000) {
      ASSERT_EQ(ids[static_cast<size_t>(r)], r + 2) << r;
    }
  }
  EXPECT_EQ(voc.lookup("1400000"), 200002);  // the first new id after row 200,000 (r = 200,000)
}

// Vocab::encode probes an index too large for the cache in ranges, in several passes
// (Vocab.cpp); it must give exactly the ids, vocabulary and unknown count of add() or lookup()
// row by row. Encoding the column in pieces also covers chunk after chunk, and the first pieces
// (while the index is small) the row-by-row path.
TEST(Vocab, BulkEncodeMatchesRowByRow) {
  const int64_t rows = 300000;
  CsvTable train = idColumn("bulk.csv", rows, [](int64_t r) -> std::string {
    if (r % 97 == 0) return "";
    if (r % 5 == 0) return "a-long-token-" + std::to_string(r % 20011);  // > 7 bytes, repeated
    if (r % 3 == 0) return std::to_string((r * 7919) % 150000);         // repeats, near and far
    return std::to_string(r);                                             // mostly new
  });
  Vocab oneByOne, bulk;
  std::vector<int32_t> want(rows), got(rows, -7);
  int64_t wantUnknown = 0, unknown = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const std::string_view tok = train.col(0)[r];
    want[static_cast<size_t>(r)] = tok.empty() ? 1 : oneByOne.add(tok);
    wantUnknown += tok.empty();
  }
  for (int64_t b = 0; b < rows; b += 50000) unknown += bulk.encode(train.col(0), b, b + 50000, true, got.data());
  ASSERT_GT(oneByOne.size(), 3 * (int64_t{1} << 17) / 4);  // the later pieces took the bulk path
  EXPECT_EQ(got, want);
  EXPECT_EQ(unknown, wantUnknown);
  EXPECT_TRUE(bulk == oneByOne);
  for (int64_t id = 2; id < oneByOne.size(); ++id) ASSERT_EQ(bulk.lookup(oneByOne.token(id)), id) << id;

  // Scoring: seen, unseen and empty cells.
  CsvTable test = idColumn("bulk-test.csv", rows, [](int64_t r) -> std::string {
    if (r % 89 == 0) return "";
    return r % 2 ? std::to_string(r) : "unseen" + std::to_string(r);
  });
  std::vector<int32_t> wantTest(rows), gotTest(rows, -7);
  wantUnknown = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const std::string_view tok = test.col(0)[r];
    wantTest[static_cast<size_t>(r)] = tok.empty() ? 1 : oneByOne.lookup(tok);
    wantUnknown += wantTest[static_cast<size_t>(r)] == 1;
  }
  EXPECT_EQ(bulk.encode(test.col(0), 0, rows, false, gotTest.data()), wantUnknown);
  EXPECT_EQ(gotTest, wantTest);
  EXPECT_TRUE(bulk == oneByOne);  // lookups add nothing
}

TEST(Vocab, ShortAndLongTokensAndGrowth) {
  Vocab v;
  // Short tokens are keyed inline, long ones (> 7 bytes) by string; prefixes must not collide.
  std::vector<std::string> toks = {"", "a", "ab", "abcdefg", "abcdefgh", "abcdefghi", "<oov>",
                                   std::string("a\0b", 3), std::string("a\0", 2)};
  for (int i = 0; i < 5000; ++i) toks.push_back("tok" + std::to_string(i * 7919));
  for (size_t i = 0; i < toks.size(); ++i) EXPECT_EQ(v.add(toks[i]), int32_t(i + 2)) << i;
  for (size_t i = 0; i < toks.size(); ++i) EXPECT_EQ(v.lookup(toks[i]), int32_t(i + 2)) << i;
  EXPECT_EQ(v.add("abcdefgh"), 6);
  EXPECT_EQ(v.lookup("abcdefgx"), 1);
  EXPECT_EQ(v.lookup("abcdefghij"), 1);
  EXPECT_EQ(v.lookup("<pad>"), 1);  // reserved entries are not tokens
  EXPECT_EQ(Vocab().lookup("x"), 1);
  for (size_t i = 0; i < toks.size(); ++i) EXPECT_EQ(v.token(int64_t(i + 2)), toks[i]) << i;
  // Reserving room first changes no id.
  Vocab w;
  w.reserve(toks.size());
  for (size_t i = 0; i < toks.size(); ++i) w.add(toks[i]);
  EXPECT_TRUE(w == v);
  EXPECT_EQ(w.lookup("tok7919"), v.lookup("tok7919"));
}

TEST(Encode, TestSplitCountsOov) {
  Vocabularies v;
  encode(readCsv(fixture("small.csv")), smallInputs(), v, true, true);
  const int64_t users = v["user"].size();
  Dataset t = encode(readCsv(fixture("small_test.csv")), smallInputs(), v, false, true);
  // u9 unseen, empty user cell (OOV by design), m7 unseen, Sci-Fi and Western unseen.
  EXPECT_EQ(t.columns[0].ids, (std::vector<int32_t>{2, 1, 1}));
  EXPECT_EQ(t.columns[1].ids, (std::vector<int32_t>{2, 2, 1}));
  EXPECT_EQ(t.columns[2].ids, (std::vector<int32_t>{3, 0, 0, 1, 3, 0, 3, 1, 0}));
  EXPECT_EQ(t.oovCount, 5);
  EXPECT_EQ(v["user"].size(), users);  // not grown
}

TEST(Encode, HeaderOnlyHasNoDataRows) {
  Vocabularies v;
  CsvTable t = readCsv(fixture("header_only.csv"));
  std::string msg = dataError([&] { encode(t, smallInputs(), v, true, true); });
  EXPECT_TRUE(startsWith(msg, fixture("header_only.csv") + ": ")) << msg;
  EXPECT_CONTAINS(msg, "has no data rows");
}

TEST(Encode, MissingColumnNamesInputAndHeader) {
  Vocabularies v;
  auto inputs = smallInputs();
  inputs.push_back(decl("year", InputKind::Id, "year"));
  std::string msg = dataError([&] { encode(readCsv(fixture("small.csv")), inputs, v, true, true); });
  EXPECT_TRUE(startsWith(msg, fixture("small.csv") +
                                  ": missing column 'year' (needed by input year)")) << msg;
  EXPECT_CONTAINS(msg, "user, movie, genres, x, label");
}

TEST(Encode, ColumnDiffersFromInputName) {
  Vocabularies v;
  std::vector<InputDecl> in{decl("who", InputKind::Id, "user", 0, "user")};
  Dataset d = encode(readCsv(fixture("small.csv")), in, v, true, false);
  EXPECT_EQ(d.columns[0].ids, (std::vector<int32_t>{2, 3, 2, 4}));
}

TEST(Encode, NonNumericDense) {
  Vocabularies v;
  std::string msg =
      dataError([&] { encode(readCsv(fixture("bad_dense.csv")), smallInputs(), v, true, true); });
  EXPECT_EQ(msg, fixture("bad_dense.csv") + ": row 3, column 'x': 'abc' is not a finite number");
}

TEST(Encode, NanAndInfDense) {
  Vocabularies v;
  EXPECT_EQ(dataError([&] { encode(readCsv(fixture("nan_dense.csv")), smallInputs(), v, true, true); }),
            fixture("nan_dense.csv") + ": row 4, column 'x': 'nan' is not a finite number");
  EXPECT_EQ(dataError([&] { encode(readCsv(fixture("inf_dense.csv")), smallInputs(), v, true, true); }),
            fixture("inf_dense.csv") + ": row 3, column 'x': 'inf' is not a finite number");
}

TEST(Encode, LabelMustBeZeroOrOne) {
  Vocabularies v;
  std::string msg =
      dataError([&] { encode(readCsv(fixture("bad_label.csv")), smallInputs(), v, true, true); });
  EXPECT_TRUE(startsWith(msg, fixture("bad_label.csv") + ": row 4, column 'label': ")) << msg;
  EXPECT_CONTAINS(msg, "'2' is not 0 or 1");
}

TEST(Encode, MissingLabelColumnAllowedWhenScoring) {
  std::string p = testing::tempFile("nolabel.csv", "user,x\na,1\nb,2\n");
  std::vector<InputDecl> in{decl("user", InputKind::Id, "user"), decl("label", InputKind::Label)};
  Vocabularies v;
  Dataset d = encode(readCsv(p), in, v, true, false);
  EXPECT_EQ(d.columns[1].values, (std::vector<float>{0, 0}));
  EXPECT_CONTAINS(dataError([&] { encode(readCsv(p), in, v, true, true); }),
                  "missing column 'label'");
}

TEST(Encode, TruncatedCellsAreCountedPerColumnWithTheirFirstRow) {
  // Rows (header = 1): 2 fits, 3 and 5 have too many genres, 4 too many values of f; the
  // quoted cell of row 3 spans two lines of the file but is one row, as in CSV errors.
  std::string p = testing::tempFile("cut.csv", "genres,f\nA|B,1|2\n\"A|B|C\nD\",1\nA,1|2|3\nC|B|A|D,4\n");
  std::vector<InputDecl> in{decl("genres", InputKind::Ids, "genre", 2), decl("f", InputKind::Dense, "", 2)};
  Vocabularies v;
  Dataset d = encode(readCsv(p), in, v, true, false);
  ASSERT_EQ(d.truncations.size(), 2u);
  EXPECT_EQ(d.truncations[0].column, "genres");
  EXPECT_EQ(d.truncations[0].cells, 2);
  EXPECT_EQ(d.truncations[0].firstRow, 3);
  EXPECT_EQ(d.truncations[1].column, "f");
  EXPECT_EQ(d.truncations[1].cells, 1);
  EXPECT_EQ(d.truncations[1].firstRow, 4);
  EXPECT_EQ(d.truncatedCells(), 3);
  EXPECT_EQ(truncationWarning(d, d.truncations[0]),
            p + ": 2 cells of column genres had more than 2 values; extra values were dropped (first at row 3)");
  EXPECT_EQ(truncationWarning(d, d.truncations[1]),
            p + ": 1 cell of column f had more than 2 values; extra values were dropped (first at row 4)");
  // A row number in an error of the same file counts rows the same way.
  std::string bad = testing::tempFile("cut_bad.csv", "genres,f\nA|B,1|2\n\"A|B|C\nD\",1\nA,x\n");
  EXPECT_EQ(dataError([&] { encode(readCsv(bad), in, v, true, false); }),
            bad + ": row 4, column 'f': 'x' is not a finite number");
}

TEST(Encode, DenseVectorPadsAndTruncates) {
  std::string p = testing::tempFile("vec.csv", "f\n1|2|3\n 4 |5|+6\n1|2\n\n7|8|9|10\n");
  std::vector<InputDecl> in{decl("f", InputKind::Dense, "", 3)};
  Vocabularies v;
  Dataset d = encode(readCsv(p), in, v, true, false);
  EXPECT_EQ(d.columns[0].width, 3);
  EXPECT_EQ(d.columns[0].values,
            (std::vector<float>{1, 2, 3, 4, 5, 6, 1, 2, 0, 0, 0, 0, 7, 8, 9}));
  EXPECT_EQ(d.truncatedCells(), 1);
  std::string bad = testing::tempFile("vec2.csv", "f\n1|2|3\n1||3\n");
  EXPECT_EQ(dataError([&] { encode(readCsv(bad), in, v, true, false); }),
            bad + ": row 3, column 'f': '' is not a finite number");
}

TEST(Encode, ThreadsGiveTheSequentialResultAndError) {
  // Two inputs share the "item" vocabulary (one task, in order); the others run alongside.
  std::string p = testing::tempFile("par.csv", "a,b,f,g,label\nx,y,1,A|B,1\ny,z,2,B|C|D,0\nw,x,3,,1\n");
  std::vector<InputDecl> in{decl("a", InputKind::Id, "item"), decl("f", InputKind::Dense),
                            decl("g", InputKind::Ids, "genre", 2), decl("b", InputKind::Id, "item"),
                            decl("label", InputKind::Label)};
  Vocabularies v1, v3;
  Dataset d1 = encode(readCsv(p), in, v1, true, true, 1);
  Dataset d3 = encode(readCsv(p), in, v3, true, true, 3);
  ASSERT_EQ(d1.columns.size(), d3.columns.size());
  for (size_t k = 0; k < d1.columns.size(); ++k) {
    EXPECT_EQ(d1.columns[k].ids, d3.columns[k].ids) << k;
    EXPECT_EQ(d1.columns[k].values, d3.columns[k].values) << k;
  }
  EXPECT_EQ(d3.columns[3].ids, (std::vector<int32_t>{3, 5, 2}));  // b after a: x=2 y=3 w=4 z=5
  EXPECT_TRUE(v1["item"] == v3["item"] && v1["genre"] == v3["genre"]);
  EXPECT_EQ(d3.truncatedCells(), 1);
  EXPECT_EQ(encode(readCsv(p), {}, v3, true, true, 2).columns.size(), 0u);  // no inputs, no tasks
  // Errors in inputs 1 and 3: the first input's is the one reported, whatever the threads.
  std::string bad = testing::tempFile("par_bad.csv", "a,b,f,g,label\nx,y,nope,A,1\n");
  in[4] = decl("label", InputKind::Label, "", 0, "missing");
  for (int threads : {1, 2, 5}) {
    Vocabularies v;
    EXPECT_EQ(dataError([&] { encode(readCsv(bad), in, v, true, true, threads); }),
              bad + ": row 2, column 'f': 'nope' is not a finite number") << threads;
  }
}

// ---- the shipped MovieLens split ----

std::vector<InputDecl> ctrInputs() {
  return {decl("user_id", InputKind::Id, "user"), decl("movie_id", InputKind::Id, "movie"),
          decl("year", InputKind::Id, "year"), decl("genres", InputKind::Ids, "genre", 6),
          decl("label", InputKind::Label)};
}

TEST(EncodeMovieLens, TrainAndTestSplits) {
  Vocabularies v;
  CsvTable train = readCsv(RECC_SOURCE_DIR "/data/ctr_train.csv");
  EXPECT_EQ(train.header, (std::vector<std::string>{"user_id", "movie_id", "genres", "year",
                                                    "rating", "timestamp", "label"}));
  Dataset d = encode(train, ctrInputs(), v, true, true, 2);
  EXPECT_EQ(d.rows, 90478);
  EXPECT_EQ(v["user"].size(), 610 + 2);
  EXPECT_EQ(v["movie"].size(), 8917 + 2);
  EXPECT_EQ(v["genre"].size(), 20 + 2);
  EXPECT_EQ(d.oovCount, 0);
  EXPECT_GT(d.truncatedCells(), 0);  // some movies list more than 6 genres
  for (float y : d.columns[4].values) EXPECT_TRUE(y == 0 || y == 1);
  std::set<int32_t> users(d.columns[0].ids.begin(), d.columns[0].ids.end());
  EXPECT_EQ(users.size(), 610u);
  EXPECT_EQ(*users.begin(), 2);

  Dataset t = encode(readCsv(RECC_SOURCE_DIR "/data/ctr_test.csv"), ctrInputs(), v, false, true);
  EXPECT_GT(t.rows, 0);
  EXPECT_GT(t.oovCount, 0);
  int64_t oovMovies = 0;
  for (int32_t id : t.columns[1].ids) oovMovies += id == 1;
  EXPECT_GT(oovMovies, 0);
  EXPECT_EQ(v["movie"].size(), 8917 + 2);  // the test split must not grow vocabularies
}

}  // namespace
}  // namespace recc
