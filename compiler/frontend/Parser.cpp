// Parse tree -> AST. ANTLR never prints or recovers here: the first lexical or syntax
// error throws DiagError("expected ..., found ...") at the offending token.
#include "compiler/frontend/Parser.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "RecLexer.h"
#include "RecParser.h"
#include "antlr4-runtime.h"

namespace recc {

using recc_grammar::RecLexer;
using recc_grammar::RecParser;

namespace {

Loc locOf(const std::string& file, antlr4::Token* t) {
  return Loc{file, static_cast<int>(t->getLine()), static_cast<int>(t->getCharPositionInLine()) + 1};
}

std::string tokenDisplay(antlr4::Token* t) {
  if (t->getType() == antlr4::Token::EOF) return "end of file";
  return "'" + t->getText() + "'";
}

/// "expected ')' or ','": collapses expression starters into "an expression" and drops the
/// binary operators that could continue an expression when something structural is expected.
std::string expectedText(const antlr4::dfa::Vocabulary& voc, const antlr4::misc::IntervalSet& set) {
  std::set<size_t> types;
  for (ssize_t t : set.toList()) types.insert(static_cast<size_t>(t));
  auto lit = [&](size_t t) { return voc.getLiteralName(t); };
  auto isLit = [&](size_t t, const char* s) { return lit(t) == std::string("'") + s + "'"; };
  static const char* softKw[] = {"input", "label", "output", "loss", "train", "from"};
  static const char* ops[] = {"*", "/", "+", "-", "++", "|>", "(", "["};
  static const char* starts[] = {"-", "(", "[", "true", "false"};
  bool exprStart = types.count(RecParser::NAME) && types.count(RecParser::INT);
  bool continues = std::any_of(types.begin(), types.end(), [&](size_t t) { return isLit(t, "*"); });
  std::vector<std::string> out;
  bool saidExpr = false;
  for (size_t t : types) {
    bool soft = std::any_of(std::begin(softKw), std::end(softKw), [&](const char* k) { return isLit(t, k); });
    bool op = std::any_of(std::begin(ops), std::end(ops), [&](const char* k) { return isLit(t, k); });
    bool start = std::any_of(std::begin(starts), std::end(starts), [&](const char* k) { return isLit(t, k); });
    bool literal = t == RecParser::NAME || t == RecParser::INT || t == RecParser::FLOAT ||
                   t == RecParser::STRING;
    if (exprStart && (soft || start || literal)) {
      if (!saidExpr) out.push_back("an expression");
      saidExpr = true;
      continue;
    }
    if (soft && types.count(RecParser::NAME)) continue;
    if (continues && op && types.size() > 8) continue;
    if (t == antlr4::Token::EOF) out.push_back("end of file");
    else if (t == RecParser::NAME) out.push_back("a name");
    else if (t == RecParser::INT) out.push_back("an integer");
    else if (t == RecParser::FLOAT) out.push_back("a number");
    else if (t == RecParser::STRING) out.push_back("a string");
    else out.push_back(lit(t));
  }
  std::string s;
  for (size_t i = 0; i < out.size(); ++i)
    s += (i == 0 ? "" : i + 1 == out.size() ? " or " : ", ") + out[i];
  return s;
}

class ThrowingStrategy : public antlr4::DefaultErrorStrategy {
 public:
  explicit ThrowingStrategy(std::string file) : file_(std::move(file)) {}
  void reportError(antlr4::Parser* p, const antlr4::RecognitionException& e) override {
    fail(p, e.getOffendingToken(), e.getExpectedTokens());
  }
  antlr4::Token* recoverInline(antlr4::Parser* p) override {
    fail(p, p->getCurrentToken(), p->getExpectedTokens());
    return nullptr;
  }
  void recover(antlr4::Parser*, std::exception_ptr) override {}

 protected:
  void reportUnwantedToken(antlr4::Parser* p) override {
    fail(p, p->getCurrentToken(), getExpectedTokens(p));
  }
  void reportMissingToken(antlr4::Parser* p) override {
    fail(p, p->getCurrentToken(), getExpectedTokens(p));
  }

