// Emits the whole graph as one LLVM function: void recc_entry(i64 B, ptr slots, ptr arena).
#pragma once
#include <memory>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "compiler/codegen/Compiler.h"
#include "compiler/codegen/Fusion.h"

namespace recc {

inline constexpr const char* kEntryName = "recc_entry";

/// Positions in the slots array: [inputs..., params..., m..., v..., opt, firstRow, shard,
/// fetches...] (firstRow: RunArgs::firstRow as an integer in a pointer slot).
struct SlotLayout {
  int inputs = 0, params = 0, fetches = 0;
  int input(int i) const { return i; }
  int param(int p) const { return inputs + p; }
  int m(int p) const { return inputs + params + p; }
  int v(int p) const { return inputs + 2 * params + p; }
  int opt() const { return inputs + 3 * params; }
  int firstRow() const { return opt() + 1; }
  int shard() const { return opt() + 2; }
  int fetch(int k) const { return opt() + 3 + k; }
  int total() const { return fetch(fetches); }
  static SlotLayout of(const Graph& g, size_t fetchCount) {
    return {static_cast<int>(g.inputs.size()), static_cast<int>(g.params.size()),
            static_cast<int>(fetchCount)};
  }
};

std::unique_ptr<llvm::Module> emitEntry(llvm::LLVMContext& ctx, const Graph& g,
                                        const FusionPlan& fusion, const BufferPlan& plan,
                                        const std::vector<ValueId>& fetches);

}  // namespace recc
