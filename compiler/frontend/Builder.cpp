// Graph building by evaluation: the model body runs once, defs are inlined by calling them,
// and every tensor operation appends a node whose shape rule runs at the DSL location.
#include "compiler/frontend/Builder.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "compiler/frontend/Parser.h"

namespace recc {

namespace {

const std::set<std::string> kTrainKeys = {"optimizer", "lr", "batch", "epochs", "weight_decay",
                                          "momentum", "beta1", "beta2", "eps", "seed"};

std::string locText(const Loc& l) {
  auto slash = l.file.find_last_of('/');
  std::string base = slash == std::string::npos ? l.file : l.file.substr(slash + 1);
  return base + ":" + std::to_string(l.line) + ":" + std::to_string(l.col);
}

std::string join(const std::string& scope, const std::string& leaf) {
  return scope.empty() ? leaf : scope + "." + leaf;
}

}  // namespace

// ---------------------------------------------------------------- model level

void Builder::build(const std::vector<std::pair<std::string, std::string>>& overrides) {
  const ast::Model& m = *prog_.model;
  g_.model = m.name;
  g_.sourceHash = prog_.sourceHash;
  Env env;
  hyperparameters(m, env, overrides);
  Frame fr;
  fr.modelLevel = true;
  bool haveTrain = false;
  for (const auto& s : m.body) {
    if (s->kind == ast::StmtKind::Train) {
      if (haveTrain) throw DiagError(s->loc, "duplicate train block");
      haveTrain = true;
    }
    modelStmt(*s, env, fr);
  }
}

void Builder::hyperparameters(const ast::Model& m, Env& env,
                              const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::map<std::string, const ast::Param*> declared;
  for (const ast::Param& p : m.hyper) declared[p.name] = &p;
  for (const auto& [name, text] : overrides)
    if (!declared.count(name)) {
      std::string known;
      for (const ast::Param& p : m.hyper) known += (known.empty() ? "" : ", ") + p.name;
      throw DiagError(m.loc, "--set: unknown hyperparameter '" + name + "' (model " + m.name + " has " +
                                 (known.empty() ? "none" : known) + ")");
    }
  for (const ast::Param& p : m.hyper) {
    Value v;
    auto ov = std::find_if(overrides.rbegin(), overrides.rend(), [&](const auto& o) { return o.first == p.name; });
    if (ov != overrides.rend()) {
      auto e = parseExpression(ov->second, "--set " + p.name);
      Env none;
      v = eval(*e, none);
    } else if (p.def) {
      v = eval(*p.def, env);  // defaults may use earlier hyperparameters
    } else {
      throw DiagError(p.loc, "hyperparameter '" + p.name + "' needs a default value");
    }
    if (v.kind == Value::Kind::Tensor || v.kind == Value::Kind::Layer)
      throw DiagError(p.loc, "hyperparameter '" + p.name + "' must be a constant, got " + describe(v));
    env[p.name] = v;
    g_.hyper.emplace_back(p.name, toLiteral(v));
  }
}

void Builder::input(const ast::Stmt& s, Env& env) {
  int prev = g_.inputIndex(s.name);
  if (prev >= 0)
    throw DiagError(s.nameLoc, "duplicate input '" + s.name + "' (first declared at line " +
                                   std::to_string(g_.inputs[static_cast<size_t>(prev)].loc.line) + ")");
  if (env.count(s.name)) throw DiagError(s.nameLoc, "input '" + s.name + "' redefines an existing name");
  InputDecl d;
  d.name = s.name;
  d.column = s.column.empty() ? s.name : s.column;
  d.loc = s.nameLoc;
  d.vocab = s.vocab;
  int64_t length = 0;
  if (s.value) {
    Value v = eval(*s.value, env);
    if (v.kind != Value::Kind::Int || v.i <= 0)
      throw DiagError(s.value->begin, "input length must be a positive integer, got " + toLiteral(v));
    length = v.i;
  }
  if (s.kind == ast::StmtKind::Label) {
    if (s.type != "binary") throw DiagError(s.typeLoc, "unknown label type '" + s.type + "' (expected binary)");
    d.kind = InputKind::Label;
  } else if (s.type == "id" || s.type == "ids") {
    d.kind = s.type == "id" ? InputKind::Id : InputKind::Ids;
    if (s.vocab.empty())
      throw DiagError(s.typeLoc, s.type + " input needs a vocabulary, e.g. " + s.type + "<movie>");
    if (d.kind == InputKind::Id && length)
      throw DiagError(s.value->loc, "an id input holds one id per row; use ids<" + s.vocab + ">[n] for several");
    if (d.kind == InputKind::Ids && !length)
      throw DiagError(s.typeLoc, "ids input needs a length, e.g. ids<" + s.vocab + ">[6]");
    d.length = length;
  } else if (s.type == "dense") {
    if (!s.vocab.empty()) throw DiagError(s.typeLoc, "a dense input has no vocabulary");
    d.kind = InputKind::Dense;
    d.length = length;
  } else {
    throw DiagError(s.typeLoc, "unknown input type '" + s.type + "' (expected id<vocab>, ids<vocab>[n] or dense)");
  }
  g_.inputs.push_back(d);
  ValueId v = gb_.add(OpKind::Input, {}, Attrs().set("index", static_cast<int64_t>(g_.inputs.size() - 1)),
                      s.nameLoc, s.name);
  env[s.name] = Value::tensor(v, d.kind == InputKind::Id || d.kind == InputKind::Ids ? d.vocab : "");
}

void Builder::modelStmt(const ast::Stmt& s, Env& env, Frame& fr) {
  switch (s.kind) {
    case ast::StmtKind::Input:
    case ast::StmtKind::Label:
      input(s, env);
      return;
    case ast::StmtKind::Output: {
      for (const NamedValue& o : g_.outputs)
        if (o.name == s.name) throw DiagError(s.nameLoc, "duplicate output '" + s.name + "'");
      scope_.push_back(uniqueRoot(s.name));
      ownScopeNext_ = s.value->kind == ast::ExprKind::Call;
      Value v = eval(*s.value, env);
      scope_.pop_back();
      if (v.kind != Value::Kind::Tensor)
        throw DiagError(s.value->begin, "output '" + s.name + "' must be a tensor, got " + describe(v));
      if (g_.at(v.t).name.empty()) g_.at(v.t).name = s.name;
      g_.outputs.push_back({s.name, v.t, s.nameLoc});
      return;
    }
    case ast::StmtKind::Loss: {
      scope_.push_back(uniqueRoot("loss"));
      ownScopeNext_ = s.value->kind == ast::ExprKind::Call;
      Value v = eval(*s.value, env);
      scope_.pop_back();
      if (v.kind != Value::Kind::Tensor) throw DiagError(s.value->begin, "a loss must be a tensor, got " + describe(v));
      if (!g_.at(v.t).shape.empty())
        throw DiagError(s.value->begin, "a loss must be a scalar, got " + shapeStr(g_.at(v.t).shape) +
                                          " (reduce it, e.g. with mean(x, axis = 0))");
      LossTerm t{v.t, 1.0, s.value->begin};
      if (s.weight) {
        if (s.weightName != "weight")
          throw DiagError(s.nameLoc, "unknown loss option '" + s.weightName + "' (expected weight)");
        Value w = eval(*s.weight, env);
        if (!w.isNumber()) throw DiagError(s.weight->begin, "loss weight must be a number, got " + describe(w));
        t.weight = w.number();
      }
      g_.losses.push_back(t);
      return;
    }
    case ast::StmtKind::Train:
      for (const ast::TrainItem& it : s.items) {
        if (!kTrainKeys.count(it.name)) {
          std::string keys;
          for (const std::string& k : kTrainKeys) keys += (keys.empty() ? "" : ", ") + k;
          throw DiagError(it.loc, "unknown train setting '" + it.name + "' (known: " + keys + ")");
        }
        for (const auto& kv : g_.train)
          if (kv.first == it.name) throw DiagError(it.loc, "duplicate train setting '" + it.name + "'");
        Value v = eval(*it.value, env);
        if (v.kind == Value::Kind::Tensor || v.kind == Value::Kind::Layer)
          throw DiagError(it.value->begin, "train setting '" + it.name + "' must be a constant, got " + describe(v));
        g_.train.emplace_back(it.name, toLiteral(v, false));
      }
      return;
    default:
      break;
  }
  // Assign / For / Return at model level.
  switch (s.kind) {
    case ast::StmtKind::Assign:
      assign(s, env, fr);
      break;
    case ast::StmtKind::Return:
      throw DiagError(s.loc, "'return' outside a def");
    default: {
      // A model-level for: its body runs with model-level naming.
      Value it = eval(*s.value, env);
      if (it.kind != Value::Kind::List) throw DiagError(s.value->begin, "for: expected a list, got " + describe(it));
      for (size_t k = 0; k < it.list.size(); ++k) {
        if (!s.indexVar.empty()) env[s.indexVar] = Value::integer(static_cast<int64_t>(k));
        env[s.name] = it.list[k];
        for (const auto& b : s.body) modelStmt(*b, env, fr);
      }
    }
  }
}

// ---------------------------------------------------------------- statements in defs

void Builder::exec(const std::vector<ast::StmtPtr>& body, Env& env, Frame& fr) {
  for (const auto& sp : body) {
    if (fr.returned) return;
    const ast::Stmt& s = *sp;
    if (s.kind == ast::StmtKind::Assign) {
      assign(s, env, fr);
    } else if (s.kind == ast::StmtKind::Return) {
      fr.result = eval(*s.value, env);
      fr.returned = true;
    } else if (s.kind == ast::StmtKind::For) {
      Value it = eval(*s.value, env);
      if (it.kind != Value::Kind::List) throw DiagError(s.value->begin, "for: expected a list, got " + describe(it));
      for (size_t k = 0; k < it.list.size() && !fr.returned; ++k) {
        if (!s.indexVar.empty()) env[s.indexVar] = Value::integer(static_cast<int64_t>(k));
        env[s.name] = it.list[k];
        exec(s.body, env, fr);
      }
    }
  }
}

void Builder::assign(const ast::Stmt& s, Env& env, Frame& fr) {
  if (!fr.modelLevel) {
    env[s.name] = eval(*s.value, env);
    return;
  }
  // A model-level binding names the parameters created while evaluating it.
  scope_.push_back(uniqueRoot(s.name));
  ownScopeNext_ = s.value->kind == ast::ExprKind::Call;
  Value v = eval(*s.value, env);
  ownScopeNext_ = false;
  scope_.pop_back();
  if (v.kind == Value::Kind::Tensor) {
    if (g_.at(v.t).name.empty()) g_.at(v.t).name = s.name;
    g_.named.push_back({s.name, v.t, s.nameLoc});
  }
  env[s.name] = v;
}

std::string Builder::uniqueRoot(const std::string& name) {
  std::string n = name;
  for (int k = 1; roots_.count(n); ++k) n = name + "_" + std::to_string(k);
  roots_.insert(n);
  return n;
}

// ---------------------------------------------------------------- expressions

Value Builder::eval(const ast::Expr& e, Env& env) {
  using K = ast::ExprKind;
  switch (e.kind) {
    case K::Int: return Value::integer(e.i);
    case K::Float: return Value::real(e.f);
    case K::Str: return Value::string(e.s);
    case K::Bool: return Value::boolean(e.b);
    case K::Name: {
      auto it = env.find(e.s);
      if (it != env.end()) return it->second;
      auto d = prog_.defs.find(e.s);
      if (d != prog_.defs.end()) {
        Value v;
        v.kind = Value::Kind::Def;
        v.def = d->second;
        return v;
      }
      if (findBuiltin(e.s)) {
        Value v;
        v.kind = Value::Kind::Builtin;
        v.s = e.s;
        return v;
      }
      if (e.s == "B") {
        Value v;
        v.kind = Value::Kind::BatchDim;
        return v;
      }
      throw DiagError(e.loc, "unknown name '" + e.s + "'");
    }
    case K::List: {
      std::vector<Value> items;
      for (const auto& it : e.items) items.push_back(eval(*it, env));
      return Value::makeList(std::move(items));
    }
    case K::Neg: {
      Value v = eval(*e.items[0], env);
      if (v.kind == Value::Kind::Int) {
        if (v.i == INT64_MIN) throw DiagError(e.loc, "integer overflow in '-'");
        return Value::integer(-v.i);
      }
      if (v.kind == Value::Kind::Float) return Value::real(-v.f);
      if (v.kind != Value::Kind::Tensor) throw DiagError(e.loc, "cannot negate " + describe(v));
      requireFloat(v, e.loc, "neg");
      return Value::tensor(add(OpKind::Neg, {v.t}, {}, e.loc));
    }
    case K::Binary: {
      Value a = eval(*e.items[0], env);
      Value b = eval(*e.items[1], env);
      return arith(e.s, a, b, e.loc);
    }
    case K::Call: return call(e, env);
    case K::Index:
    case K::Slice: return index(e, env);
  }
  throw DiagError(e.loc, "internal error: unknown expression");
}

Value Builder::index(const ast::Expr& e, Env& env) {
  Value base = eval(*e.items[0], env);
  if (base.kind == Value::Kind::Tensor)
    throw DiagError(e.loc, "indexing a tensor is not supported; use slice(x, axis, begin, end)");
  if (base.kind != Value::Kind::List) throw DiagError(e.loc, "cannot index " + describe(base));
  auto n = static_cast<int64_t>(base.list.size());
  auto bound = [&](const ast::ExprPtr& x, int64_t def) {
    if (!x) return def;
    Value v = eval(*x, env);
    if (v.kind != Value::Kind::Int) throw DiagError(x->begin, "list index must be an int, got " + describe(v));
    return v.i;
  };
  if (e.kind == ast::ExprKind::Index) {
    int64_t k = bound(e.lo, 0);
    int64_t j = k < 0 ? k + n : k;
    if (j < 0 || j >= n)
      throw DiagError(e.lo->begin, "index " + std::to_string(k) + " out of range for a list of " +
                                     std::to_string(n) + " item(s)");
    return base.list[static_cast<size_t>(j)];
  }
  // Python slice semantics: negative bounds count from the end, out-of-range bounds clamp.
  auto clamp = [&](int64_t k) { return std::min(n, std::max<int64_t>(0, k < 0 ? k + n : k)); };
  int64_t lo = clamp(bound(e.lo, 0)), hi = clamp(bound(e.hi, n));
  std::vector<Value> out;
  for (int64_t k = lo; k < hi; ++k) out.push_back(base.list[static_cast<size_t>(k)]);
  return Value::makeList(std::move(out));
}

Value Builder::call(const ast::Expr& e, Env& env) {
  bool own = ownScopeNext_;
  ownScopeNext_ = false;  // only the outermost call of the binding owns its scope
  const ast::Expr& ce = *e.items[0];
  if (ce.kind == ast::ExprKind::Name && !env.count(ce.s) && !prog_.defs.count(ce.s) && !findBuiltin(ce.s))
    throw DiagError(ce.loc, "unknown function '" + ce.s + "'");
  Value callee = eval(ce, env);
  std::vector<CallArg> args;
  for (const ast::Arg& a : e.args) args.push_back({a.name, eval(*a.value, env), a.loc});
  return invoke(callee, args, e.loc, own);
}

Value Builder::invoke(const Value& callee, const std::vector<CallArg>& args, const Loc& loc, bool own) {
  std::vector<ArgName> names;
  for (const CallArg& a : args) names.push_back({a.name, a.loc});
  switch (callee.kind) {
    case Value::Kind::Def: return callDef(*callee.def, args, loc, own);
    case Value::Kind::Layer: return callLayer(callee, args, loc);
    case Value::Kind::Builtin: {
      const BuiltinInfo& info = *findBuiltin(callee.s);
      if (info.special) return scan(args, loc, own);
      std::vector<int> slots = bindArgs(info.name, info.params, info.required, names, loc);
      CallSite c;
      c.name = info.name;
      c.loc = loc;
      c.ownScope = own;
      for (size_t p = 0; p < slots.size(); ++p) {
        if (slots[p] >= 0) {
          c.args.push_back(args[static_cast<size_t>(slots[p])].v);
          c.argLocs.push_back(args[static_cast<size_t>(slots[p])].loc);
        } else {
          c.args.push_back(info.defaults[p - info.required]);
          c.argLocs.push_back(loc);
        }
      }
      return info.fn(*this, c);
    }
    default:
      throw DiagError(loc, "cannot call " + describe(callee));
  }
}

Value Builder::callDef(const ast::Def& d, const std::vector<CallArg>& args, const Loc& loc, bool own) {
  if (std::find(callStack_.begin(), callStack_.end(), &d) != callStack_.end())
    throw DiagError(loc, "recursive call to '" + d.name + "' (defs are inlined, so they cannot recurse)");
  std::vector<std::string> names;
  size_t required = 0;
  for (const ast::Param& p : d.params) {
    names.push_back(p.name);
    if (!p.def) required = names.size();
  }
  std::vector<ArgName> given;
  for (const CallArg& a : args) given.push_back({a.name, a.loc});
  std::vector<int> slots = bindArgs(d.name, names, required, given, loc);
  Env local;
  for (size_t p = 0; p < slots.size(); ++p)
    local[names[p]] = slots[p] >= 0 ? args[static_cast<size_t>(slots[p])].v : eval(*d.params[p].def, local);
  scope_.push_back(layerScope(d.name, own));
  callStack_.push_back(&d);
  Frame fr;
  try {
    exec(d.body, local, fr);
  } catch (const DiagError& err) {
    // Keep the innermost location (the failing op) and say which call inlined it.
    throw DiagError(err.loc(), err.message() + " (in '" + d.name + "' called at " + locText(loc) + ")");
  }
  callStack_.pop_back();
  scope_.pop_back();
  if (!fr.returned) throw DiagError(loc, "'" + d.name + "' ended without returning a value");
  return fr.result;
}

Value Builder::callLayer(const Value& layer, const std::vector<CallArg>& args, const Loc& loc) {
  if (args.size() != 1 || !args[0].name.empty())
    throw DiagError(loc, "an embedding layer takes one positional argument (the ids), got " +
                             std::to_string(args.size()));
  const Value& ids = args[0].v;
  const Loc& at = args[0].loc;
  if (ids.kind != Value::Kind::Tensor || g_.at(ids.t).dtype != DType::I32 || ids.vocab.empty())
    throw DiagError(at, "an embedding layer expects categorical ids (an id<...> or ids<...> input), got " +
                            (ids.kind == Value::Kind::Tensor ? "a float tensor " + shapeStr(g_.at(ids.t).shape)
                                                             : describe(ids)));
  ValueId table = embeddingTable(*layer.layer, ids.vocab, loc);
  return Value::tensor(add(OpKind::Gather, {table, ids.t}, Attrs().set("max_norm", layer.layer->maxNorm), loc));
}

ValueId Builder::embeddingTable(EmbeddingLayer& L, const std::string& vocab, const Loc& loc) {
  auto it = L.tables.find(vocab);
  if (it == L.tables.end()) {
    ValueId t = param(join(L.scope, vocab), {Dim::sym_("|" + vocab + "|"), L.dim}, "normal", L.stddev, true, loc);
    g_.params[static_cast<size_t>(g_.at(t).attrs.i("index"))].sparseUpdate = L.sparse;
    it = L.tables.emplace(vocab, t).first;
  }
  return it->second;
}

// ---------------------------------------------------------------- scan

/// scan(cell, h0, xs, ...more sequences, key = value...): unrolled at build time over the static
/// time axis (axis 1) of the sequences. Step t calls cell(h, xs[:, t], ...more[:, t], key = value...)
/// and the new state must be shaped like h0. Every step calls the cell under the same parameter
/// scope with parameter reuse on, so the steps share one set of weights; autodiff over the unrolled
/// graph is backpropagation through time. The result stacks the T states along axis 1 ([B,T,H]);
/// a state that is a list of tensors (an LSTM's [h, c]) gives a list of stacked tensors.
Value Builder::scan(const std::vector<CallArg>& args, const Loc& loc, bool own) {
  std::vector<const CallArg*> pos;
  std::vector<CallArg> kw;
  for (const CallArg& a : args) {
    if (!a.name.empty()) kw.push_back(a);
    else if (!kw.empty()) throw DiagError(a.loc, "positional argument after keyword arguments in call to 'scan'");
    else pos.push_back(&a);
  }
  if (pos.size() < 3)
    throw DiagError(loc, "scan(cell, h0, xs, ...) needs a cell, an initial state and at least one sequence, got " +
                             std::to_string(pos.size()) + " positional argument(s)");
  const Value& cell = pos[0]->v;
  if (cell.kind != Value::Kind::Def && cell.kind != Value::Kind::Builtin)
    throw DiagError(pos[0]->loc, "scan: the cell must be a function, got " + describe(cell));
  // The state: one tensor or a non-empty list of tensors.
  Value h = pos[1]->v;
  auto stateParts = [&](const Value& v, const Loc& at, const std::string& what) {
    std::vector<ValueId> out;
    if (v.kind == Value::Kind::Tensor) out.push_back(v.t);
    else if (v.kind == Value::Kind::List && !v.list.empty())
      for (const Value& x : v.list) {
        if (x.kind != Value::Kind::Tensor) throw DiagError(at, "scan: " + what + " must be a tensor or a list of tensors, found " + describe(x));
        out.push_back(x.t);
      }
    else throw DiagError(at, "scan: " + what + " must be a tensor or a list of tensors, got " + describe(v));
    return out;
  };
  std::vector<ValueId> h0 = stateParts(h, pos[1]->loc, "the initial state");
  for (ValueId v : h0) requireFloat(Value::tensor(v), pos[1]->loc, "scan");
  // The sequences: rank >= 2 with one static length T along axis 1.
  int64_t T = -1;
  for (size_t k = 2; k < pos.size(); ++k) {
    const Value& xs = pos[k]->v;
    if (xs.kind != Value::Kind::Tensor)
      throw DiagError(pos[k]->loc, "scan: a sequence must be a tensor [B,T,...], got " + describe(xs));
    const Shape& s = g_.at(xs.t).shape;
    if (s.size() < 2 || !s[1].isStatic())
      throw DiagError(pos[k]->loc, "scan: a sequence must be a tensor [B,T,...] with a static length T, got " + shapeStr(s));
    if (T >= 0 && s[1].n != T)
      throw DiagError(pos[k]->loc, "scan: sequences differ in length: " + shapeStr(g_.at(pos[2]->v.t).shape) +
                                       " and " + shapeStr(s) + " (axis 1)");
    T = s[1].n;
  }
  auto counters = counters_;
  bool reuse = reuseParams_;
  std::vector<std::vector<ValueId>> outs(h0.size());
  Value state = h;
  for (int64_t t = 0; t < T; ++t) {
    if (t > 0) {
      counters_ = counters;  // the cell's scopes are numbered as at step 0...
      reuseParams_ = true;   // ...and its parameters are those step 0 created
    }
    std::vector<CallArg> cargs = {{"", state, pos[1]->loc}};
    for (size_t k = 2; k < pos.size(); ++k) {
      const Value& xs = pos[k]->v;
      Shape s = g_.at(xs.t).shape;
      ValueId x = add(OpKind::Slice, {xs.t}, Attrs().set("axis", int64_t{1}).set("begin", t).set("end", t + 1), loc);
      s.erase(s.begin() + 1);
      cargs.push_back({"", Value::tensor(reshape(x, s, loc), xs.vocab), pos[k]->loc});
    }
    cargs.insert(cargs.end(), kw.begin(), kw.end());
    Value next = invoke(cell, cargs, loc, own);
    std::vector<ValueId> parts = stateParts(next, loc, "the cell's result");
    if (parts.size() != h0.size())
      throw DiagError(loc, "scan: the cell returned " + std::to_string(parts.size()) + " state tensor(s) but h0 has " +
                               std::to_string(h0.size()));
    for (size_t k = 0; k < parts.size(); ++k) {
      if (g_.at(parts[k]).shape != g_.at(h0[k]).shape)
        throw DiagError(loc, "scan: the cell must return a state shaped like h0 " + shapeStr(g_.at(h0[k]).shape) +
                                 ", got " + shapeStr(g_.at(parts[k]).shape));
      outs[k].push_back(parts[k]);
    }
    state = next;
  }
  reuseParams_ = reuse;
  std::vector<Value> stacked;
  for (const std::vector<ValueId>& steps : outs) {
    std::vector<ValueId> ids;
    for (ValueId v : steps) {
      Shape s = g_.at(v).shape;
      s.insert(s.begin() + 1, Dim(1));
      ids.push_back(reshape(v, s, loc));
    }
    stacked.push_back(Value::tensor(add(OpKind::Concat, ids, Attrs().set("axis", int64_t{1}), loc)));
  }
  return h.kind == Value::Kind::Tensor ? stacked[0] : Value::makeList(std::move(stacked));
}

Value Builder::arith(const std::string& op, const Value& a, const Value& b, const Loc& loc) {
  if (op == "++") {
    if (a.kind != Value::Kind::List || b.kind != Value::Kind::List)
      throw DiagError(loc, "'++' concatenates lists, got " + describe(a) + " and " + describe(b));
    Value out = a;
    out.list.insert(out.list.end(), b.list.begin(), b.list.end());
    return out;
  }
  if (a.isNumber() && b.isNumber()) {  // compile-time folding (dims like dim * 2)
    if (op == "/") {
      if (b.number() == 0) throw DiagError(loc, "division by zero");
      return Value::real(a.number() / b.number());
    }
    if (a.kind == Value::Kind::Int && b.kind == Value::Kind::Int) {
      int64_t r = 0;
      bool overflow = op == "+"   ? __builtin_add_overflow(a.i, b.i, &r)
                      : op == "-" ? __builtin_sub_overflow(a.i, b.i, &r)
                                  : __builtin_mul_overflow(a.i, b.i, &r);
      if (overflow) throw DiagError(loc, "integer overflow in '" + op + "'");
      return Value::integer(r);
    }
    double x = a.number(), y = b.number();
    return Value::real(op == "+" ? x + y : op == "-" ? x - y : x * y);
  }
  bool okA = a.isNumber() || a.kind == Value::Kind::Tensor, okB = b.isNumber() || b.kind == Value::Kind::Tensor;
  if (!okA || !okB) {
    std::string hint = a.kind == Value::Kind::List && b.kind == Value::Kind::List ? " (use ++ to join lists)" : "";
    throw DiagError(loc, "'" + op + "' is not defined for " + describe(a) + " and " + describe(b) + hint);
  }
  requireFloat(a, loc, "'" + op + "'");
  requireFloat(b, loc, "'" + op + "'");
  ValueId x = a.kind == Value::Kind::Tensor ? a.t : constant(a.number(), loc);
  ValueId y = b.kind == Value::Kind::Tensor ? b.t : constant(b.number(), loc);
  OpKind k = op == "+" ? OpKind::Add : op == "-" ? OpKind::Sub : op == "*" ? OpKind::Mul : OpKind::Div;
  return Value::tensor(add(k, {x, y}, {}, loc));
}

// ---------------------------------------------------------------- helpers for builtins

void Builder::requireFloat(const Value& v, const Loc& loc, const std::string& what) {
  if (v.kind == Value::Kind::Tensor && g_.at(v.t).dtype == DType::I32)
    throw DiagError(loc, what + ": categorical ids" + (v.vocab.empty() ? "" : " <" + v.vocab + ">") +
                             " cannot be used in arithmetic; embed them first");
}

ValueId Builder::param(const std::string& name, Shape shape, const std::string& init, double scale,
                       bool embedding, const Loc& loc) {
  auto prev = paramNodes_.find(name);
  if (prev != paramNodes_.end()) {
    // A scan step after the first calls its cell again: it gets the parameters of step 0.
    if (!reuseParams_) throw DiagError(loc, "parameter name '" + name + "' is used twice");
    const Shape& had = g_.at(prev->second).shape;
    if (had != shape)
      throw DiagError(loc, "scan: parameter '" + name + "' was created as " + shapeStr(had) + " by the first step, " +
                               "but a later step asks for " + shapeStr(shape));
    return prev->second;
  }
  ParamDecl p;
  p.name = name;
  p.shape = std::move(shape);
  p.init = init;
  p.scale = scale;
  p.embedding = embedding;
  p.loc = loc;
  g_.params.push_back(p);
  ValueId v = gb_.add(OpKind::Param, {}, Attrs().set("index", static_cast<int64_t>(g_.params.size() - 1)), loc, name);
  paramNodes_[name] = v;
  return v;
}

std::string Builder::layerScope(const std::string& kind, bool ownScope) {
  std::string cur = scope_.empty() ? "" : scope_.back();
  if (ownScope && !cur.empty()) return cur;
  int k = counters_[cur][kind]++;
  return join(cur, kind + std::to_string(k));
}

Value Builder::tensorArg(const CallSite& c, size_t i, bool floatOnly) {
  const Value& v = c.args[i];
  if (v.kind != Value::Kind::Tensor)
    throw DiagError(c.argLocs[i], c.name + ": expected a tensor, got " + describe(v));
  if (floatOnly) requireFloat(v, c.argLocs[i], c.name);
  return v;
}

int64_t Builder::intArg(const CallSite& c, size_t i) {
  const Value& v = c.args[i];
  if (v.kind == Value::Kind::Int) return v.i;
  // A whole float (e.g. dim / 2) is accepted; the range check keeps the cast defined.
  if (v.kind == Value::Kind::Float && std::fabs(v.f) < 9.0e15 && v.f == std::floor(v.f))
    return static_cast<int64_t>(v.f);
  throw DiagError(c.argLocs[i], c.name + ": expected an integer, got " + describe(v) +
                                    (v.kind == Value::Kind::Float ? " " + formatFloat(v.f) : ""));
}

double Builder::floatArg(const CallSite& c, size_t i) {
  if (!c.args[i].isNumber()) throw DiagError(c.argLocs[i], c.name + ": expected a number, got " + describe(c.args[i]));
  return c.args[i].number();
}

bool Builder::boolArg(const CallSite& c, size_t i) {
  if (c.args[i].kind != Value::Kind::Bool)
    throw DiagError(c.argLocs[i], c.name + ": expected true or false, got " + describe(c.args[i]));
  return c.args[i].b;
}

const std::vector<Value>& Builder::listArg(const CallSite& c, size_t i) {
  if (c.args[i].kind != Value::Kind::List)
    throw DiagError(c.argLocs[i], c.name + ": expected a list, got " + describe(c.args[i]));
  return c.args[i].list;
}

int64_t Builder::axisArg(const CallSite& c, size_t i, size_t rank) {
  int64_t a = intArg(c, i);
  auto r = static_cast<int64_t>(rank);
  if (a < -r || a >= r)
    throw DiagError(c.argLocs[i], c.name + ": axis " + std::to_string(a) + " out of range for rank " +
                                      std::to_string(rank));
  return a < 0 ? a + r : a;
}

}  // namespace recc
