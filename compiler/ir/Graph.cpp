// Graph IR helpers and the GraphBuilder.
#include "compiler/ir/Graph.h"

#include "compiler/ops/ShapeRules.h"

namespace recc {

std::string shapeStr(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + s[i].str();
  return out + "]";
}

int64_t numElements(const Shape& s, int64_t batch) {
  int64_t n = 1;
  for (const Dim& d : s)
    if (__builtin_mul_overflow(n, d.isStatic() ? d.n : batch, &n))
      throw DiagError({}, "dimension overflows: " + shapeStr(s) + " at batch " + std::to_string(batch) +
                              " has more than 2^63 elements");
  return n;
}

bool staticElementsWithinLimit(const Shape& s, int64_t& out) {
  out = 1;
  for (const Dim& d : s)
    if (d.isStatic() && (__builtin_mul_overflow(out, d.n, &out) || out > kMaxTensorElements)) return false;
  return true;
}

std::vector<ValueId> outputValues(const Graph& g) {
  std::vector<ValueId> v;
  for (const NamedValue& o : g.outputs) v.push_back(o.value);
  return v;
}

bool hasBatch(const Shape& s) {
  for (const Dim& d : s)
    if (d.isBatch()) return true;
  return false;
}

const char* dtypeName(DType t) { return t == DType::F32 ? "f32" : "i32"; }

int64_t Attrs::i(const std::string& k, int64_t def) const {
  auto it = m.find(k);
  if (it == m.end()) return def;
  if (auto* p = std::get_if<int64_t>(&it->second)) return *p;
  if (auto* p = std::get_if<double>(&it->second)) return static_cast<int64_t>(*p);
  return def;
}

double Attrs::f(const std::string& k, double def) const {
  auto it = m.find(k);
  if (it == m.end()) return def;
  if (auto* p = std::get_if<double>(&it->second)) return *p;
  if (auto* p = std::get_if<int64_t>(&it->second)) return static_cast<double>(*p);
  return def;
}

const std::string& Attrs::s(const std::string& k) const {
  static const std::string empty;
  auto it = m.find(k);
  if (it == m.end()) return empty;
  if (auto* p = std::get_if<std::string>(&it->second)) return *p;
  return empty;
}

const Shape& Attrs::shape(const std::string& k) const {
  static const Shape empty;
  auto it = m.find(k);
  if (it == m.end()) return empty;
  if (auto* p = std::get_if<Shape>(&it->second)) return *p;
  return empty;
}

int64_t Graph::paramCount() const {
  int64_t n = 0;
  for (const ParamDecl& p : params)
    if (!p.derived) n += numElements(p.shape, 0);
  return n;
}

int Graph::inputIndex(const std::string& name) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].name == name) return static_cast<int>(i);
  return -1;
}

static void bindShape(Shape& s, const std::map<std::string, int64_t>& sizes, const Loc& loc) {
  for (Dim& d : s) {
    if (d.isStatic() || d.isBatch()) continue;
    std::string v = d.sym.substr(1, d.sym.size() - 2);  // "|movie|" -> "movie"
    auto it = sizes.find(v);
    if (it == sizes.end()) throw DiagError(loc, "vocabulary '" + v + "' has no size (no input reads it)");
    d = Dim(it->second);
  }
}

void assignRowRecords(Graph& g) {
  std::vector<bool> lookupsOnly(g.params.size(), true);
  for (const Node& n : g.nodes)
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const Node& x = g.at(n.inputs[k]);
      if (x.op == OpKind::Param && !(n.op == OpKind::Gather && k == 0))
        lookupsOnly[static_cast<size_t>(x.attrs.i("index"))] = false;
    }
  for (size_t p = 0; p < g.params.size(); ++p)
    g.params[p].rowRecords = g.params[p].sparseUpdate && lookupsOnly[p] && g.params[p].shape.size() == 2 &&
                             g.params[p].shape.back().isStatic();
}

void bindVocabularies(Graph& g, const std::map<std::string, int64_t>& sizes) {
  for (ParamDecl& p : g.params) bindShape(p.shape, sizes, p.loc);
  for (Node& n : g.nodes) {
    bindShape(n.shape, sizes, n.loc);
    for (auto& [k, v] : n.attrs.m)
      if (auto* s = std::get_if<Shape>(&v)) bindShape(*s, sizes, n.loc);
  }
}

ValueId GraphBuilder::add(OpKind op, std::vector<ValueId> inputs, Attrs attrs, Loc loc,
                          std::string name) {
  const OpInfo& info = opInfo(op);
  if (info.arity >= 0 && static_cast<int>(inputs.size()) != info.arity)
    throw DiagError(loc, std::string(info.name) + ": expects " + std::to_string(info.arity) +
                             " operand(s), got " + std::to_string(inputs.size()));
  ShapeResult r = inferShape(g_, op, inputs, attrs);
  if (!r.error.empty()) throw DiagError(loc, std::string(info.name) + ": " + r.error);
  int64_t elements = 0;
  if (!staticElementsWithinLimit(r.shape, elements))
    throw DiagError(loc, std::string(info.name) + ": dimension overflows: " + shapeStr(r.shape) +
                             " has more than 2^40 elements (the limit for one tensor)");
  Node n;
  n.op = op;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  n.dtype = r.dtype;
  n.shape = std::move(r.shape);
  n.loc = std::move(loc);
  n.name = std::move(name);
  g_.nodes.push_back(std::move(n));
  return static_cast<ValueId>(g_.nodes.size() - 1);
}

ValueId GraphBuilder::constant(double v, Shape shape, Loc loc) {
  return add(OpKind::Const, {}, Attrs().set("value", v).set("shape", std::move(shape)), std::move(loc));
}

}  // namespace recc
