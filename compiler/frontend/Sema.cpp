// Static checks over the AST: a name must be bound before its use (Python-like: a binding made
// inside a `for` body stays visible after it), calls must match their callee's parameters, and
// defs must not recurse, since they are inlined when the graph is built.
#include "compiler/frontend/Sema.h"

#include <map>
#include <set>

#include "compiler/frontend/Builtins.h"

namespace recc {

namespace {

using Names = std::set<std::string>;

class Checker {
 public:
  explicit Checker(const Program& p) : prog_(p) {}

  void run() {
    for (const auto& m : prog_.modules)
      for (const auto& d : m->defs) def(*d);
    model(*prog_.model);
    for (const auto& m : prog_.modules)
      for (const auto& d : m->defs) {
        std::vector<const ast::Def*> path;
        recursion(d.get(), path);
      }
  }

 private:
  /// defDecl: parameters (defaults trailing, may use earlier parameters), body, a return.
  void def(const ast::Def& d) {
    Names scope;
    bool sawDefault = false;
    for (const ast::Param& p : d.params) {
      if (scope.count(p.name)) throw DiagError(p.loc, "duplicate parameter '" + p.name + "' in def '" + d.name + "'");
      if (p.def) {
        expr(*p.def, scope, &d);
        sawDefault = true;
      } else if (sawDefault) {
        throw DiagError(p.loc, "parameter '" + p.name + "' without a default follows one with a default");
      }
      scope.insert(p.name);
    }
    bool returns = false;
    block(d.body, scope, &d, returns);
    if (!returns) throw DiagError(d.loc, "def '" + d.name + "' has no return statement");
  }

  void model(const ast::Model& m) {
    Names scope;
    for (const ast::Param& p : m.hyper) {
      if (scope.count(p.name)) throw DiagError(p.loc, "duplicate hyperparameter '" + p.name + "'");
      if (p.def) expr(*p.def, scope, nullptr);
      scope.insert(p.name);
    }
    bool returns = false;
    block(m.body, scope, nullptr, returns);
  }

  void block(const std::vector<ast::StmtPtr>& body, Names& scope, const ast::Def* in, bool& returns) {
    for (const auto& sp : body) {
      const ast::Stmt& s = *sp;
      switch (s.kind) {
        case ast::StmtKind::Assign:
          expr(*s.value, scope, in);
          scope.insert(s.name);
          break;
        case ast::StmtKind::For:
          expr(*s.value, scope, in);
          if (!s.indexVar.empty()) scope.insert(s.indexVar);
          scope.insert(s.name);
          block(s.body, scope, in, returns);
          break;
        case ast::StmtKind::Return:
          if (!in) throw DiagError(s.loc, "'return' outside a def");
          expr(*s.value, scope, in);
          returns = true;
          break;
        case ast::StmtKind::Input:
        case ast::StmtKind::Label:
          if (s.value) expr(*s.value, scope, in);
          scope.insert(s.name);
          break;
        case ast::StmtKind::Output:
          expr(*s.value, scope, in);
          break;
        case ast::StmtKind::Loss:
          expr(*s.value, scope, in);
          if (s.weight) expr(*s.weight, scope, in);
          break;
        case ast::StmtKind::Train:
          for (const ast::TrainItem& it : s.items) expr(*it.value, scope, in);
          break;
      }
    }
  }

  bool global(const std::string& n) const { return prog_.defs.count(n) || findBuiltin(n) || n == "B"; }

  void expr(const ast::Expr& e, const Names& scope, const ast::Def* in) {
    if (e.kind == ast::ExprKind::Name) {
      if (!scope.count(e.s) && !global(e.s)) throw DiagError(e.loc, "unknown name '" + e.s + "'");
      return;
    }
    if (e.kind == ast::ExprKind::Call && e.items[0]->kind == ast::ExprKind::Name && !scope.count(e.items[0]->s)) {
      const ast::Expr& callee = *e.items[0];
      auto d = prog_.defs.find(callee.s);
      if (d != prog_.defs.end()) {
        std::vector<std::string> names;
        size_t required = 0;
        for (const ast::Param& p : d->second->params) {
          names.push_back(p.name);
          if (!p.def) required = names.size();
        }
        bindArgs(callee.s, names, required, e.args, e.loc);
        if (in) calls_[in].push_back({d->second, e.loc});
      } else if (const BuiltinInfo* b = findBuiltin(callee.s)) {
        if (!b->special) bindArgs(callee.s, b->params, b->required, e.args, e.loc);  // scan binds its own
      } else {
        throw DiagError(callee.loc, "unknown function '" + callee.s + "'");
      }
    } else {
      for (const auto& it : e.items) expr(*it, scope, in);
    }
    for (const ast::Arg& a : e.args) expr(*a.value, scope, in);
    if (e.lo) expr(*e.lo, scope, in);
    if (e.hi) expr(*e.hi, scope, in);
  }

  /// Depth-first search of the def call graph; a back edge is a recursion.
  void recursion(const ast::Def* d, std::vector<const ast::Def*>& path) {
    if (done_.count(d)) return;
    path.push_back(d);
    for (const auto& [callee, loc] : calls_[d]) {
      for (size_t i = 0; i < path.size(); ++i)
        if (path[i] == callee) {
          std::string chain;
          for (size_t j = i; j < path.size(); ++j) chain += path[j]->name + " -> ";
          throw DiagError(loc, "recursive call: " + chain + callee->name +
                                   " (defs are inlined, so they cannot recurse)");
        }
      recursion(callee, path);
    }
    path.pop_back();
    done_.insert(d);
  }

  const Program& prog_;
  std::map<const ast::Def*, std::vector<std::pair<const ast::Def*, Loc>>> calls_;
  std::set<const ast::Def*> done_;
};

}  // namespace

void checkProgram(const Program& prog) { Checker(prog).run(); }

}  // namespace recc
