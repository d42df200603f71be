// Shape rules: broadcasting, reductions, layout and kernel ops, with their error texts.
#include <gtest/gtest.h>

#include "compiler/ir/Graph.h"
#include "compiler/ir/Printer.h"
#include "compiler/ir/Verifier.h"

using namespace recc;

namespace {

struct Fixture {
  Graph g;
  GraphBuilder b{g};
  ValueId param(Shape s) {
    g.params.push_back({"p" + std::to_string(g.params.size()), s, "zeros", 0, false, {}});
    return b.add(OpKind::Param, {}, Attrs().set("index", int64_t(g.params.size() - 1)));
  }
  ValueId ids(int64_t len) {
    InputDecl d;
    d.name = "ids" + std::to_string(g.inputs.size());
    d.kind = len ? InputKind::Ids : InputKind::Id;
    d.length = len;
    d.vocab = "movie";
    g.inputs.push_back(d);
    return b.add(OpKind::Input, {}, Attrs().set("index", int64_t(g.inputs.size() - 1)));
  }
  std::string error(OpKind op, std::vector<ValueId> in, Attrs a = {}) {
    try {
      b.add(op, std::move(in), std::move(a), Loc{"m.rec", 3, 7});
    } catch (const DiagError& e) {
      EXPECT_EQ(e.loc().line, 3);
      EXPECT_EQ(e.loc().col, 7);
      return e.message();
    }
    return "";
  }
};

}  // namespace

TEST(ShapeRules, ElementwiseBroadcast) {
  Fixture f;
  ValueId x = f.param({kB, 4, 32}), y = f.param({32}), z = f.param({kB, 1, 32});
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Add, {x, y})).shape), "[B,4,32]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Mul, {z, x})).shape), "[B,4,32]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Sigmoid, {x})).shape), "[B,4,32]");
  ValueId w = f.param({kB, 32});
  EXPECT_EQ(f.error(OpKind::Add, {x, f.param({kB, 5, 32})}),
            "add: shapes [B,4,32] and [B,5,32] cannot be broadcast together");
  EXPECT_EQ(f.error(OpKind::Sub, {x, w}), "sub: shapes [B,4,32] and [B,32] cannot be broadcast together");
}

TEST(ShapeRules, IdsCannotDoArithmetic) {
  Fixture f;
  ValueId i = f.ids(0);
  EXPECT_NE(f.error(OpKind::Add, {i, i}).find("ids can only be embedded"), std::string::npos);
}

TEST(ShapeRules, ReductionsAndLayout) {
  Fixture f;
  ValueId x = f.param({kB, 4, 32});
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Sum, {x}, Attrs().set("axis", int64_t(1)))).shape), "[B,32]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Mean, {x}, Attrs().set("axis", int64_t(2)).set("keepdims", int64_t(1)))).shape),
            "[B,4,1]");
  EXPECT_EQ(f.error(OpKind::Sum, {x}, Attrs().set("axis", int64_t(3))), "sum: axis 3 out of range for rank 3");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Reshape, {x}, Attrs().set("shape", Shape{kB, 128}))).shape), "[B,128]");
  EXPECT_EQ(f.error(OpKind::Reshape, {x}, Attrs().set("shape", Shape{kB, 100})), "reshape: cannot reshape [B,4,32] to [B,100]");
  ValueId y = f.param({kB, 2, 32});
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Concat, {x, y}, Attrs().set("axis", int64_t(1)))).shape), "[B,6,32]");
  EXPECT_EQ(f.error(OpKind::Concat, {x, f.param({kB, 32})}, Attrs().set("axis", int64_t(1))),
            "concat: shapes [B,4,32] and [B,32] differ in rank");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Slice, {x}, Attrs().set("axis", int64_t(1)).set("begin", int64_t(1)).set("end", int64_t(3)))).shape),
            "[B,2,32]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::SumTo, {x}, Attrs().set("shape", Shape{32}))).shape), "[32]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::BroadcastTo, {f.param({32})}, Attrs().set("shape", Shape{kB, 4, 32}))).shape), "[B,4,32]");
}

TEST(ShapeRules, MatMulGatherScatter) {
  Fixture f;
  ValueId x = f.param({kB, 16}), w = f.param({16, 8});
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::MatMul, {x, w})).shape), "[B,8]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::MatMul, {x, f.param({kB, 8})}, Attrs().set("ta", int64_t(1)))).shape), "[16,8]");
  EXPECT_EQ(f.error(OpKind::MatMul, {x, f.param({8, 4})}), "matmul: inner dimensions differ: [B,16] x [8,4] (16 vs 8)");
  ValueId table = f.param({Dim::sym_("|movie|"), 32});
  ValueId ids = f.ids(6);
  ValueId e = f.b.add(OpKind::Gather, {table, ids});
  EXPECT_EQ(shapeStr(f.g.at(e).shape), "[B,6,32]");
  EXPECT_NE(f.error(OpKind::Gather, {table, x}).find("indices must be integer ids"), std::string::npos);
  ValueId s = f.b.add(OpKind::ScatterAdd, {ids, e}, Attrs().set("shape", Shape{Dim::sym_("|movie|"), 32}));
  EXPECT_EQ(shapeStr(f.g.at(s).shape), "[|movie|,32]");
  verify(f.g);
  bindVocabularies(f.g, {{"movie", 100}});
  EXPECT_EQ(shapeStr(f.g.at(s).shape), "[100,32]");
  verify(f.g);
}

