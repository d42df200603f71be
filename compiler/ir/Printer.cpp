// Graph printer.
#include "compiler/ir/Printer.h"

#include <sstream>

namespace recc {

static std::string attrStr(const AttrValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) {
    std::ostringstream os;
    os << *d;
    return os.str();
  }
  if (auto* s = std::get_if<std::string>(&v)) return "\"" + *s + "\"";
  return shapeStr(std::get<Shape>(v));
}

static const char* kindStr(InputKind k) {
  switch (k) {
    case InputKind::Id: return "id";
    case InputKind::Ids: return "ids";
    case InputKind::Dense: return "dense";
    case InputKind::Label: return "binary";
  }
  return "?";
}

static std::string baseName(const std::string& f) {
  auto p = f.find_last_of('/');
  return p == std::string::npos ? f : f.substr(p + 1);
}

std::string printGraph(const Graph& g, bool withLocs) {
  std::ostringstream os;
  os << "model " << g.model << "\n";
  for (auto& [k, v] : g.hyper) os << "hyper " << k << " = " << v << "\n";
  for (const InputDecl& in : g.inputs) {
    os << "input " << in.name << " : " << kindStr(in.kind);
    if (!in.vocab.empty()) os << "<" << in.vocab << ">";
    if (in.length) os << "[" << in.length << "]";
    os << " column=" << in.column << "\n";
  }
  for (const ParamDecl& p : g.params) {
    os << "param " << p.name << " : f32" << shapeStr(p.shape);
    if (p.derived) {
      os << " derived";
    } else {
      os << " init=" << p.init;
      if (p.init == "normal" || p.init == "uniform") os << "(" << p.scale << ")";
    }
    os << "\n";
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    os << "%" << i << " = " << opName(n.op) << "(";
    for (size_t k = 0; k < n.inputs.size(); ++k) os << (k ? ", " : "") << "%" << n.inputs[k];
    os << ")";
    if (!n.attrs.m.empty()) {
      os << " {";
      bool first = true;
      for (auto& [k, v] : n.attrs.m) {
        os << (first ? "" : ", ") << k << "=" << attrStr(v);
        first = false;
      }
      os << "}";
    }
    os << " : " << dtypeName(n.dtype) << shapeStr(n.shape);
    if (withLocs && n.loc.known())
      os << "  @" << baseName(n.loc.file) << ":" << n.loc.line << ":" << n.loc.col;
    if (!n.name.empty()) os << "  " << n.name;
    os << "\n";
  }
  for (const NamedValue& o : g.outputs) os << "output " << o.name << " = %" << o.value << "\n";
  for (const LossTerm& l : g.losses) os << "loss %" << l.value << " weight=" << l.weight << "\n";
  if (g.loss >= 0) os << "total_loss = %" << g.loss << "\n";
  for (size_t i = 0; i < g.grads.size(); ++i)
    if (g.grads[i] >= 0) os << "grad " << g.params[i].name << " = %" << g.grads[i] << "\n";
  return os.str();
}

}  // namespace recc
