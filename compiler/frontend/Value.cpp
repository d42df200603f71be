// Printing of builder values: kinds for diagnostics, literals for hyperparameters.
#include "compiler/frontend/Value.h"

#include <cstdio>
#include <cstdlib>

namespace recc {

std::string describe(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Int: return "an int";
    case Value::Kind::Float: return "a float";
    case Value::Kind::Bool: return "a bool";
    case Value::Kind::Str: return "a string";
    case Value::Kind::List: return "a list";
    case Value::Kind::Tensor: return v.vocab.empty() ? "a tensor" : "categorical ids <" + v.vocab + ">";
    case Value::Kind::Layer: return "an embedding layer";
    case Value::Kind::Def: return "a function";
    case Value::Kind::Builtin: return "a builtin function";
    case Value::Kind::BatchDim: return "the batch dimension B";
  }
  return "a value";
}

std::string formatFloat(double v) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a float literal
  return s;
}

std::string toLiteral(const Value& v, bool quoteStrings) {
  switch (v.kind) {
    case Value::Kind::Int: return std::to_string(v.i);
    case Value::Kind::Float: return formatFloat(v.f);
    case Value::Kind::Bool: return v.b ? "true" : "false";
    case Value::Kind::Str: return quoteStrings ? "\"" + v.s + "\"" : v.s;
    case Value::Kind::List: {
      std::string s = "[";
      for (size_t k = 0; k < v.list.size(); ++k) s += (k ? ", " : "") + toLiteral(v.list[k], quoteStrings);
      return s + "]";
    }
    case Value::Kind::BatchDim: return "B";
    case Value::Kind::Builtin: return v.s;
    case Value::Kind::Def: return v.def ? v.def->name : "<def>";
    default: return "<" + describe(v) + ">";
  }
}

}  // namespace recc