 private:
  [[noreturn]] void fail(antlr4::Parser* p, antlr4::Token* t, const antlr4::misc::IntervalSet& exp) {
    std::string want = expectedText(p->getVocabulary(), exp);
    std::string msg = want.empty() ? "unexpected " + tokenDisplay(t)
                                   : "expected " + want + ", found " + tokenDisplay(t);
    // `trian { ... }` parses as a binding `trian = ...` missing its '=': name the real mistake.
    antlr4::Token* prev = p->getTokenStream()->LT(-1);
    if (want == "'='" && t->getText() == "{" && prev && prev->getType() == RecParser::NAME)
      throw DiagError(locOf(file_, prev), "unknown block '" + prev->getText() + "' (the only block is train { ... })");
    throw DiagError(locOf(file_, t), msg);
  }
  std::string file_;
};

class LexerErrors : public antlr4::BaseErrorListener {
 public:
  LexerErrors(std::string file, const std::string& text) : file_(std::move(file)), text_(text) {}
  void syntaxError(antlr4::Recognizer*, antlr4::Token*, size_t line, size_t col, const std::string&,
                   std::exception_ptr) override {
    // The lexer reports the position of the first character it could not match.
    size_t pos = 0;
    for (size_t l = 1; l < line && pos != std::string::npos; ++l) {
      pos = text_.find('\n', pos);
      if (pos != std::string::npos) ++pos;
    }
    char c = pos == std::string::npos || pos + col >= text_.size() ? '?' : text_[pos + col];
    throw DiagError(Loc{file_, static_cast<int>(line), static_cast<int>(col) + 1},
                    std::string("unexpected character '") + c + "'");
  }

 private:
  std::string file_;
  const std::string& text_;
};

std::string unquote(const std::string& tok) {
  std::string out;
  for (size_t i = 1; i + 1 < tok.size(); ++i) {
    char c = tok[i];
    if (c == '\\' && i + 2 < tok.size()) {
      char n = tok[++i];
      out += n == 'n' ? '\n' : n == 't' ? '\t' : n;
    } else {
      out += c;
    }
  }
  return out;
}

/// Walks the ANTLR parse tree and builds the AST.
class Converter {
 public:
  explicit Converter(std::string file) : file_(std::move(file)) {}

  Loc loc(antlr4::ParserRuleContext* c) { return locOf(file_, c->getStart()); }
  Loc loc(antlr4::tree::TerminalNode* n) { return locOf(file_, n->getSymbol()); }

  /// file : item* EOF
  std::unique_ptr<ast::Module> module(RecParser::FileContext* c) {
    auto m = std::make_unique<ast::Module>();
    m->file = file_;
    for (auto* it : c->item()) {
      if (auto* i = it->importDecl())
        m->imports.push_back({unquote(i->STRING()->getText()), loc(i->STRING())});
      else if (auto* d = it->defDecl())
        m->defs.push_back(def(d));
      else
        m->models.push_back(model(it->modelDecl()));
    }
    return m;
  }

  /// defDecl : 'def' name '(' params? ')' block
  std::unique_ptr<ast::Def> def(RecParser::DefDeclContext* c) {
    auto d = std::make_unique<ast::Def>();
    d->name = c->name()->getText();
    d->loc = loc(c->name());
    if (c->params()) d->params = params(c->params());
    d->body = block(c->block());
    return d;
  }

  /// modelDecl : 'model' name ('(' params? ')')? '{' modelStmt* '}'
  std::unique_ptr<ast::Model> model(RecParser::ModelDeclContext* c) {
    auto m = std::make_unique<ast::Model>();
    m->name = c->name()->getText();
    m->loc = loc(c->name());
    if (c->params()) m->hyper = params(c->params());
    for (auto* s : c->modelStmt()) m->body.push_back(modelStmt(s));
    return m;
  }

  std::vector<ast::Param> params(RecParser::ParamsContext* c) {
    std::vector<ast::Param> out;
    for (auto* p : c->param())
      out.push_back({p->name()->getText(), p->expr() ? expr(p->expr()) : nullptr, loc(p->name())});
    return out;
  }

  std::vector<ast::StmtPtr> block(RecParser::BlockContext* c) {
    std::vector<ast::StmtPtr> out;
    for (auto* s : c->stmt()) out.push_back(stmt(s));
    return out;
  }

  ast::StmtPtr make(ast::StmtKind k, antlr4::ParserRuleContext* c) {
    auto s = std::make_unique<ast::Stmt>();
    s->kind = k;
    s->loc = loc(c);
    return s;
  }