TEST(ShapeRules, SequenceElementwiseOps) {
  Fixture f;
  ValueId x = f.param({kB, 4, 4}), ids = f.ids(4);
  ValueId mask = f.b.add(OpKind::PadMask, {ids});
  EXPECT_EQ(f.g.at(mask).dtype, DType::F32);
  EXPECT_EQ(shapeStr(f.g.at(mask).shape), "[B,4]");
  ValueId m3 = f.b.add(OpKind::Reshape, {mask}, Attrs().set("shape", Shape{kB, 1, 4}));
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::MaskedFill, {x, m3}, Attrs().set("value", -1e9))).shape), "[B,4,4]");
  EXPECT_EQ(f.error(OpKind::MaskedFill, {x, f.param({kB, 5})}),
            "masked_fill: shapes [B,4,4] and [B,5] cannot be broadcast together");
  EXPECT_EQ(f.error(OpKind::MaskedFill, {f.param({kB, 1, 4}), x}),
            "masked_fill: mask [B,4,4] does not broadcast to the shape of x [B,1,4]");
  EXPECT_EQ(f.error(OpKind::PadMask, {x}), "pad_mask: expects integer ids, got a float tensor [B,4,4]");
  EXPECT_EQ(f.error(OpKind::Dropout, {x}, Attrs().set("p", 1.0)), "dropout: p = 1.000000 must be in [0, 1)");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Dropout, {x}, Attrs().set("p", 0.1))).shape), "[B,4,4]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Prelu, {x, f.param({4})})).shape), "[B,4,4]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::LeakyRelu, {x})).shape), "[B,4,4]");
}

TEST(ShapeRules, AttentionShapes) {
  Fixture f;
  ValueId q = f.param({kB, 4, 8}), k = f.param({kB, 6, 8}), v = f.param({kB, 6, 16});
  auto bmm = [&](ValueId a, ValueId b, int64_t ta, int64_t tb) {
    return f.b.add(OpKind::BatchMatMul, {a, b}, Attrs().set("ta", ta).set("tb", tb));
  };
  ValueId s = bmm(q, k, 0, 1);
  EXPECT_EQ(shapeStr(f.g.at(s).shape), "[B,4,6]");
  EXPECT_EQ(shapeStr(f.g.at(bmm(s, v, 0, 0)).shape), "[B,4,16]");
  EXPECT_EQ(shapeStr(f.g.at(bmm(q, f.param({8, 3}), 0, 0)).shape), "[B,4,3]");  // broadcast weight
  EXPECT_EQ(shapeStr(f.g.at(bmm(f.param({2, 4}), q, 0, 0)).shape), "[B,2,8]");
  EXPECT_EQ(f.error(OpKind::BatchMatMul, {q, f.param({kB, 6, 4})}, Attrs().set("tb", int64_t(1))),
            "batch_matmul: inner dimensions differ: [B,4,8] x [B,6,4]^T (8 vs 4)");
  EXPECT_EQ(f.error(OpKind::BatchMatMul, {q, f.param({kB, 2, 8, 4})}),
            "batch_matmul: batch dimensions differ: [B,4,8] and [B,2,8,4]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Softmax, {s}, Attrs().set("axis", int64_t(2)))).shape), "[B,4,6]");
  EXPECT_EQ(f.error(OpKind::LogSoftmax, {s}, Attrs().set("axis", int64_t(3))), "log_softmax: axis 3 out of range for rank 3");
  ValueId t = f.b.add(OpKind::Transpose, {k}, Attrs().set("perm", Shape{0, 2, 1}));
  EXPECT_EQ(shapeStr(f.g.at(t).shape), "[B,8,6]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Transpose, {k}, Attrs().set("perm", Shape{2, 0, 1}))).shape), "[8,B,6]");
  EXPECT_EQ(f.error(OpKind::Transpose, {k}, Attrs().set("perm", Shape{0, 1, 1})),
            "transpose: perm [0,1,1] is not a permutation of the axes of [B,6,8]");
  ValueId pe = f.b.add(OpKind::PositionalEncoding, {}, Attrs().set("length", int64_t(6)).set("dim", int64_t(8)));
  EXPECT_EQ(shapeStr(f.g.at(pe).shape), "[6,8]");
  EXPECT_EQ(f.error(OpKind::PositionalEncoding, {}, Attrs().set("length", int64_t(0)).set("dim", int64_t(8))),
            "positional_encoding: length and dim must be positive, got 0 and 8");
}

TEST(ShapeRules, MatMulOnSequences) {
  Fixture f;
  ValueId x = f.param({kB, 5, 16}), w = f.param({16, 8});
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::MatMul, {x, w})).shape), "[B,5,8]");
  ValueId gy = f.param({kB, 5, 8});
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::MatMul, {x, gy}, Attrs().set("ta", int64_t(1)))).shape), "[16,8]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::MatMul, {gy, w}, Attrs().set("tb", int64_t(1)))).shape), "[B,5,16]");
  EXPECT_EQ(f.error(OpKind::MatMul, {x, f.param({8, 4})}), "matmul: inner dimensions differ: [B,5,16] x [8,4] (16 vs 8)");
  EXPECT_EQ(f.error(OpKind::MatMul, {x, gy}),
            "matmul: with a rank-3 first operand [B,5,16] the second must be 2-D, got [B,5,8] (use batch_matmul)");
  EXPECT_EQ(f.error(OpKind::MatMul, {x, f.param({kB, 4, 8})}, Attrs().set("ta", int64_t(1))),
            "matmul: contracted leading dimensions differ: [B,5,16] and [B,4,8]");
}

