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
