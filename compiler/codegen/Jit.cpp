// The LLJIT wrapper: host target, explicit kernel symbols, verification before adding modules.
#include "compiler/codegen/Jit.h"

#include <mutex>
#include <set>

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include "runtime/kernels/Kernels.h"

namespace recc {

namespace {
void initNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}
}  // namespace

llvm::Expected<std::unique_ptr<Jit>> Jit::create() {
  initNativeTarget();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return jtmb.takeError();
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto tm = jtmb->createTargetMachine();
  if (!tm) return tm.takeError();
  auto lljit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  if (!lljit) return lljit.takeError();

  auto self = std::unique_ptr<Jit>(new Jit());
  self->jit_ = std::move(*lljit);
  self->tm_ = std::move(*tm);
  llvm::orc::JITDylib& jd = self->jit_->getMainJITDylib();

  // The kernels are defined explicitly; process lookup is only for libc/libm and never
  // supplies a recc_rt_ symbol, so a kernel missing from kernelSymbols() fails loudly.
  llvm::orc::SymbolMap kernels;
  for (auto& [name, addr] : kernelSymbols())
    kernels[self->jit_->mangleAndIntern(name)] = llvm::orc::ExecutorSymbolDef(
        llvm::orc::ExecutorAddr::fromPtr(addr),
        llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  if (auto err = jd.define(llvm::orc::absoluteSymbols(std::move(kernels)))) return err;
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      self->jit_->getDataLayout().getGlobalPrefix(),
      [](const llvm::orc::SymbolStringPtr& s) { return !(*s).contains("recc_rt_"); });
  if (!process) return process.takeError();
  jd.addGenerator(std::move(*process));
  return self;
}

llvm::Error Jit::addModule(llvm::orc::ThreadSafeModule tsm) {
  std::string problems;
  bool broken = tsm.withModuleDo([&](llvm::Module& m) {
    llvm::raw_string_ostream os(problems);
    if (llvm::verifyModule(m, &os)) return true;
    std::set<std::string> known;
    for (auto& [name, addr] : kernelSymbols()) known.insert(name);
    for (llvm::Function& f : m)
      if (f.isDeclaration() && f.getName().starts_with("recc_rt_") && !known.count(f.getName().str())) {
        os << "no runtime kernel provides " << f.getName();
        return true;
      }
    return false;
  });
  if (broken)
    return llvm::make_error<llvm::StringError>("invalid module: " + problems,
                                               llvm::inconvertibleErrorCode());
  return jit_->addIRModule(std::move(tsm));
}

llvm::Expected<void*> Jit::lookup(const std::string& name) {
  auto addr = jit_->lookup(name);
  if (!addr) return addr.takeError();
  return addr->toPtr<void*>();
}

}  // namespace recc