  ast::StmtPtr modelStmt(RecParser::ModelStmtContext* c) {
    if (auto* p = dynamic_cast<RecParser::PlainStmtContext*>(c)) return stmt(p->stmt());
    if (auto* i = dynamic_cast<RecParser::InputStmtContext*>(c)) {
      // 'input' name ':' inputType ('from' STRING)?
      auto s = make(ast::StmtKind::Input, c);
      s->name = i->name()->getText();
      s->nameLoc = loc(i->name());
      auto* t = i->inputType();
      s->type = t->name(0)->getText();
      s->typeLoc = loc(t);
      if (t->name().size() > 1) s->vocab = t->name(1)->getText();
      if (t->expr()) s->value = expr(t->expr());
      if (i->STRING()) s->column = unquote(i->STRING()->getText());
      return s;
    }
    if (auto* l = dynamic_cast<RecParser::LabelStmtContext*>(c)) {
      // 'label' name ':' name ('from' STRING)?
      auto s = make(ast::StmtKind::Label, c);
      s->name = l->name(0)->getText();
      s->nameLoc = loc(l->name(0));
      s->type = l->name(1)->getText();
      s->typeLoc = loc(l->name(1));
      if (l->STRING()) s->column = unquote(l->STRING()->getText());
      return s;
    }
    if (auto* o = dynamic_cast<RecParser::OutputStmtContext*>(c)) {
      auto s = make(ast::StmtKind::Output, c);
      s->name = o->name()->getText();
      s->nameLoc = loc(o->name());
      s->value = expr(o->expr());
      return s;
    }
    if (auto* l = dynamic_cast<RecParser::LossStmtContext*>(c)) {
      // 'loss' expr (',' name '=' expr)?
      auto s = make(ast::StmtKind::Loss, c);
      s->value = expr(l->expr(0));
      if (l->name()) {
        s->weightName = l->name()->getText();
        s->nameLoc = loc(l->name());
        s->weight = expr(l->expr(1));
      }
      return s;
    }
    auto* t = dynamic_cast<RecParser::TrainStmtContext*>(c);
    auto s = make(ast::StmtKind::Train, c);
    for (auto* it : t->trainItem()) s->items.push_back({it->name()->getText(), expr(it->expr()), loc(it->name())});
    return s;
  }

  ast::StmtPtr stmt(RecParser::StmtContext* c) {
    if (auto* a = dynamic_cast<RecParser::AssignStmtContext*>(c)) {
      auto s = make(ast::StmtKind::Assign, c);
      s->name = a->name()->getText();
      s->nameLoc = loc(a->name());
      s->value = expr(a->expr());
      return s;
    }
    if (auto* f = dynamic_cast<RecParser::ForStmtContext*>(c)) {
      // 'for' name (',' name)? 'in' expr block
      auto s = make(ast::StmtKind::For, c);
      auto names = f->name();
      s->name = names.back()->getText();
      s->nameLoc = loc(names.back());
      if (names.size() == 2) s->indexVar = names[0]->getText();
      s->value = expr(f->expr());
      s->body = block(f->block());
      return s;
    }
    auto* r = dynamic_cast<RecParser::ReturnStmtContext*>(c);
    auto s = make(ast::StmtKind::Return, c);
    s->value = expr(r->expr());
    return s;
  }

  ast::ExprPtr node(ast::ExprKind k, Loc l) {
    auto e = std::make_unique<ast::Expr>();
    e->kind = k;
    e->loc = std::move(l);
    return e;
  }

  ast::ExprPtr expr(RecParser::ExprContext* c) {
    ast::ExprPtr e = exprInner(c);
    e->begin = loc(c);
    return e;
  }

