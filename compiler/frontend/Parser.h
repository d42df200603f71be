// Source text -> AST, via the ANTLR-generated parser; the first syntax error throws DiagError.
#pragma once
#include <memory>
#include <string>

#include "compiler/frontend/Ast.h"

namespace recc {

/// Parses a whole .rec file. `file` is recorded in every Loc.
std::unique_ptr<ast::Module> parseModule(const std::string& text, const std::string& file);

/// Parses one expression standing alone (the value of `--set name=value`).
ast::ExprPtr parseExpression(const std::string& text, const std::string& file);

}  // namespace recc
