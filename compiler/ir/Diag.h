// Diagnostics: source locations and the one error type every compiler stage throws.
#pragma once
#include <stdexcept>
#include <string>

namespace recc {

/// A position in a .rec file (1-based line and column). Empty file = no location.
struct Loc {
  std::string file;
  int line = 0;
  int col = 0;
  bool known() const { return line > 0; }
};

/// Thrown by every compiler stage for user-facing errors. `render()` (Diag.cpp) formats
/// it as `file:line:col: error: message` followed by the source line and a caret.
class DiagError : public std::runtime_error {
 public:
  DiagError(Loc loc, const std::string& msg) : std::runtime_error(msg), loc_(std::move(loc)) {}
  const Loc& loc() const { return loc_; }
  std::string message() const { return what(); }

 private:
  Loc loc_;
};

/// `file:line:col: error: msg\n<source line>\n<caret>\n` (source line read from loc.file when
/// it exists; the caret line is omitted if the file or line cannot be read).
std::string renderDiag(const DiagError& e);
std::string renderDiag(const Loc& loc, const std::string& msg);

}  // namespace recc
