// Diagnostics rendering: `file:line:col: error: message`, source line, caret.
#include "compiler/ir/Diag.h"

#include <fstream>

namespace recc {

static std::string sourceLine(const std::string& file, int line) {
  std::ifstream in(file);
  std::string text;
  for (int i = 1; in && std::getline(in, text); ++i)
    if (i == line) {
      if (!text.empty() && text.back() == '\r') text.pop_back();
      return text;
    }
  return {};
}

std::string renderDiag(const Loc& loc, const std::string& msg) {
  std::string out;
  if (!loc.file.empty()) out += loc.file + ":";
  if (loc.known()) out += std::to_string(loc.line) + ":" + std::to_string(loc.col) + ":";
  if (!out.empty()) out += " ";
  out += "error: " + msg + "\n";
  if (loc.known()) {
    std::string src = sourceLine(loc.file, loc.line);
    if (!src.empty()) {
      out += src + "\n";
      std::string caret;
      for (int i = 1; i < loc.col && i <= static_cast<int>(src.size()); ++i)
        caret += src[static_cast<size_t>(i - 1)] == '\t' ? '\t' : ' ';
      out += caret + "^\n";
    }
  }
  return out;
}

std::string renderDiag(const DiagError& e) { return renderDiag(e.loc(), e.message()); }

}  // namespace recc
