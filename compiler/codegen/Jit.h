// A small wrapper over ORC LLJIT for the host CPU, with the runtime kernels pre-registered.
#pragma once
#include <memory>
#include <string>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <llvm/Target/TargetMachine.h>

namespace recc {

class Jit {
 public:
  /// A JIT for the host (its CPU and features); every recc_rt_ kernel of kernelSymbols() is
  /// defined up front, and libc/libm symbols (expf, memcpy) resolve from the process.
  static llvm::Expected<std::unique_ptr<Jit>> create();

  /// The target machine to optimise for (same triple, CPU and features as the JIT).
  llvm::TargetMachine& targetMachine() { return *tm_; }
  const llvm::DataLayout& dataLayout() const { return jit_->getDataLayout(); }

  /// Verifies, then adds a module. Fails if it calls a recc_rt_ function no kernel provides.
  llvm::Error addModule(llvm::orc::ThreadSafeModule tsm);
  llvm::Expected<void*> lookup(const std::string& name);

 private:
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unique_ptr<llvm::TargetMachine> tm_;
};

/// Stamps the module with the machine's triple/data layout and the functions with its CPU and
/// features, then runs the default -O<level> pipeline (vectorizers included).
void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm, int level);

}  // namespace recc
