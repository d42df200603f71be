// Import resolution and loading: missing files, cycles and imports that leave the allowed
// directories are errors at the import's line:col.
#include "compiler/frontend/Program.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "compiler/frontend/Builtins.h"
#include "compiler/frontend/Parser.h"

namespace fs = std::filesystem;

namespace recc {

uint64_t fnv1a(const std::string& bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

namespace {

/// The absolute path with `.`, `..` and symlinks resolved (as far as the path exists), without
/// a trailing separator ("-I zoo/" names the directory zoo).
fs::path resolved(const fs::path& path) {
  const fs::path given = path.empty() ? fs::path(".") : path;
  std::error_code ec;
  fs::path p = fs::weakly_canonical(given, ec);
  if (ec) p = fs::absolute(given, ec).lexically_normal();
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

std::string key(const std::string& path) { return resolved(path).string(); }

/// Whether `path` is `dir` or lies below it, both resolved (compared by whole components, so
/// that /a/bc is not inside /a/b).
bool isWithin(const fs::path& path, const fs::path& dir) {
  auto p = path.begin();
  for (auto d = dir.begin(); d != dir.end(); ++d, ++p)
    if (p == path.end() || *p != *d) return false;
  return true;
}

std::string baseName(const std::string& path) { return fs::path(path).filename().string(); }

class Loader {
 public:
  // Imports are confined to the model file's directory and the include paths (canonical, so
  // that neither `..` nor a symlink leads out): a model file cannot read arbitrary files.
  Loader(Program& prog, const FrontendOptions& opts, const std::string& modelFile) : prog_(prog), opts_(opts) {
    roots_.push_back(resolved(fs::path(modelFile).parent_path()));
    for (const std::string& d : opts.includePaths) roots_.push_back(resolved(d));
  }

  void load(const std::string& text, const std::string& file) {
    prog_.sourceHash = fnv1a(text, prog_.sourceHash);
    loaded_.insert(key(file));
    stack_.push_back(key(file));
    prog_.modules.push_back(parseModule(text, file));
    ast::Module* m = prog_.modules.back().get();
    for (auto& d : m->defs) declare(*d);
    for (const ast::Import& imp : m->imports) {
      std::string path = resolve(imp, file);
      std::string k = key(path);
      for (size_t i = 0; i < stack_.size(); ++i)
        if (stack_[i] == k) {
          std::string chain;
          for (size_t j = i; j < stack_.size(); ++j) chain += baseName(stack_[j]) + " -> ";
          throw DiagError(imp.loc, "import cycle: " + chain + baseName(k));
        }
      if (loaded_.count(k)) continue;  // a diamond: each file is read once
      std::ifstream in(path, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      size_t before = prog_.modules.size();
      load(ss.str(), path);
      for (auto& model : prog_.modules[before]->models)
        throw DiagError(model->loc, "imported file '" + baseName(path) + "' defines model '" + model->name +
                                        "'; an imported file may only hold defs and imports");
    }
    stack_.pop_back();
  }

 private:
  std::string resolve(const ast::Import& imp, const std::string& from) {
    std::vector<fs::path> dirs{fs::path(from).parent_path()};
    for (const std::string& d : opts_.includePaths) dirs.emplace_back(d);
    std::string looked;
    for (const fs::path& d : dirs) {
      fs::path p = d / imp.path;
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) {
        checkAllowed(imp, resolved(p));
        return p.string();
      }
      looked += (looked.empty() ? "" : ", ") + (d.empty() ? std::string(".") : d.string());
    }
    throw DiagError(imp.loc, "cannot find import \"" + imp.path + "\" (looked in " + looked + ")");
  }

  void checkAllowed(const ast::Import& imp, const fs::path& target) const {
    std::string allowed;
    for (const fs::path& r : roots_) {
      if (isWithin(target, r)) return;
      allowed += (allowed.empty() ? "" : ", ") + r.string();
    }
    throw DiagError(imp.loc, "import \"" + imp.path + "\" is outside the allowed directories (" + allowed +
                                 "): it resolves to " + target.string() + "; pass -I DIR to allow another directory");
  }

  void declare(const ast::Def& d) {
    if (findBuiltin(d.name))
      throw DiagError(d.loc, "'" + d.name + "' is a builtin function and cannot be redefined");
    auto it = prog_.defs.find(d.name);
    if (it != prog_.defs.end()) {
      const Loc& l = it->second->loc;
      throw DiagError(d.loc, "duplicate definition of '" + d.name + "' (first defined at " +
                                 baseName(l.file) + ":" + std::to_string(l.line) + ":" +
                                 std::to_string(l.col) + ")");
    }
    prog_.defs[d.name] = &d;
  }

  Program& prog_;
  const FrontendOptions& opts_;
  std::vector<std::string> stack_;
  std::set<std::string> loaded_;
  std::vector<fs::path> roots_;  // canonical: the model file's directory, then the include paths
};

}  // namespace

Program loadProgram(const std::string& text, const std::string& file, const FrontendOptions& opts) {
  Program prog;
  prog.sourceHash = 0xcbf29ce484222325ULL;
  Loader(prog, opts, file).load(text, file);
  const ast::Module& root = *prog.modules[0];
  if (root.models.empty()) throw DiagError(Loc{file, 1, 1}, "no model block in '" + baseName(file) + "'");
  if (root.models.size() > 1)
    throw DiagError(root.models[1]->loc, "second model '" + root.models[1]->name + "' in one file (model '" +
                                             root.models[0]->name + "' is at line " +
                                             std::to_string(root.models[0]->loc.line) + "); one model per file");
  prog.model = root.models[0].get();
  return prog;
}

}  // namespace recc