TEST(ShapeRules, NormalisationLossAndConvolution) {
  Fixture f;
  ValueId x = f.param({kB, 3, 4}), g4 = f.param({4});
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::LayerNorm, {x, g4, g4})).shape), "[B,3,4]");
  EXPECT_EQ(f.error(OpKind::LayerNorm, {x, f.param({5}), g4}),
            "layer_norm: gamma [5] does not match the last dimension of x [B,3,4] (expected [4])");
  ValueId one = f.b.constant(1, {4});
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::BatchMoments, {x, g4, g4})).shape), "[2,4]");
  EXPECT_EQ(f.error(OpKind::BatchMoments, {x, g4, one}),
            "batch_moments: running_var must be a parameter (it is updated in place)");
  EXPECT_EQ(f.error(OpKind::BatchMoments, {x, f.param({5}), g4}),
            "batch_moments: running_mean [5] does not match the last dimension of x [B,3,4] (expected [4])");
  EXPECT_EQ(f.error(OpKind::BatchMoments, {f.param({kB}), g4, g4}),
            "batch_moments: expects x of shape [B,D] or [B,T,D], got [B]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::ShardSum, {g4})).shape), "[4]");
  EXPECT_EQ(f.error(OpKind::ShardSum, {f.ids(3)}),
            "shard_sum: operand 1 is an integer id tensor [B,3]; ids can only be embedded, not used in arithmetic");
  ValueId logits = f.param({kB, 3, 100});
  ValueId ce = f.b.add(OpKind::CrossEntropy, {logits, f.ids(3)}, Attrs().set("ignore_index", int64_t(0)));
  EXPECT_EQ(shapeStr(f.g.at(ce).shape), "[B,3]");
  EXPECT_EQ(f.error(OpKind::CrossEntropy, {logits, f.ids(4)}),
            "cross_entropy: targets [B,4] do not match logits [B,3,100] (expected ids [B,3])");
  ValueId oh = f.b.add(OpKind::OneHot, {f.ids(3)}, Attrs().set("depth", Shape{Dim::sym_("|movie|")}));
  EXPECT_EQ(shapeStr(f.g.at(oh).shape), "[B,3,|movie|]");
  ValueId seq = f.param({kB, 7, 2});
  Attrs same = Attrs().set("padding", int64_t(1));
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Conv1d, {seq, f.param({3, 2, 5}), f.param({5})}, same)).shape), "[B,7,5]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Conv1d, {seq, f.param({2, 2, 5}), f.param({5})},
                                    Attrs().set("stride", int64_t(2)))).shape), "[B,3,5]");
  EXPECT_EQ(f.error(OpKind::Conv1d, {seq, f.param({3, 4, 5}), f.param({5})}),
            "conv1d: weights [3,4,5] do not match x [B,7,2] (expected [K, 2, C_out])");
  EXPECT_EQ(f.error(OpKind::Conv1d, {seq, f.param({3, 2, 5}), f.param({4})}),
            "conv1d: bias [4] does not match weights [3,2,5] (expected [5])");
  EXPECT_EQ(f.error(OpKind::Conv1d, {seq, f.param({9, 2, 5}), f.param({5})}),
            "conv1d: kernel 9 is longer than the padded sequence (length 7, padding 0)");
  Attrs win = Attrs().set("kernel", int64_t(3)).set("stride", int64_t(1)).set("padding", int64_t(1));
  ValueId cols = f.b.add(OpKind::Unfold1d, {seq}, win);
  EXPECT_EQ(shapeStr(f.g.at(cols).shape), "[B,7,6]");
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Fold1d, {cols}, Attrs(win).set("length", int64_t(7)))).shape), "[B,7,2]");
  EXPECT_EQ(f.error(OpKind::Fold1d, {cols}, Attrs(win).set("length", int64_t(9))),
            "fold1d: columns [B,7,6] do not match length 9 (expected 9 windows)");
  verify(f.g);
}

