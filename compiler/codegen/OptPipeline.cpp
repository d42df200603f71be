// prepareModule / optimizeModule: a short loop-vectorising pipeline instead of LLVM's -O2. The
// module is a list of loop nests and kernel calls, so nothing interprocedural matters beyond
// inlining each loop body into its wrapper; what matters is that every nest gets rotated,
// its invariant address arithmetic hoisted and its innermost loop vectorised.
#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/PassManager.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/BLAKE3.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/IPO/AlwaysInliner.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/GVN.h>
#include <llvm/Transforms/Scalar/LICM.h>
#include <llvm/Transforms/Scalar/LoopPassManager.h>
#include <llvm/Transforms/Scalar/LoopRotation.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <llvm/Transforms/Vectorize/LoopVectorize.h>

#include "compiler/codegen/Jit.h"

namespace recc {

namespace {

// Part of every cache key: bump it when the pipeline below or the code generator's options
// change in a way that the module text does not show.
constexpr const char* kPipelineVersion = "recc-pipeline-4";

llvm::FunctionPassManager loopPipeline(int level) {
  llvm::FunctionPassManager fpm;
  fpm.addPass(llvm::EarlyCSEPass(/*UseMemorySSA=*/false));
  fpm.addPass(llvm::InstCombinePass());
  fpm.addPass(llvm::SimplifyCFGPass());
  llvm::LoopPassManager lpm;
  lpm.addPass(llvm::LoopRotatePass());
  lpm.addPass(llvm::LICMPass(llvm::LICMOptions()));
  // No IndVarSimplify: on these nests it only rewrites exit tests (eq for slt) and costed a fifth
  // of this pipeline's time (DIEN's training step) without changing any vector loop.
  fpm.addPass(llvm::createFunctionToLoopPassAdaptor(std::move(lpm), /*UseMemorySSA=*/true));
  if (level >= 2) fpm.addPass(llvm::GVNPass());
  // No interleaving (unrolling vector loops): the inner extents are short (a feature dimension)
  // and the extra copies cost compile time without making memory-bound loops faster.
  fpm.addPass(llvm::LoopVectorizePass(llvm::LoopVectorizeOptions().setInterleaveOnlyWhenForced(true)));
  fpm.addPass(llvm::InstCombinePass());
  fpm.addPass(llvm::SimplifyCFGPass(llvm::SimplifyCFGOptions().hoistCommonInsts(true)));
  return fpm;
}

}  // namespace

void prepareModule(llvm::Module& m, llvm::TargetMachine& tm) {
  m.setDataLayout(tm.createDataLayout());
  m.setTargetTriple(tm.getTargetTriple().str());
  // Without these the vectorizer's cost model sees a generic x86 (SSE2 only).
  for (llvm::Function& f : m) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", tm.getTargetCPU());
    f.addFnAttr("target-features", tm.getTargetFeatureString());
    // No prefer-vector-width: the CPU's tuning picks the width (512 bits on Zen 4 and 5, 256 on
    // the Intel parts that slow down on 512). A 256-bit cap made DIEN's training step 8% and
    // its inference 30% slower on a Zen 5 (exp and division in the loops are compute, not only
    // memory traffic); compile time is 5-10% longer.
  }
}

void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm, int level) {
  prepareModule(m, tm);
  if (level <= 0) return;
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  if (level >= 3) {  // LLVM's own -O3 (slow to compile; for comparison)
    pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(m, mam);
    return;
  }
  llvm::ModulePassManager mpm;
  mpm.addPass(llvm::AlwaysInlinerPass());
  mpm.addPass(llvm::createModuleToFunctionPassAdaptor(loopPipeline(level)));
  mpm.run(m, mam);
}

std::string cacheKey(const llvm::Module& m, llvm::TargetMachine& tm, int optLevel) {
  llvm::BLAKE3 h;
  auto field = [&](llvm::StringRef s) {
    h.update(s);
    h.update(llvm::StringRef("\0", 1));
  };
  field(kPipelineVersion);
  field(LLVM_VERSION_STRING);
  field(tm.getTargetTriple().str());
  field(tm.getTargetCPU());
  field(tm.getTargetFeatureString());
  field(std::to_string(optLevel));
  field(std::to_string(static_cast<int>(tm.getOptLevel())));
  std::string text;
  llvm::raw_string_ostream os(text);
  m.print(os, nullptr);
  field(os.str());
  auto digest = h.final<16>();
  std::string hex;
  static const char* kHex = "0123456789abcdef";
  for (uint8_t b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

}  // namespace recc
