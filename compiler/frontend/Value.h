// Values the graph builder computes with: numbers, strings, lists, tensors, layers, functions.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/frontend/Ast.h"
#include "compiler/ir/Graph.h"

namespace recc {

/// An embedding layer value: tables are created on first use, one per vocabulary, so the same
/// layer applied to two inputs of one vocabulary shares a table.
struct EmbeddingLayer {
  std::string scope;  // parameter name prefix: "emb" -> tables "emb.movie"
  int64_t dim = 0;
  double stddev = 0.05;
  double maxNorm = 0;
  bool sparse = false;  // its tables get row-sparse (lazy) optimizer steps: ParamDecl::sparseUpdate
  std::map<std::string, ValueId> tables;  // vocabulary -> Param node
};

struct Value {
  enum class Kind { Int, Float, Bool, Str, List, Tensor, Layer, Def, Builtin, BatchDim };
  Kind kind = Kind::Int;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;            // Str: the string; Builtin: the builtin's name
  std::vector<Value> list;  // List
  ValueId t = -1;           // Tensor
  std::string vocab;        // Tensor of categorical ids: its vocabulary
  std::shared_ptr<EmbeddingLayer> layer;
  const ast::Def* def = nullptr;

  static Value integer(int64_t v) { Value x; x.i = v; return x; }
  static Value real(double v) { Value x; x.kind = Kind::Float; x.f = v; return x; }
  static Value boolean(bool v) { Value x; x.kind = Kind::Bool; x.b = v; return x; }
  static Value string(std::string v) { Value x; x.kind = Kind::Str; x.s = std::move(v); return x; }
  static Value tensor(ValueId id, std::string vocab = {}) {
    Value x; x.kind = Kind::Tensor; x.t = id; x.vocab = std::move(vocab); return x;
  }
  static Value makeList(std::vector<Value> items) {
    Value x; x.kind = Kind::List; x.list = std::move(items); return x;
  }
  bool isNumber() const { return kind == Kind::Int || kind == Kind::Float; }
  double number() const { return kind == Kind::Int ? static_cast<double>(i) : f; }
};

/// "an int", "a list", "a tensor", ... for error messages.
std::string describe(const Value& v);

/// The value as DSL literal text (`32`, `0.001`, `[256, 128]`, `"relu"`, `true`); tensors and
/// layers have no literal form and print as `<tensor>` etc.
std::string toLiteral(const Value& v, bool quoteStrings = true);

/// Shortest decimal text that reads back as the same double, always with a '.' or exponent.
std::string formatFloat(double v);

}  // namespace recc