TEST(ShapeRules, DimensionOverflowIsAnErrorNotAWrap) {
  Fixture f;
  const int64_t big = int64_t{1} << 39;  // two of these fit the 2^40 limit only one at a time
  auto paramError = [&](Shape s) {
    f.g.params.push_back({"big", s, "zeros", 0, false, {}});
    return f.error(OpKind::Param, {}, Attrs().set("index", int64_t(f.g.params.size() - 1)));
  };
  EXPECT_EQ(paramError({int64_t{1} << 32, int64_t{1} << 32}),
            "param: dimension overflows: [4294967296,4294967296] has more than 2^40 elements (the limit for one tensor)");
  // 2^62 * 4 wraps int64 to 0: still refused.
  EXPECT_EQ(paramError({int64_t{1} << 62, 4}),
            "param: dimension overflows: [4611686018427387904,4] has more than 2^40 elements (the limit for one tensor)");
  // B and vocabulary sizes are not counted: they are bound later and checked against memory.
  EXPECT_EQ(shapeStr(f.g.at(f.param({kB, Dim::sym_("|movie|"), big})).shape), "[B,|movie|,549755813888]");
  ValueId half = f.param({kB, big}), one = f.param({kB, 1});
  EXPECT_EQ(shapeStr(f.g.at(f.b.add(OpKind::Concat, {half, half}, Attrs().set("axis", int64_t(1)))).shape),
            "[B,1099511627776]");
  EXPECT_EQ(f.error(OpKind::Concat, {half, half, one}, Attrs().set("axis", int64_t(1))),
            "concat: dimension overflows: [B,1099511627777] has more than 2^40 elements (the limit for one tensor)");
  ValueId x = f.param({kB, 4});
  EXPECT_EQ(f.error(OpKind::Reshape, {x}, Attrs().set("shape", Shape{kB, int64_t{1} << 32, int64_t{1} << 32, 0})),
            "reshape: dimension overflows: cannot reshape [B,4] to [B,4294967296,4294967296,0] (more than 2^63 elements)");
  ValueId seq = f.param({kB, 7, 2});
  EXPECT_EQ(f.error(OpKind::Conv1d, {seq, f.param({3, 2, 5}), f.param({5})},
                    Attrs().set("padding", int64_t{1} << 62)),
            "conv1d: dimension overflows: length 7, padding 4611686018427387904, kernel 3 and 2 channels exceed 2^63");
  // numElements (byte sizes at a batch) throws instead of wrapping.
  try {
    numElements({kB, int64_t{1} << 40}, int64_t{1} << 24);
    ADD_FAILURE() << "no overflow reported";
  } catch (const DiagError& e) {
    EXPECT_EQ(e.message(), "dimension overflows: [B,1099511627776] at batch 16777216 has more than 2^63 elements");
  }
  EXPECT_EQ(numElements({kB, int64_t{1} << 40}, 1 << 20), int64_t{1} << 60);
}

TEST(ShapeRules, SparseUpdateTakesATableAndIdGradientPairs) {
  Fixture f;
  ValueId table = f.param({Dim::sym_("|movie|"), 32});
  ValueId ids = f.ids(6), one = f.ids(0);
  ValueId rows = f.param({kB, 6, 32}), oneRows = f.param({kB, 32});
  ValueId u = f.b.add(OpKind::SparseUpdate, {table, ids, rows, one, oneRows}, Attrs().set("index", int64_t(0)));
  EXPECT_EQ(shapeStr(f.g.at(u).shape), "[]");
  EXPECT_NE(f.error(OpKind::SparseUpdate, {rows, ids, rows}).find("parameter [B,6,32] is not a [rows, dim] table"),
            std::string::npos);
  EXPECT_NE(f.error(OpKind::SparseUpdate, {table, ids}).find("expects the table, then (ids, gradient) pairs"),
            std::string::npos);
  EXPECT_NE(f.error(OpKind::SparseUpdate, {table, oneRows, oneRows}).find("indices must be integer ids"),
            std::string::npos);
  EXPECT_NE(f.error(OpKind::SparseUpdate, {table, ids, oneRows})
                .find("gradient [B,32] does not match ids [B,6] and table [|movie|,32]"),
            std::string::npos);
}
