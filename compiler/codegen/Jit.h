// A small wrapper over ORC LLJIT for the host CPU, with the runtime kernels pre-registered, and
// the on-disk cache of compiled object code.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <llvm/ExecutionEngine/ObjectCache.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Target/TargetMachine.h>

namespace recc {

class Jit {
 public:
  /// A JIT for the host (its CPU and features); every recc_rt_ kernel of kernelSymbols() is
  /// defined up front, and libc/libm symbols (expf, memcpy) resolve from the process. With
  /// RECC_PERF_MAP=1 every function it links is listed in /tmp/perf-<pid>.map (for `perf`).
  static llvm::Expected<std::unique_ptr<Jit>> create();

  /// The target machine to optimise and compile for (same triple, CPU and features as the JIT).
  llvm::TargetMachine& targetMachine() { return *tm_; }
  const llvm::DataLayout& dataLayout() const { return jit_->getDataLayout(); }

  /// Checks a module before compiling: the verifier, and every recc_rt_ function it calls
  /// must be a kernel of kernelSymbols(). Returns the problems, or "".
  static std::string check(llvm::Module& m);
  /// Compiles a (checked, optimised) module to an object file with target machine `tm`; `cache`
  /// (may be null) is told about the result.
  static llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> compile(llvm::Module& m, llvm::TargetMachine& tm,
                                                                     llvm::ObjectCache* cache);
  /// A target machine like the JIT's, for compiling a part of a module on another thread.
  static llvm::Expected<std::unique_ptr<llvm::TargetMachine>> hostTargetMachine();
  /// Links an object file (compiled by compile(), possibly in an earlier process).
  llvm::Error addObject(std::unique_ptr<llvm::MemoryBuffer> obj);
  llvm::Expected<void*> lookup(const std::string& name);

 private:
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unique_ptr<llvm::TargetMachine> tm_;
};

/// Stamps the module with the machine's triple/data layout and the functions with its CPU and
/// features (the cache key covers them: call before cacheKey).
void prepareModule(llvm::Module& m, llvm::TargetMachine& tm);
/// The optimisation pipeline at `level` (0: none; 1-3: loop-vectorising function pipelines of
/// increasing cost; see OptPipeline.cpp).
void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm, int level);

/// The object cache of compiled graphs: $XDG_CACHE_HOME/recc (else ~/.cache/recc), one file per
/// key holding the objects of the module's parts (a module may be compiled in several parts in
/// parallel, see Compiler.cpp; part p is the module named partName(p)). Files are written
/// atomically (temporary file + rename) with a checksum per part; an entry that is unreadable,
/// truncated or corrupt is ignored and rebuilt. RECC_NO_CACHE=1 disables it.
class DiskObjectCache final : public llvm::ObjectCache {
 public:
  /// `key`: cacheKey() of the module about to be compiled.
  explicit DiskObjectCache(std::string key);
  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  /// Every part of the cached entry for the key (empty when there is none, or it is damaged).
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> load();
  /// The next compile produces `parts` objects: the entry is written once all have arrived.
  void expect(int parts);
  static std::string partName(int part) { return "recc.part" + std::to_string(part); }
  /// llvm::ObjectCache, called by the compiler of each part (from any thread).
  std::unique_ptr<llvm::MemoryBuffer> getObject(const llvm::Module* m) override;
  void notifyObjectCompiled(const llvm::Module* m, llvm::MemoryBufferRef obj) override;
  /// The cache directory (created on demand), or "" when caching is off.
  static std::string directory();

 private:
  void store();
  std::string path_;
  std::mutex mu_;
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> pending_;
};

/// A key naming everything the object code depends on: the module's text (before
/// optimisation), the target (triple, CPU, features), the optimisation level, the LLVM version
/// and the code generator's own pipeline.
std::string cacheKey(const llvm::Module& m, llvm::TargetMachine& tm, int optLevel);

}  // namespace recc
