// The .rec abstract syntax tree: every node carries the Loc of its first token.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/Diag.h"

namespace recc::ast {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Arg {
  std::string name;  // empty = positional
  ExprPtr value;
  Loc loc;
};

enum class ExprKind { Int, Float, Str, Bool, Name, List, Neg, Binary, Call, Index, Slice };

/// One struct for every expression kind keeps the tree walkers short; unused fields stay empty.
struct Expr {
  ExprKind kind;
  Loc loc;             // where errors about this operation point: the operator of a Binary,
                       // the callee of a Call, else the first token
  Loc begin;           // the first token of the whole expression
  int64_t i = 0;       // Int
  double f = 0;        // Float
  bool b = false;      // Bool
  std::string s;       // Str value, Name identifier, Binary operator ("+", "-", "*", "/", "++")
  std::vector<ExprPtr> items;  // List items; Neg/Index/Slice: items[0] is the operand;
                               // Binary: items[0], items[1]; Call: items[0] is the callee
  std::vector<Arg> args;       // Call arguments (a pipe's left side is prepended here)
  ExprPtr lo, hi;              // Index: lo is the index; Slice: optional bounds
};

enum class StmtKind { Assign, For, Return, Input, Label, Output, Loss, Train };

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;

struct TrainItem {
  std::string name;
  ExprPtr value;
  Loc loc;
};

struct Stmt {
  StmtKind kind;
  Loc loc;
  std::string name;      // Assign/Output/Input/Label target; For element variable
  std::string indexVar;  // For: optional index variable (`for i, h in xs`)
  Loc nameLoc;
  ExprPtr value;         // Assign/Return/Output/Loss value; For iterable; Input length
  std::vector<StmtPtr> body;  // For
  // Input/Label: type name (`id`, `ids`, `dense`, `binary`), vocabulary, explicit column.
  std::string type, vocab, column;
  Loc typeLoc;
  std::string weightName;  // Loss: the keyword after the comma (must be `weight`)
  ExprPtr weight;
  std::vector<TrainItem> items;  // Train
};

struct Param {
  std::string name;
  ExprPtr def;  // default value or null
  Loc loc;
};

struct Def {
  std::string name;
  std::vector<Param> params;
  std::vector<StmtPtr> body;
  Loc loc;  // the name token
};

struct Model {
  std::string name;
  std::vector<Param> hyper;
  std::vector<StmtPtr> body;
  Loc loc;
};

struct Import {
  std::string path;
  Loc loc;  // the string token
};

struct Module {
  std::string file;
  std::vector<Import> imports;
  std::vector<std::unique_ptr<Def>> defs;
  std::vector<std::unique_ptr<Model>> models;
};

}  // namespace recc::ast