  ast::ExprPtr exprInner(RecParser::ExprContext* c) {
    using K = ast::ExprKind;
    if (auto* x = dynamic_cast<RecParser::CallExprContext*>(c)) {
      auto callee = expr(x->expr());
      auto e = node(K::Call, callee->loc);
      e->items.push_back(std::move(callee));
      if (x->args())
        for (auto* a : x->args()->arg())
          e->args.push_back({a->name() ? a->name()->getText() : "", expr(a->expr()), loc(a)});
      return e;
    }
    if (auto* x = dynamic_cast<RecParser::IndexExprContext*>(c)) {
      auto base = expr(x->expr());
      if (auto* at = dynamic_cast<RecParser::AtIndexContext*>(x->index())) {
        auto e = node(K::Index, loc(at));
        e->items.push_back(std::move(base));
        e->lo = expr(at->expr());
        return e;
      }
      auto* sl = dynamic_cast<RecParser::SliceIndexContext*>(x->index());
      auto e = node(K::Slice, loc(sl));
      e->items.push_back(std::move(base));
      if (sl->lo) e->lo = expr(sl->lo);
      if (sl->hi) e->hi = expr(sl->hi);
      return e;
    }
    if (auto* x = dynamic_cast<RecParser::NegExprContext*>(c)) {
      auto e = node(K::Neg, loc(c));
      e->items.push_back(expr(x->expr()));
      return e;
    }
    if (auto* x = dynamic_cast<RecParser::MulExprContext*>(c)) return binary(x->op, x->expr(0), x->expr(1));
    if (auto* x = dynamic_cast<RecParser::AddExprContext*>(c)) return binary(x->op, x->expr(0), x->expr(1));
    if (auto* x = dynamic_cast<RecParser::PipeExprContext*>(c)) {
      // `x |> f(a)` is `f(x, a)`; `x |> f` is `f(x)`.
      auto lhs = expr(x->expr(0));
      auto rhs = expr(x->expr(1));
      Loc lhsLoc = lhs->loc;
      if (rhs->kind == K::Call) {
        rhs->args.insert(rhs->args.begin(), ast::Arg{"", std::move(lhs), lhsLoc});
        return rhs;
      }
      auto e = node(K::Call, rhs->loc);
      e->items.push_back(std::move(rhs));
      e->args.push_back({"", std::move(lhs), lhsLoc});
      return e;
    }
    if (auto* x = dynamic_cast<RecParser::ParenExprContext*>(c)) return expr(x->expr());
    if (auto* x = dynamic_cast<RecParser::ListExprContext*>(c)) {
      auto e = node(K::List, loc(c));
      for (auto* it : x->expr()) e->items.push_back(expr(it));
      return e;
    }
    if (auto* x = dynamic_cast<RecParser::IntExprContext*>(c)) {
      auto e = node(K::Int, loc(c));
      try {
        e->i = std::stoll(x->getText());
      } catch (const std::exception&) {
        throw DiagError(e->loc, "integer literal " + x->getText() + " overflows int64 (the largest is " +
                                    std::to_string(INT64_MAX) + ")");
      }
      return e;
    }
    if (auto* x = dynamic_cast<RecParser::FloatExprContext*>(c)) {
      auto e = node(K::Float, loc(c));
      e->f = std::strtod(x->getText().c_str(), nullptr);
      return e;
    }
    if (auto* x = dynamic_cast<RecParser::StringExprContext*>(c)) {
      auto e = node(K::Str, loc(c));
      e->s = unquote(x->getText());
      return e;
    }
    if (dynamic_cast<RecParser::BoolExprContext*>(c)) {
      auto e = node(K::Bool, loc(c));
      e->b = c->getText() == "true";
      return e;
    }
    auto* x = dynamic_cast<RecParser::NameExprContext*>(c);
    auto e = node(K::Name, loc(c));
    e->s = x->getText();
    return e;
  }

  ast::ExprPtr binary(antlr4::Token* op, RecParser::ExprContext* a, RecParser::ExprContext* b) {
    auto e = node(ast::ExprKind::Binary, locOf(file_, op));
    e->s = op->getText();
    e->items.push_back(expr(a));
    e->items.push_back(expr(b));
    return e;
  }

 private:
  std::string file_;
};

/// Rejects bytes that are not well-formed UTF-8 at their line:col (ANTLR's input stream would
/// otherwise throw a bare std::range_error from its converter).
void checkUtf8(const std::string& text, const std::string& file) {
  int line = 1, col = 1;
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len != 0 && i + len <= text.size() && !(len == 2 && c < 0xC2);
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(text[i + k]) >> 6) == 0x2;
    if (ok && len == 3) {  // no overlong forms, no UTF-16 surrogates
      auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);
    }
    if (ok && len == 4) {
      auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = c <= 0xF4 && !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
    }
    if (!ok) throw DiagError(Loc{file, line, col}, "invalid UTF-8 byte in the source; save the file as UTF-8");
    if (c == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
    i += len;
  }
}

/// Runs `rule` on a fresh lexer/parser pair with throwing error handling.
template <typename Rule>
auto withParser(const std::string& text, const std::string& file, Rule rule) {
  checkUtf8(text, file);
  antlr4::ANTLRInputStream input(text);
  RecLexer lexer(&input);
  LexerErrors lexErrors(file, text);
  lexer.removeErrorListeners();
  lexer.addErrorListener(&lexErrors);
  antlr4::CommonTokenStream tokens(&lexer);
  tokens.fill();
  for (antlr4::Token* t : tokens.getTokens())
    if (t->getType() == RecLexer::BAD_STRING)
      throw DiagError(locOf(file, t), "unterminated string literal");
  RecParser parser(&tokens);
  parser.removeErrorListeners();
  parser.setErrorHandler(std::make_shared<ThrowingStrategy>(file));
  Converter conv(file);
  return rule(parser, conv);
}

}  // namespace

std::unique_ptr<ast::Module> parseModule(const std::string& text, const std::string& file) {
  return withParser(text, file, [](RecParser& p, Converter& c) { return c.module(p.file()); });
}

ast::ExprPtr parseExpression(const std::string& text, const std::string& file) {
  return withParser(text, file, [](RecParser& p, Converter& c) { return c.expr(p.literalOnly()->expr()); });
}

}  // namespace recc
