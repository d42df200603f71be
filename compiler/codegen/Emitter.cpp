// The graph -> LLVM IR emitter: loop nests over element generators, and kernel calls.
//
// Each materialized value is computed by one loop nest over its shape (innermost = last dim,
// contiguous) that stores gen(value, index). gen() of an operand either loads it from memory
// (materialized, with stride 0 along broadcast dims) or, when fused, computes it in place by
// recursing into its own operands: a fused chain becomes one loop with no intermediates.
//
// Every loop nest is its own function `loopN(B, args, lo, hi)` computing the part [lo, hi) of
// its outermost independent ("split") dimension; the runtime cuts the range over the threads
// (recc_rt_parallel_for). Its buffers arrive in `args`, so nests with the same structure (the
// time steps of an unrolled scan, the layers of an MLP) share one function: the module stays
// small and compiles in time linear in the number of distinct nests. The entry itself is data
// where it can be: each run of loops and products between other kernels is a constant table
// (ReccCall records) that one recc_rt_run_calls call walks.
#include "compiler/codegen/Emitter.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <map>
#include <variant>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/Lowering.h"
#include "compiler/codegen/ScalarOps.h"
#include "runtime/kernels/DropoutHash.h"

namespace recc {

namespace {

using Index = std::vector<llvm::Value*>;

class EntryEmitter {
 public:
  EntryEmitter(llvm::LLVMContext& ctx, const Graph& g, const FusionPlan& f, const BufferPlan& p,
               const std::vector<ValueId>& fetches)
      : ctx_(ctx), g_(g), f_(f), plan_(p), fetches_(fetches),
        slots_(SlotLayout::of(g, fetches.size())), b_(ctx) {}

  std::unique_ptr<llvm::Module> run() {
    auto module = std::make_unique<llvm::Module>("recc", ctx_);
    m_ = module.get();
    entryTy_ = llvm::FunctionType::get(b_.getVoidTy(), {i64(), ptr(), ptr()}, false);
    llvm::Function* entry = llvm::Function::Create(entryTy_, llvm::Function::ExternalLinkage, kEntryName, m_);
    // The slots, arena and caller buffers are distinct objects.
    for (unsigned a = 1; a < 3; ++a) entry->addParamAttr(a, llvm::Attribute::NoAlias);
    sigs_.resize(g_.nodes.size());
    group_.resize(g_.nodes.size());
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (isLoopNode(static_cast<ValueId>(i))) group_[static_cast<size_t>(f_.loopAt[i])].push_back(static_cast<ValueId>(i));
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (group_[i].size() > 1) sigs_[i] = describeGroup(group_[i]);
      else if (group_[i].size() == 1) sigs_[i] = describeLoop(static_cast<ValueId>(i));
    base_.assign(g_.nodes.size(), nullptr);
    scalar_.assign(g_.nodes.size(), nullptr);
    rowBase_.assign(g_.nodes.size(), nullptr);
    // The schedule is cut into segments of a few dozen nodes, each its own function called in
    // turn by the entry: the code generator's cost grows faster than linearly with the size of
    // a function, and a whole training step is thousands of calls.
    std::vector<llvm::Function*> segments = {startSegment()};
    int inSegment = 0;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!f_.emitted[i]) continue;
      const ValueId v = static_cast<ValueId>(i);
      if (loweringOf(node(v).op) != Lowering::KernelCall && !isLoopNode(v)) continue;  // no code
      if (node(v).op == OpKind::Gather && !f_.materialized[i]) continue;  // read in its consumer's loop
      if (inSegment == kSegmentNodes) {
        flushCalls();
        b_.CreateRetVoid();
        segments.push_back(startSegment());
        inSegment = 0;
      }
      if (!inRunList(v)) flushCalls();  // another kernel: the calls before it run first
      emitNode(v);
      ++inSegment;
    }
    flushCalls();
    for (size_t k = 0; k < fetches_.size(); ++k) emitFetch(static_cast<int>(k));
    b_.CreateRetVoid();
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", entry));
    for (llvm::Function* seg : segments) b_.CreateCall(seg, {entry->getArg(0), entry->getArg(1), entry->getArg(2)});
    b_.CreateRetVoid();
    return module;
  }

 private:
  static constexpr int kSegmentNodes = 32;

  llvm::Function* startSegment() {
    auto* seg = llvm::Function::Create(entryTy_, llvm::Function::InternalLinkage,
                                       "segment" + std::to_string(segmentCount_++), m_);
    seg->addFnAttr(llvm::Attribute::NoInline);
    for (unsigned a = 1; a < 3; ++a) seg->addParamAttr(a, llvm::Attribute::NoAlias);
    fn_ = seg;
    batch_ = seg->getArg(0);
    slotArg_ = seg->getArg(1);
    arena_ = seg->getArg(2);
    batch_->setName("B");
    slotArg_->setName("slots");
    arena_->setName("arena");
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", seg));
    return seg;
  }

 private:
  llvm::Type* i64() { return b_.getInt64Ty(); }
  llvm::Type* i32() { return b_.getInt32Ty(); }
  llvm::PointerType* ptr() { return b_.getPtrTy(); }
  llvm::Value* c64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  llvm::Value* cf(double v) { return llvm::ConstantFP::get(b_.getFloatTy(), v); }
  llvm::Type* elemTy(ValueId v) { return g_.at(v).dtype == DType::I32 ? i32() : b_.getFloatTy(); }
  const Node& node(ValueId v) const { return g_.at(v); }

  llvm::Value* dim(const Dim& d) {
    if (d.isBatch()) return batch_;
    if (!d.isStatic())
      throw DiagError({}, "codegen: dimension " + d.str() + " is not bound (bind vocabularies first)");
    return c64(d.n);
  }
  Index extents(const Shape& s) {
    Index e;
    for (const Dim& d : s) e.push_back(dim(d));
    return e;
  }
  llvm::Value* elements(const Shape& s) {
    llvm::Value* n = c64(1);
    for (const Dim& d : s) n = b_.CreateMul(n, dim(d), "", true, true);
    return n;
  }
  llvm::Value* slot(int i) {
    llvm::Value* p = b_.CreateConstInBoundsGEP1_64(ptr(), slotArg_, static_cast<uint64_t>(i));
    return b_.CreateLoad(ptr(), p);
  }

  /// A private constant global. Made through the module rather than with `new`: GCC's
  /// -Wmismatched-new-delete (Debug builds) misreads GlobalVariable's own operator new.
  llvm::GlobalVariable* constantGlobal(llvm::Constant* init, const std::string& name) {
    auto* gv = llvm::cast<llvm::GlobalVariable>(m_->getOrInsertGlobal(name, init->getType()));
    gv->setConstant(true);
    gv->setLinkage(llvm::GlobalValue::PrivateLinkage);
    gv->setInitializer(init);
    return gv;
  }

  /// An i64 field of the run's ReccOptimizer, or 0 without one (an inference run).
  llvm::Value* optimizerField(size_t offset, const char* name) {
    llvm::Value* opt = slot(slots_.opt());
    if (!noStep_)
      noStep_ = constantGlobal(b_.getInt64(0), "no_step");
    llvm::Value* zero = noStep_;
    llvm::Value* field = b_.CreateConstGEP1_64(b_.getInt8Ty(), opt, offset);
    llvm::Value* addr = b_.CreateSelect(b_.CreateICmpEQ(opt, llvm::ConstantPointerNull::get(ptr())), zero, field);
    return b_.CreateLoad(i64(), addr, name);
  }

  // splitmix64's finaliser in IR, bit for bit the mix64() of runtime/kernels/DropoutHash.h.
  llvm::Value* mix64(llvm::Value* z) {
    z = b_.CreateMul(b_.CreateXor(z, b_.CreateLShr(z, 30)), c64(static_cast<int64_t>(kMix1)));
    z = b_.CreateMul(b_.CreateXor(z, b_.CreateLShr(z, 27)), c64(static_cast<int64_t>(kMix2)));
    return b_.CreateXor(z, b_.CreateLShr(z, 31));
  }

  // MurmurHash3's finaliser in IR, bit for bit the mix32() of runtime/kernels/DropoutHash.h.
  llvm::Value* mix32(llvm::Value* z) {
    z = b_.CreateMul(b_.CreateXor(z, b_.CreateLShr(z, 16)), b_.getInt32(kMix32a));
    z = b_.CreateMul(b_.CreateXor(z, b_.CreateLShr(z, 13)), b_.getInt32(kMix32b));
    return b_.CreateXor(z, b_.CreateLShr(z, 16));
  }

  // x * keep / (1 - p) for the element at idx: keep = the top 24 bits of dropoutBits' 32-bit hash
  // of (key, i) >= ceil(p 2^24).
  llvm::Value* genDropout(ValueId v, const Index& idx) {
    const Node& n = node(v);
    const double p = n.attrs.f("p", 0.5);
    llvm::Value* x = read(n.inputs[0], idx);
    // The element's index in the whole batch: a shard's rows start at its first row's.
    llvm::Value* i = b_.CreateAdd(linear(view(v), idx), rowBase_[static_cast<size_t>(v)]);
    llvm::Value* key = scalar_[static_cast<size_t>(v)];
    llvm::Value* key32 = b_.CreateTrunc(b_.CreateXor(key, b_.CreateLShr(key, 32)), b_.getInt32Ty());
    llvm::Value* lo = b_.CreateMul(b_.CreateTrunc(i, b_.getInt32Ty()), b_.getInt32(kDropoutLowMul));
    llvm::Value* hi = b_.CreateMul(b_.CreateTrunc(b_.CreateLShr(i, 32), b_.getInt32Ty()), b_.getInt32(kDropoutHighMul));
    llvm::Value* h = mix32(b_.CreateXor(b_.CreateXor(lo, hi), key32));
    llvm::Value* bits = b_.CreateLShr(h, 32 - kDropoutBits);
    llvm::Value* keep = b_.CreateICmpUGE(bits, b_.getInt32(static_cast<uint32_t>(dropoutThreshold(p))));
    return b_.CreateSelect(keep, b_.CreateFMul(x, cf(dropoutScale(p))), cf(0));
  }

  // Elements per batch row of v (B leads when present; 0 for a value without B: its elements
  // are the same in every shard of a batch).
  int64_t rowElements(ValueId v) const {
    const Shape& s = node(v).shape;
    if (s.empty() || !s[0].isBatch()) return 0;
    int64_t n = 1;
    for (size_t d = 1; d < s.size(); ++d) n *= s[d].n;
    return n;
  }

  // Row-major linear index by Horner's rule over the value's own extents.
  llvm::Value* linear(const Shape& s, const Index& idx) {
    llvm::Value* lin = c64(0);
    for (size_t d = 0; d < s.size(); ++d)
      lin = b_.CreateAdd(b_.CreateMul(lin, dim(s[d]), "", true, true), idx[d], "", true, true);
    return lin;
  }
  llvm::Value* address(ValueId v, const Index& idx) {
    llvm::Value* lin = nullptr;
    if (const ParamDecl* d = records(v))  // read by lookups only: idx is (row, column)
      lin = b_.CreateAdd(b_.CreateMul(idx[0], c64(rowStride(*d)), "", true, true), idx[1], "", true, true);
    else
      lin = linear(view(v), idx);
    return b_.CreateInBoundsGEP(elemTy(v), base_[static_cast<size_t>(v)], lin);
  }
  /// v's parameter declaration if v is a table stored as row records (ParamDecl::rowRecords).
  const ParamDecl* records(ValueId v) const {
    const Node& n = node(v);
    if (n.op != OpKind::Param) return nullptr;
    const ParamDecl& d = g_.params[static_cast<size_t>(n.attrs.i("index"))];
    return d.rowRecords ? &d : nullptr;
  }
  int64_t tableStride(ValueId table) const {
    const ParamDecl* d = records(table);
    return d ? rowStride(*d) : node(table).shape[1].n;
  }
  llvm::Value* load(ValueId v, const Index& idx) { return b_.CreateLoad(elemTy(v), address(v, idx)); }
  void store(ValueId v, const Index& idx, llvm::Value* x) { b_.CreateStore(x, address(v, idx)); }

  // Index into an operand of shape `s` broadcast (right-aligned) to a loop over `out`:
  // size-1 dims that are broadcast read element 0 (stride 0).
  Index broadcastIndex(const Shape& s, const Shape& out, const Index& idx) {
    Index r;
    const size_t lead = out.size() - s.size();
    for (size_t d = 0; d < s.size(); ++d) {
      bool stretched = s[d].isStatic() && s[d].n == 1 && !(out[d + lead].isStatic() && out[d + lead].n == 1);
      r.push_back(stretched ? c64(0) : idx[d + lead]);
    }
    return r;
  }

  // The element of v at idx: loaded if v has storage, else computed here (fusion).
  llvm::Value* read(ValueId v, const Index& idx) {
    return f_.materialized[static_cast<size_t>(v)] ? load(v, idx) : gen(v, idx);
  }
  llvm::Value* gen(ValueId v, const Index& idx) {
    const Node& n = node(v);
    switch (n.op) {
      case OpKind::Const: return cf(n.attrs.f("value"));
      case OpKind::BatchSize: return b_.CreateSIToFP(batch_, b_.getFloatTy());
      case OpKind::BroadcastTo:
        return read(n.inputs[0], broadcastIndex(view(n.inputs[0]), view(v), idx));
      case OpKind::Slice: {
        Index in = idx;
        auto ax = static_cast<size_t>(n.attrs.i("axis"));
        in[ax] = b_.CreateAdd(in[ax], scalar_[static_cast<size_t>(v)], "", true, true);
        return read(n.inputs[0], in);
      }
      case OpKind::Transpose: {  // out[i_0, ..] = x[j] with j[perm[d]] = i_d
        const Shape& perm = n.attrs.shape("perm");
        Index in(idx.size());
        for (size_t d = 0; d < idx.size(); ++d) in[static_cast<size_t>(perm[d].n)] = idx[d];
        return read(n.inputs[0], in);
      }
      case OpKind::OneHot: {
        Index row(idx.begin(), idx.end() - 1);
        llvm::Value* id = b_.CreateSExt(read(n.inputs[0], row), i64());
        return b_.CreateSelect(b_.CreateICmpEQ(id, idx.back()), cf(1), cf(0));
      }
      case OpKind::Gather: {  // out[i..., j] = table[ids[i...], j]
        Index row(idx.begin(), idx.end() - 1);
        llvm::Value* id = b_.CreateSExt(read(n.inputs[1], row), i64());
        return read(n.inputs[0], {id, idx.back()});
      }
      case OpKind::Dropout: return genDropout(v, idx);
      case OpKind::Concat: {
        auto ax = static_cast<size_t>(n.attrs.i("axis"));
        int64_t offset = 0;
        // In a segment of the innermost loop that lies in one operand: that operand, directly.
        if (inner_.index && idx[ax] == inner_.index) {
          for (ValueId in : n.inputs) {
            const int64_t len = node(in).shape[ax].n;
            if (inner_.begin >= offset && inner_.end <= offset + len) {
              Index local = idx;
              local[ax] = b_.CreateSub(idx[ax], c64(offset), "", true, true);
              return read(in, local);
            }
            offset += len;
          }
          offset = 0;
        }
        // Each operand is read at its own index clamped into its range (always a valid
        // address); the one whose range holds the element is selected.
        llvm::Value* result = nullptr;
        for (ValueId in : n.inputs) {
          const int64_t len = node(in).shape[ax].n;
          if (len == 0) continue;
          Index local = idx;
          llvm::Value* at = b_.CreateSub(idx[ax], c64(offset));
          llvm::Value* clamped = b_.CreateSelect(b_.CreateICmpSLT(at, c64(0)), c64(0), at);
          clamped = b_.CreateSelect(b_.CreateICmpSGT(clamped, c64(len - 1)), c64(len - 1), clamped);
          local[ax] = clamped;
          llvm::Value* x = read(in, local);
          result = result ? b_.CreateSelect(b_.CreateICmpSGE(idx[ax], c64(offset)), x, result) : x;
          offset += len;
        }
        return result;
      }
      default: break;
    }
    if (opInfo(n.op).cls != OpClass::Elementwise)
      throw DiagError(n.loc, std::string("codegen: ") + opName(n.op) + " cannot be computed per element");
    llvm::Value* x = read(n.inputs[0], broadcastIndex(view(n.inputs[0]), view(v), idx));
    llvm::Value* y = n.inputs.size() > 1
                         ? read(n.inputs[1], broadcastIndex(view(n.inputs[1]), view(v), idx))
                         : nullptr;
    return emitScalarOp(b_, n.op, n.attrs, x, y);
  }

  // for i0 < e0: for i1 < e1: ... body(i0, i1, ...); the outermost header is named "nest".
  // Level `split` runs over [lo, hi) of the current loop function instead of [0, e).
  void loopNest(const Index& ext, const std::function<void(const Index&)>& body, int split = -1) {
    Index idx;
    loopLevel(ext, idx, body, split);
  }
  void loopLevel(const Index& ext, Index& idx, const std::function<void(const Index&)>& body, int split) {
    if (idx.size() == ext.size()) {
      body(idx);
      return;
    }
    const bool isSplit = static_cast<int>(idx.size()) == split;
    if (idx.size() + 1 == ext.size() && !isSplit && !innerCuts_.empty()) {
      // One loop per segment between the concat cuts, each knowing its range (see concatCuts).
      std::vector<int64_t> bounds = {0};
      bounds.insert(bounds.end(), innerCuts_.begin(), innerCuts_.end());
      const auto* total = llvm::cast<llvm::ConstantInt>(ext.back());
      bounds.push_back(total->getSExtValue());
      for (size_t s = 0; s + 1 < bounds.size(); ++s)
        loopRange(c64(bounds[s]), c64(bounds[s + 1]), idx.size(), [&](llvm::Value* i) {
          inner_ = {i, bounds[s], bounds[s + 1]};
          idx.push_back(i);
          body(idx);
          idx.pop_back();
          inner_ = {};
        });
      return;
    }
    loopRange(isSplit ? lo_ : c64(0), isSplit ? hi_ : ext[idx.size()], idx.size(), [&](llvm::Value* i) {
      idx.push_back(i);
      loopLevel(ext, idx, body, split);
      idx.pop_back();
    });
  }
  // for i in [begin, end): body(i), at depth `level` of a nest (the outermost header is "nest").
  void loopRange(llvm::Value* begin, llvm::Value* end, size_t level, const std::function<void(llvm::Value*)>& body) {
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(ctx_, level == 0 ? "nest" : "loop", fn_);
    auto* bodyBB = llvm::BasicBlock::Create(ctx_, "body", fn_);
    auto* exit = llvm::BasicBlock::Create(ctx_, "done", fn_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode* i = b_.CreatePHI(i64(), 2, "i" + std::to_string(level));
    i->addIncoming(begin, pre);
    b_.CreateCondBr(b_.CreateICmpSLT(i, end), bodyBB, exit);
    b_.SetInsertPoint(bodyBB);
    body(i);
    i->addIncoming(b_.CreateAdd(i, c64(1), "", true, true), b_.GetInsertBlock());
    b_.CreateBr(header);
    b_.SetInsertPoint(exit);
  }

  // acc = init; for i < len: acc = step(i, acc); returns the final acc (a register, not memory).
  llvm::Value* accumulate(llvm::Value* len, llvm::Value* init,
                          const std::function<llvm::Value*(llvm::Value*, llvm::Value*)>& step) {
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(ctx_, "red", fn_);
    auto* bodyBB = llvm::BasicBlock::Create(ctx_, "redbody", fn_);
    auto* exit = llvm::BasicBlock::Create(ctx_, "reddone", fn_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode* i = b_.CreatePHI(i64(), 2, "r");
    llvm::PHINode* acc = b_.CreatePHI(init->getType(), 2, "acc");
    i->addIncoming(c64(0), pre);
    acc->addIncoming(init, pre);
    b_.CreateCondBr(b_.CreateICmpSLT(i, len), bodyBB, exit);
    b_.SetInsertPoint(bodyBB);
    llvm::Value* next = step(i, acc);
    i->addIncoming(b_.CreateAdd(i, c64(1), "", true, true), b_.GetInsertBlock());
    acc->addIncoming(next, b_.GetInsertBlock());
    b_.CreateBr(header);
    b_.SetInsertPoint(exit);
    return acc;
  }

  void emitNode(ValueId v) {
    const Node& n = node(v);
    switch (n.op) {
      case OpKind::Input:
      case OpKind::Param:
      case OpKind::Reshape:  // aliases its operand's buffer
        return;
      case OpKind::MatMul: return emitMatMul(v);
      case OpKind::BatchMatMul: return emitBatchMatMul(v);
      case OpKind::Softmax:
      case OpKind::LogSoftmax: return emitSoftmax(v);
      case OpKind::LayerNorm: return emitNorm(v);
      case OpKind::BatchMoments: return emitMoments(v);
      case OpKind::ShardSum: return emitShardSum(v);
      case OpKind::CrossEntropy: return emitCrossEntropy(v);
      case OpKind::PositionalEncoding: return emitPositionalEncoding(v);
      case OpKind::Conv1d:
      case OpKind::Unfold1d:
      case OpKind::Fold1d: return emitConv(v);
      case OpKind::Gather: return emitGather(v);
      case OpKind::ScatterAdd: return emitScatterAdd(v);
      case OpKind::Update: return emitUpdate(v);
      case OpKind::SparseUpdate: return emitSparseUpdate(v);
      default: break;
    }
    // Else computed inside its consumer's loop, or by its group's loop (Fusion.h, loopAt).
    if (isLoopNode(v) && f_.loopAt[static_cast<size_t>(v)] == v) emitLoopCall(v);
  }

  // ---- loop functions ----

  bool isLoopNode(ValueId v) const { return recc::isLoopNode(g_, f_, static_cast<size_t>(v)); }

  /// What a loop function computes, with buffers numbered in the order the loop reads them:
  /// two nodes with the same key get the same code (their own buffers through `args`).
  struct LoopSig {
    std::vector<ValueId> leaves;  // the result's buffer first, then every materialized value read
    std::vector<ValueId> keys;    // nodes whose scalar (dropout key, slice start) follows the buffers in args
    std::vector<ValueId> bases;   // dropouts, whose index of the run's first element follows the keys
    std::string key;
    double weight = 1;            // estimated cost of one iteration point
  };
  static std::string attrKey(const Attrs& a) {
    std::string k = "{";
    for (auto& [name, value] : a.m) {
      k += name + "=";
      if (auto* i = std::get_if<int64_t>(&value)) k += std::to_string(*i);
      else if (auto* s = std::get_if<std::string>(&value)) k += *s;
      else if (auto* sh = std::get_if<Shape>(&value)) k += shapeStr(*sh);
      else {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%a", std::get<double>(value));
        k += buf;
      }
      k += ";";
    }
    return k + "}";
  }
  static double opWeight(OpKind op) {
    switch (op) {
      case OpKind::Exp: case OpKind::Log: case OpKind::Sigmoid: case OpKind::Tanh: case OpKind::Sqrt:
      case OpKind::Div: case OpKind::BceWithLogits: case OpKind::Dropout: return 8;
      default: return 1;
    }
  }
  std::string typeShape(ValueId v) const {
    return std::string(node(v).dtype == DType::I32 ? "i" : "f") + shapeStr(node(v).shape);
  }
  void describeOperand(LoopSig& s, ValueId v) {
    if (f_.materialized[static_cast<size_t>(v)]) {
      size_t k = std::find(s.leaves.begin(), s.leaves.end(), v) - s.leaves.begin();
      if (k == s.leaves.size()) s.leaves.push_back(v);
      s.key += "L" + std::to_string(k) + typeShape(v);
      return;
    }
    describeNode(s, v);
  }
  void describeNode(LoopSig& s, ValueId v) {
    const Node& n = node(v);
    Attrs attrs = n.attrs;
    if (n.op == OpKind::Slice) {  // the start is an argument; the shape gives the length
      attrs.m.erase("begin");
      attrs.m.erase("end");
    }
    s.key += opName(n.op) + attrKey(attrs) + typeShape(v);
    s.weight += opWeight(n.op);
    if (n.op == OpKind::Dropout || n.op == OpKind::Slice) {
      s.keys.push_back(v);
      s.key += "K" + std::to_string(s.keys.size() - 1);
    }
    if (n.op == OpKind::Dropout) s.bases.push_back(v);
    s.key += "(";
    for (ValueId in : n.inputs) {
      describeOperand(s, in);
      s.key += ",";
    }
    s.key += ")";
  }
  LoopSig describeLoop(ValueId v) {
    LoopSig s;
    s.leaves.push_back(v);
    describeNode(s, v);
    return s;
  }
  /// A loop with several results (members in schedule order): their buffers first.
  LoopSig describeGroup(const std::vector<ValueId>& members) {
    LoopSig s;
    s.leaves = members;
    s.key = "group" + std::to_string(members.size());
    s.weight = 0;
    for (ValueId m : members) {
      s.key += "|";
      describeNode(s, m);
    }
    return s;
  }

  /// The iteration space of a loop node and its split dimension (-1: run as one piece); for a
  /// reduction accumulated in memory, also the result's dimension that matches the split.
  struct Split {
    Shape space;
    int dim = -1, outDim = -1;
    bool registerReduction = false;
  };
  Split splitOf(ValueId v) const {
    const Node& n = node(v);
    Split sp;
    if (const auto& members = group_[static_cast<size_t>(v)]; members.size() > 1) return groupSplit(members);
    sp.space = n.shape;
    if (n.op == OpKind::Concat) {
      auto ax = static_cast<int>(n.attrs.i("axis"));
      sp.dim = ax != 0 ? 0 : (n.shape.size() > 1 ? 1 : -1);
      return sp;
    }
    if (n.op == OpKind::Sum || n.op == OpKind::Mean || n.op == OpKind::Max || n.op == OpKind::SumTo) {
      const Shape& xs = node(n.inputs[0]).shape;
      const size_t rank = xs.size();
      std::vector<bool> reduced(rank, false);
      std::vector<int> outOf(rank, -1);
      if (n.op == OpKind::SumTo) {
        const size_t lead = rank - n.shape.size();
        for (size_t d = 0; d < rank; ++d) {
          if (d < lead) { reduced[d] = true; continue; }
          const Dim& o = n.shape[d - lead];
          reduced[d] = o.isStatic() && o.n == 1 && !(xs[d].isStatic() && xs[d].n == 1);
          outOf[d] = static_cast<int>(d - lead);
        }
      } else {
        auto ax = static_cast<size_t>(n.attrs.i("axis"));
        const bool keep = n.attrs.i("keepdims") != 0;
        for (size_t d = 0; d < rank; ++d) outOf[d] = d < ax || keep ? static_cast<int>(d) : static_cast<int>(d) - 1;
        reduced[ax] = true;
        if (ax + 1 == rank) {  // over the contiguous last axis: one register accumulator per result
          sp.registerReduction = true;
          sp.space = Shape(xs.begin(), xs.end() - 1);
          sp.dim = sp.space.empty() ? -1 : 0;
          return sp;
        }
      }
      sp.space = xs;
      for (size_t d = 0; d < rank; ++d)
        if (!reduced[d]) {
          sp.dim = static_cast<int>(d);
          sp.outDim = outOf[d];
          break;
        }
      return sp;
    }
    sp.dim = n.shape.empty() ? -1 : 0;
    return sp;
  }

  Split groupSplit(const std::vector<ValueId>& members) const {
    Split sp;
    sp.space = groupSpace(g_, members, &sp.dim);
    return sp;
  }

  /// A buffer as one descriptor word: its arena offset (>= 0), or -1 - k for caller slot k.
  int64_t bufferWord(ValueId v) const {
    const ValueId root = f_.storageRoot[static_cast<size_t>(v)];
    const Node& n = node(root);
    if (n.op == OpKind::Input) return -1 - slots_.input(static_cast<int>(n.attrs.i("index")));
    if (n.op == OpKind::Param) return -1 - slots_.param(static_cast<int>(n.attrs.i("index")));
    if (const int k = f_.fetchSlot[static_cast<size_t>(root)]; k >= 0) return -1 - slots_.fetch(k);
    return plan_.offset[static_cast<size_t>(root)];
  }

  /// c * B^batchPower: a loop's or product's size (dimensions are static or the batch).
  struct BatchMonomial {
    int64_t c = 1, batchPower = 0;
    void times(const Dim& d) {
      if (d.isBatch()) ++batchPower;
      else c *= d.n;
    }
  };
  BatchMonomial elementsOf(const Shape& s) {
    BatchMonomial m;
    for (const Dim& d : s) {
      dim(d);  // rejects an unbound dimension
      m.times(d);
    }
    return m;
  }

  // Loops and products are records of the segment's current run list (ReccCall), emitted as one
  // recc_rt_run_calls call before the next other kernel. A loop's buffers and scalars are a
  // constant descriptor (one word per buffer, then one per scalar: a slice's start, a dropout's
  // seed) that the loop function decodes against the run's slots and arena.
  bool inRunList(ValueId v) const { return isLoopNode(v) || node(v).op == OpKind::MatMul; }
  void queueCall(llvm::Constant* fn, llvm::Constant* desc, const std::vector<BatchMonomial>& sizes) {
    auto word = [&](int64_t x) { return b_.getInt64(static_cast<uint64_t>(x)); };
    std::vector<llvm::Constant*> c(3, word(0)), p(3, word(0));
    for (size_t i = 0; i < sizes.size(); ++i) {
      c[i] = word(sizes[i].c);
      p[i] = word(sizes[i].batchPower);
    }
    auto* words = llvm::ArrayType::get(i64(), 3);
    pendingCalls_.push_back(llvm::ConstantStruct::get(
        callTy(), {fn, desc, llvm::ConstantArray::get(words, c), llvm::ConstantArray::get(words, p)}));
  }
  /// ReccCall (runtime/kernels/Kernels.h).
  llvm::StructType* callTy() {
    auto* words = llvm::ArrayType::get(i64(), 3);
    return llvm::StructType::get(ctx_, {ptr(), ptr(), words, words});
  }
  void flushCalls() {
    if (pendingCalls_.empty()) return;
    auto* table = llvm::ConstantArray::get(llvm::ArrayType::get(callTy(), pendingCalls_.size()), pendingCalls_);
    llvm::GlobalVariable* calls = constantGlobal(table, "calls" + std::to_string(callTables_++));
    auto callee = kernel("recc_rt_run_calls", {ptr(), i64(), i64(), ptr(), ptr()});
    b_.CreateCall(callee, {calls, c64(static_cast<int64_t>(pendingCalls_.size())), batch_, slotArg_, arena_});
    pendingCalls_.clear();
  }

  void emitLoopCall(ValueId v) {
    const LoopSig& s = sigs_[static_cast<size_t>(v)];
    llvm::Function* fn = loopFunction(v, s);
    std::vector<uint64_t> words;
    for (ValueId leaf : s.leaves) words.push_back(static_cast<uint64_t>(bufferWord(leaf)));
    for (ValueId k : s.keys)
      words.push_back(static_cast<uint64_t>(node(k).op == OpKind::Slice ? node(k).attrs.i("begin") : node(k).attrs.i("seed", 0)));
    for (ValueId d : s.bases) words.push_back(static_cast<uint64_t>(rowElements(d)));
    auto* init = llvm::ConstantDataArray::get(ctx_, words);
    llvm::GlobalVariable* desc = constantGlobal(init, "desc" + std::to_string(v));
    Split sp = splitOf(v);
    BatchMonomial extent, work;  // one piece without a split dimension: extent 1, too small to share
    work.c = 0;
    if (sp.dim >= 0) {
      extent = elementsOf({sp.space[static_cast<size_t>(sp.dim)]});
      work = elementsOf(sp.space);
      if (sp.registerReduction) work.times(node(node(v).inputs[0]).shape.back());
      work.c *= static_cast<int64_t>(s.weight);
    }
    queueCall(fn, desc, {extent, work});
  }

  /// The function computing v's loop (shared by every node with v's structure): a wrapper with
  /// the ReccLoopFn signature that decodes the descriptor into the noalias parameters of the body.
  llvm::Function* loopFunction(ValueId v, const LoopSig& s) {
    auto found = loopFns_.find(s.key);
    if (found != loopFns_.end()) return found->second;
    const size_t members = group_[static_cast<size_t>(v)].size();
    const std::string name = "loop" + std::to_string(loopFns_.size()) + "_" + opName(node(v).op) +
                             (members > 1 ? "_group" + std::to_string(members) : "");
    auto* wrapTy = llvm::FunctionType::get(b_.getVoidTy(), {i64(), ptr(), ptr(), ptr(), i64(), i64()}, false);
    auto* wrap = llvm::Function::Create(wrapTy, llvm::Function::InternalLinkage, name, m_);
    std::vector<llvm::Type*> params = {i64(), i64(), i64()};
    params.insert(params.end(), s.leaves.size(), ptr());
    params.insert(params.end(), s.keys.size() + s.bases.size(), i64());
    auto* body = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                        llvm::Function::InternalLinkage, name + ".body", m_);
    body->addFnAttr(llvm::Attribute::AlwaysInline);
    body->addFnAttr(llvm::Attribute::NoUnwind);
    wrap->addFnAttr(llvm::Attribute::NoUnwind);
    // Within one loop only the result is written, and it never shares memory with an operand.
    for (size_t k = 0; k < s.leaves.size(); ++k) body->addParamAttr(static_cast<unsigned>(3 + k), llvm::Attribute::NoAlias);
    loopFns_[s.key] = wrap;

    llvm::IRBuilderBase::InsertPointGuard guard(b_);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", wrap));
    llvm::Value* slots = wrap->getArg(1);
    llvm::Value* arena = wrap->getArg(2);
    llvm::Value* descArg = wrap->getArg(3);
    std::vector<llvm::Value*> callArgs = {wrap->getArg(0), wrap->getArg(4), wrap->getArg(5)};
    auto word = [&](size_t k) { return b_.CreateLoad(i64(), b_.CreateConstInBoundsGEP1_64(i64(), descArg, k)); };
    for (size_t k = 0; k < s.leaves.size(); ++k) {
      llvm::Value* w = word(k);
      llvm::Value* inSlot = b_.CreateICmpSLT(w, c64(0));
      llvm::Value* slotIndex = b_.CreateSelect(inSlot, b_.CreateSub(c64(-1), w), c64(0));
      llvm::Value* fromSlot = b_.CreateLoad(ptr(), b_.CreateInBoundsGEP(ptr(), slots, slotIndex));
      llvm::Value* fromArena = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena, b_.CreateSelect(inSlot, c64(0), w));
      callArgs.push_back(b_.CreateSelect(inSlot, fromSlot, fromArena));
    }
    llvm::Value* runKey = nullptr;  // mix64(run seed) ^ step * kDropoutStepMul: dropoutKey's
    for (size_t k = 0; k < s.keys.size(); ++k) {
      llvm::Value* w = word(s.leaves.size() + k);
      if (node(s.keys[k]).op == OpKind::Dropout) {  // the key of (node seed, run seed, step)
        if (!runKey) {
          std::swap(slotArg_, slots);
          llvm::Value* step = optimizerField(offsetof(ReccOptimizer, step), "step");
          llvm::Value* seed = optimizerField(offsetof(ReccOptimizer, seed), "seed");
          runKey = b_.CreateXor(mix64(seed), b_.CreateMul(step, c64(static_cast<int64_t>(kDropoutStepMul))));
          std::swap(slotArg_, slots);
        }
        w = mix64(b_.CreateXor(w, runKey));
      }
      callArgs.push_back(w);
    }
    if (!s.bases.empty()) {
      llvm::Value* firstRow = b_.CreatePtrToInt(b_.CreateLoad(ptr(), b_.CreateConstInBoundsGEP1_64(ptr(), slots, static_cast<uint64_t>(slots_.firstRow()))), i64());
      for (size_t k = 0; k < s.bases.size(); ++k)
        callArgs.push_back(b_.CreateMul(firstRow, word(s.leaves.size() + s.keys.size() + k)));
    }
    b_.CreateCall(body, callArgs);
    b_.CreateRetVoid();

    // The body sees its own B, range and buffers; the entry's are restored afterwards.
    std::vector<llvm::Value*> base(g_.nodes.size(), nullptr), keys(g_.nodes.size(), nullptr),
        rowBases(g_.nodes.size(), nullptr);
    for (size_t k = 0; k < s.leaves.size(); ++k) base[static_cast<size_t>(s.leaves[k])] = body->getArg(static_cast<unsigned>(3 + k));
    for (size_t k = 0; k < s.keys.size(); ++k)
      keys[static_cast<size_t>(s.keys[k])] = body->getArg(static_cast<unsigned>(3 + s.leaves.size() + k));
    for (size_t k = 0; k < s.bases.size(); ++k)
      rowBases[static_cast<size_t>(s.bases[k])] =
          body->getArg(static_cast<unsigned>(3 + s.leaves.size() + s.keys.size() + k));
    std::swap(base_, base);
    std::swap(scalar_, keys);
    std::swap(rowBase_, rowBases);
    llvm::Function* entryFn = fn_;
    llvm::Value* entryBatch = batch_;
    fn_ = body;
    batch_ = body->getArg(0);
    lo_ = body->getArg(1);
    hi_ = body->getArg(2);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", body));
    emitLoopBody(v);
    b_.CreateRetVoid();
    std::swap(base_, base);
    std::swap(scalar_, keys);
    std::swap(rowBase_, rowBases);
    fn_ = entryFn;
    batch_ = entryBatch;
    lo_ = hi_ = nullptr;
    return wrap;
  }

  void emitLoopBody(ValueId v) {
    const Node& n = node(v);
    if (group_[static_cast<size_t>(v)].size() > 1) return emitGroup(group_[static_cast<size_t>(v)]);
    switch (n.op) {
      case OpKind::Concat: return emitConcat(v);
      case OpKind::Sum:
      case OpKind::Mean:
      case OpKind::Max:
      case OpKind::SumTo: return emitReduce(v);
      default: break;
    }
    Split sp = splitOf(v);
    // Trailing dimensions that every operand covers contiguously merge into one: one long,
    // vectorisable inner loop instead of a nest (the split dimension 0 stays).
    collapseRank_ = n.shape.size();
    collapseFrom_ = collapsibleFrom(v);
    if (sp.dim + 1 < static_cast<int>(n.shape.size())) innerCuts_ = concatCuts(v);
    loopNest(extents(view(v)), [&](const Index& idx) { store(v, idx, gen(v, idx)); }, sp.dim);
    collapseFrom_ = -1;
    innerCuts_.clear();
  }

  /// Where the operands of the fused concats along v's (static) last axis meet, strictly inside
  /// it, sorted: the innermost loop then runs one segment per operand range, in which each such
  /// concat reads one operand directly. (Left as one loop, every element would read all the
  /// operands at clamped indices and select: gathers, not vector loads; a GRU's gate gradient,
  /// three padded slices added up, is such a loop.)
  std::vector<int64_t> concatCuts(ValueId v) const {
    const Shape& out = node(v).shape;
    std::vector<int64_t> cuts;
    if (out.empty() || !out.back().isStatic()) return cuts;
    std::vector<ValueId> stack = {v};
    while (!stack.empty()) {
      const Node& u = node(stack.back());
      stack.pop_back();
      if (u.op == OpKind::Concat && static_cast<size_t>(u.attrs.i("axis")) + 1 == u.shape.size() &&
          u.shape.back() == out.back()) {
        int64_t offset = 0;
        for (ValueId in : u.inputs) {
          offset += node(in).shape.back().n;
          if (offset < out.back().n) cuts.push_back(offset);
        }
      }
      for (ValueId in : u.inputs)
        if (!f_.materialized[static_cast<size_t>(in)]) stack.push_back(in);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    if (!cuts.empty() && cuts.front() == 0) cuts.erase(cuts.begin());
    // Each segment is a copy of the loop body (the selecting reads cost one read per operand
    // per element instead): past 64 segments, the code would grow more than it gains.
    constexpr size_t kMaxCuts = 63;
    if (cuts.size() > kMaxCuts) cuts.clear();
    return cuts;
  }

  /// The smallest k >= 1 such that dimensions [k, rank) of v's loop can be merged: every node of
  /// the fused tree has v's shape, and every operand read (buffer) covers those dimensions
  /// without broadcasting, all static. -1 when nothing merges (index remaps, rank < 3).
  int collapsibleFrom(ValueId v) const {
    const Shape& out = node(v).shape;
    const auto r = static_cast<int>(out.size());
    int k = 1;
    bool ok = r >= 3;
    std::vector<ValueId> stack = {v};
    while (ok && !stack.empty()) {
      const Node& u = node(stack.back());
      stack.pop_back();
      if (u.op == OpKind::Transpose || u.op == OpKind::Slice || u.op == OpKind::Concat || u.op == OpKind::OneHot ||
          u.op == OpKind::Gather ||
          u.shape != out) {
        ok = false;
        break;
      }
      for (ValueId in : u.inputs) {
        const Node& x = node(in);
        const bool leaf = f_.materialized[static_cast<size_t>(in)];
        if (!leaf && (x.op == OpKind::Const || x.op == OpKind::BatchSize)) continue;  // scalars
        if (!leaf) {
          stack.push_back(in);
          continue;
        }
        // Either the operand covers the merged dimensions as they are, or it is broadcast
        // along all of them (size 1 or absent): both read correctly through view().
        const int lead = r - static_cast<int>(x.shape.size());
        auto dimOf = [&](int d) { return x.shape[static_cast<size_t>(d - lead)]; };
        int full = r - 1;
        while (full >= 1 && full >= lead && out[static_cast<size_t>(full)].isStatic() && dimOf(full) == out[static_cast<size_t>(full)])
          --full;
        int ones = r - 1;
        while (ones >= 1 && (ones < lead || (dimOf(ones).isStatic() && dimOf(ones).n == 1))) --ones;
        k = std::max(k, std::min(full, ones) + 1);
      }
    }
    return ok && k < r - 1 ? k : -1;
  }

  /// The shape v is indexed with inside the current loop: its own, or with the merged trailing
  /// dimensions of collapsibleFrom() as one (right-aligned with the loop's rank).
  Shape view(ValueId v) const {
    const Shape& s = node(v).shape;
    if (collapseFrom_ < 0) return s;
    const int lead = static_cast<int>(collapseRank_) - static_cast<int>(s.size());
    const int from = collapseFrom_ - lead;
    if (from < 0 || from >= static_cast<int>(s.size())) return s;  // a scalar-like operand
    Shape merged(s.begin(), s.begin() + from);
    int64_t n = 1;
    for (size_t d = static_cast<size_t>(from); d < s.size(); ++d) n *= s[d].n;
    merged.push_back(Dim(n));
    return merged;
  }

  void emitConcat(ValueId v) {
    const Node& n = node(v);
    auto ax = static_cast<size_t>(n.attrs.i("axis"));
    const int split = splitOf(v).dim;
    int64_t offset = 0;
    for (ValueId in : n.inputs) {
      loopNest(extents(node(in).shape), [&](const Index& idx) {
        Index out = idx;
        out[ax] = b_.CreateAdd(idx[ax], c64(offset), "", true, true);
        store(v, out, read(in, idx));
      }, split);
      offset += node(in).shape[ax].n;
    }
  }

  // Over the last axis: per result element a register accumulator (sums reassociate, so the
  // loop vectorises). Otherwise out = 0, then for every element x of the operand: out[reduced
  // index] += x (* 1/count for Mean), in the operand's order (vectorised along its last axis).
  // Max: out = -inf; out = out < x ? x : out (std::max, so a NaN never replaces a number).
  void emitReduce(ValueId v) {
    const Node& n = node(v);
    ValueId in = n.inputs[0];
    const Shape& xs = node(in).shape;
    const bool isMax = n.op == OpKind::Max;
    const Split sp = splitOf(v);
    llvm::Value* scale = nullptr;
    if (n.op == OpKind::Mean) {
      llvm::Value* count = b_.CreateSIToFP(dim(xs[static_cast<size_t>(n.attrs.i("axis"))]), b_.getFloatTy());
      scale = b_.CreateFDiv(cf(1), count);
    }
    if (sp.registerReduction) {
      const bool keep = n.attrs.i("keepdims") != 0;
      loopNest(extents(sp.space), [&](const Index& outer) {
        llvm::Value* acc = accumulate(dim(xs.back()), cf(isMax ? -INFINITY : 0.0), [&](llvm::Value* r, llvm::Value* a) {
          Index idx = outer;
          idx.push_back(r);
          llvm::Value* x = read(in, idx);
          if (isMax) return b_.CreateSelect(b_.CreateFCmpOLT(a, x), x, a);
          llvm::IRBuilderBase::FastMathFlagGuard fmg(b_);
          llvm::FastMathFlags fm;
          fm.setAllowReassoc();
          b_.setFastMathFlags(fm);
          return b_.CreateFAdd(a, x);
        });
        if (scale) acc = b_.CreateFMul(acc, scale);
        Index out = outer;
        if (keep) out.push_back(c64(0));
        store(v, out, acc);
      }, sp.dim);
      return;
    }
    loopNest(extents(n.shape), [&](const Index& idx) { store(v, idx, cf(isMax ? -INFINITY : 0.0)); }, sp.outDim);
    loopNest(extents(xs), [&](const Index& idx) {
      Index out;
      if (n.op == OpKind::SumTo) {
        out = broadcastIndex(n.shape, xs, idx);
      } else {
        auto ax = static_cast<size_t>(n.attrs.i("axis"));
        for (size_t d = 0; d < idx.size(); ++d)
          if (d != ax) out.push_back(idx[d]);
          else if (n.attrs.i("keepdims")) out.push_back(c64(0));
      }
      llvm::Value* x = read(in, idx);
      if (scale) x = b_.CreateFMul(x, scale);
      llvm::Value* cur = load(v, out);
      store(v, out, isMax ? b_.CreateSelect(b_.CreateFCmpOLT(cur, x), x, cur) : b_.CreateFAdd(cur, x));
    }, sp.dim);
  }

  // One pass over the space computing every member in schedule order: an elementwise member
  // is stored (a later member reads it back at the same index, from the store just made), a
  // sum_to member accumulates into its result, zeroed first, as emitReduce does.
  void emitGroup(const std::vector<ValueId>& members) {
    const Split sp = groupSplit(members);
    for (ValueId m : members) {
      const Shape& out = node(m).shape;
      if (node(m).op != OpKind::SumTo) continue;
      const int lead = static_cast<int>(sp.space.size() - out.size());
      loopNest(extents(out), [&](const Index& idx) { store(m, idx, cf(0)); }, sp.dim < 0 ? -1 : sp.dim - lead);
    }
    loopNest(extents(sp.space), [&](const Index& idx) {
      for (ValueId m : members) {
        const Node& n = node(m);
        if (n.op != OpKind::SumTo) {
          store(m, idx, gen(m, idx));
          continue;
        }
        const Index out = broadcastIndex(n.shape, sp.space, idx);
        store(m, out, b_.CreateFAdd(load(m, out), read(n.inputs[0], idx)));
      }
    }, sp.dim);
  }

  llvm::FunctionCallee kernel(const char* name, std::vector<llvm::Type*> args) {
    return m_->getOrInsertFunction(name, llvm::FunctionType::get(b_.getVoidTy(), args, false));
  }
  /// v's buffer: a loop body's parameter, or in the entry its caller slot or arena address.
  llvm::Value* basePtr(ValueId v) {
    if (llvm::Value* p = base_[static_cast<size_t>(v)]) return p;
    const Node& n = node(v);
    if (n.op == OpKind::Input) return slot(slots_.input(static_cast<int>(n.attrs.i("index"))));
    if (n.op == OpKind::Param) return slot(slots_.param(static_cast<int>(n.attrs.i("index"))));
    if (n.op == OpKind::Reshape) return basePtr(f_.storageRoot[static_cast<size_t>(v)]);
    if (const int k = f_.fetchSlot[static_cast<size_t>(v)]; k >= 0) return slot(slots_.fetch(k));
    return b_.CreateConstInBoundsGEP1_64(b_.getInt8Ty(), arena_, static_cast<uint64_t>(plan_.offset[static_cast<size_t>(v)]),
                                         n.name.empty() ? "v" + std::to_string(v) : n.name);
  }

  /// Elements of s[from, to).
  llvm::Value* elements(const Shape& s, size_t from, size_t to) {
    return elements(Shape(s.begin() + static_cast<std::ptrdiff_t>(from), s.begin() + static_cast<std::ptrdiff_t>(to)));
  }
  llvm::Value* flag(const Node& n, const char* attr) { return b_.getInt32(n.attrs.i(attr) ? 1 : 0); }

  void emitMatMul(ValueId v) {
    // Leading dims flatten: rows of op(a) (ta=0) or the contraction (ta=1); see Ops.def.
    const Node& n = node(v);
    const Shape& a = node(n.inputs[0]).shape;
    const Shape& b = node(n.inputs[1]).shape;
    const int64_t ta = n.attrs.i("ta") != 0, tb = n.attrs.i("tb") != 0;
    const BatchMonomial lead = elementsOf(Shape(a.begin(), a.end() - 1)), last = elementsOf({a.back()});
    const BatchMonomial cols = tb ? elementsOf(Shape(b.begin(), b.end() - 1)) : elementsOf({b.back()});
    std::vector<uint64_t> words = {static_cast<uint64_t>(bufferWord(v)), static_cast<uint64_t>(bufferWord(n.inputs[0])),
                                   static_cast<uint64_t>(bufferWord(n.inputs[1])), static_cast<uint64_t>(ta),
                                   static_cast<uint64_t>(tb)};
    // Named for what it is: the run list's record of a product reads {ptr null, ptr @matmulN, ...}.
    llvm::GlobalVariable* desc = constantGlobal(llvm::ConstantDataArray::get(ctx_, words), "matmul" + std::to_string(v));
    queueCall(llvm::ConstantPointerNull::get(ptr()), desc, {ta ? last : lead, cols, ta ? lead : last});
  }
  void emitBatchMatMul(ValueId v) {
    const Node& n = node(v);
    const Shape& a = node(n.inputs[0]).shape;
    const Shape& b = node(n.inputs[1]).shape;
    bool ta = n.attrs.i("ta") != 0, tb = n.attrs.i("tb") != 0;
    size_t ra = a.size(), rb = b.size();
    llvm::Value* m = dim(a[ra - (ta ? 1 : 2)]);
    llvm::Value* k = dim(a[ra - (ta ? 2 : 1)]);
    llvm::Value* nn = dim(b[rb - (tb ? 2 : 1)]);
    llvm::Value* sa = ra > 2 ? b_.CreateMul(m, k) : c64(0);  // a 2-D operand is shared
    llvm::Value* sb = rb > 2 ? b_.CreateMul(k, nn) : c64(0);
    auto callee = kernel("recc_rt_batch_matmul_f32",
                         {ptr(), ptr(), ptr(), i64(), i64(), i64(), i64(), i32(), i32(), i64(), i64()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]),
                           elements(n.shape, 0, n.shape.size() - 2), m, nn, k, flag(n, "ta"), flag(n, "tb"), sa, sb});
  }
  void emitSoftmax(ValueId v) {
    const Node& n = node(v);
    auto ax = static_cast<size_t>(n.attrs.i("axis"));
    auto callee = kernel("recc_rt_softmax_f32", {ptr(), ptr(), i64(), i64(), i64(), i32()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), elements(n.shape, 0, ax), dim(n.shape[ax]),
                           elements(n.shape, ax + 1, n.shape.size()),
                           b_.getInt32(n.op == OpKind::LogSoftmax ? 1 : 0)});
  }
  void emitNorm(ValueId v) {
    const Node& n = node(v);
    auto callee = kernel("recc_rt_layer_norm_f32", {ptr(), ptr(), ptr(), ptr(), i64(), i64(), b_.getFloatTy()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]), basePtr(n.inputs[2]),
                           elements(n.shape, 0, n.shape.size() - 1), dim(n.shape.back()), cf(n.attrs.f("eps", 1e-5))});
  }
  void emitMoments(ValueId v) {
    const Node& n = node(v);
    const Shape& x = node(n.inputs[0]).shape;
    // The running statistics are params: the kernel updates the caller's buffers in place.
    auto callee = kernel("recc_rt_batch_moments_f32", {ptr(), ptr(), ptr(), ptr(), ptr(), i64(), i64(),
                                                       b_.getFloatTy(), b_.getFloatTy()});
    b_.CreateCall(callee, {slot(slots_.shard()), basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]),
                           basePtr(n.inputs[2]), elements(x, 0, x.size() - 1), dim(x.back()),
                           cf(n.attrs.f("eps", 1e-5)), cf(n.attrs.f("momentum", 0.1))});
  }
  void emitShardSum(ValueId v) {
    const Node& n = node(v);
    auto callee = kernel("recc_rt_shard_sum_f32", {ptr(), ptr(), ptr(), i64()});
    b_.CreateCall(callee, {slot(slots_.shard()), basePtr(v), basePtr(n.inputs[0]), elements(n.shape)});
  }
  void emitCrossEntropy(ValueId v) {
    const Node& n = node(v);
    auto callee = kernel("recc_rt_cross_entropy_f32", {ptr(), ptr(), ptr(), i64(), i64(), i32()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]), elements(n.shape),
                           dim(node(n.inputs[0]).shape.back()),
                           b_.getInt32(static_cast<uint32_t>(n.attrs.i("ignore_index", 0)))});
  }
  void emitPositionalEncoding(ValueId v) {
    const Node& n = node(v);
    auto callee = kernel("recc_rt_positional_encoding_f32", {ptr(), i64(), i64()});
    b_.CreateCall(callee, {basePtr(v), dim(n.shape[0]), dim(n.shape[1])});
  }
  void emitConv(ValueId v) {
    const Node& n = node(v);
    const Shape& x = node(n.inputs[0]).shape;
    // [N, T, C] sequence and [N, T', .] windows: the operand or the result, depending on the op.
    const Shape& seq = n.op == OpKind::Fold1d ? n.shape : x;
    const Shape& win = n.op == OpKind::Fold1d ? x : n.shape;
    int64_t kernelLen = n.op == OpKind::Conv1d ? node(n.inputs[1]).shape[0].n : n.attrs.i("kernel");
    std::vector<llvm::Value*> geom = {dim(seq[0]), dim(seq[1]), dim(seq[2])};
    if (n.op == OpKind::Conv1d) geom.push_back(dim(n.shape[2]));
    for (int64_t g : {kernelLen, n.attrs.i("stride", 1), n.attrs.i("padding", 0)}) geom.push_back(c64(g));
    geom.push_back(dim(win[1]));
    std::vector<llvm::Value*> args = {basePtr(v), basePtr(n.inputs[0])};
    const char* name = n.op == OpKind::Conv1d ? "recc_rt_conv1d_f32"
                       : n.op == OpKind::Unfold1d ? "recc_rt_unfold1d_f32" : "recc_rt_fold1d_f32";
    if (n.op == OpKind::Conv1d) {
      args.push_back(basePtr(n.inputs[1]));
      args.push_back(basePtr(n.inputs[2]));
    }
    args.insert(args.end(), geom.begin(), geom.end());
    std::vector<llvm::Type*> types(args.size() - geom.size(), ptr());
    types.resize(args.size(), i64());
    b_.CreateCall(kernel(name, types), args);
  }
  void emitGather(ValueId v) {
    const Node& n = node(v);
    const Shape& table = node(n.inputs[0]).shape;
    auto callee = kernel("recc_rt_gather_f32", {ptr(), ptr(), ptr(), i64(), i64(), i64(), i64(), b_.getFloatTy()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]),
                           elements(node(n.inputs[1]).shape), dim(table[1]), c64(tableStride(n.inputs[0])),
                           dim(table[0]), cf(n.attrs.f("max_norm"))});
  }
  void emitScatterAdd(ValueId v) {
    const Node& n = node(v);
    const Shape& ids = node(n.inputs[0]).shape;
    ValueId grad = n.inputs[1];
    int64_t repeat = 1;
    if (ValueId source = repeatedGradientSource(g_, v); source >= 0 && !f_.materialized[static_cast<size_t>(grad)]) {
      grad = source;
      repeat = ids.back().n;
    }
    auto callee = kernel("recc_rt_scatter_add_f32", {ptr(), ptr(), ptr(), i64(), i64(), i64(), i64()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(grad), elements(ids), dim(n.shape[1]),
                           dim(n.shape[0]), c64(repeat)});
  }
  void emitUpdate(ValueId v) {
    const Node& n = node(v);
    auto p = static_cast<int>(n.attrs.i("index"));
    auto callee = kernel("recc_rt_update_f32", {ptr(), ptr(), ptr(), ptr(), ptr(), i64()});
    b_.CreateCall(callee, {slot(slots_.opt()), basePtr(n.inputs[0]), basePtr(n.inputs[1]),
                           slot(slots_.m(p)), slot(slots_.v(p)), elements(node(n.inputs[0]).shape)});
  }

  // The (ids, gradient) pairs go to the kernel as three arrays on the stack.
  void emitSparseUpdate(ValueId v) {
    const Node& n = node(v);
    auto p = static_cast<int>(n.attrs.i("index"));
    const auto parts = static_cast<int64_t>((n.inputs.size() - 1) / 2);
    llvm::IRBuilderBase::InsertPoint here = b_.saveIP();
    b_.SetInsertPoint(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
    llvm::Value* ids = b_.CreateAlloca(ptr(), c64(parts), "sparse_ids");
    llvm::Value* grads = b_.CreateAlloca(ptr(), c64(parts), "sparse_grads");
    llvm::Value* counts = b_.CreateAlloca(i64(), c64(parts), "sparse_counts");
    b_.restoreIP(here);
    for (int64_t k = 0; k < parts; ++k) {
      ValueId id = n.inputs[static_cast<size_t>(1 + 2 * k)], gr = n.inputs[static_cast<size_t>(2 + 2 * k)];
      b_.CreateStore(basePtr(id), b_.CreateConstInBoundsGEP1_64(ptr(), ids, static_cast<uint64_t>(k)));
      b_.CreateStore(basePtr(gr), b_.CreateConstInBoundsGEP1_64(ptr(), grads, static_cast<uint64_t>(k)));
      b_.CreateStore(elements(node(id).shape), b_.CreateConstInBoundsGEP1_64(i64(), counts, static_cast<uint64_t>(k)));
    }
    const Shape& table = node(n.inputs[0]).shape;
    auto callee = kernel("recc_rt_sparse_update_f32",
                         {ptr(), ptr(), ptr(), ptr(), i64(), i64(), i64(), i32(), ptr(), ptr(), ptr()});
    b_.CreateCall(callee, {slot(slots_.opt()), basePtr(n.inputs[0]), slot(slots_.m(p)), slot(slots_.v(p)),
                           dim(table[0]), dim(table[1]), c64(tableStride(n.inputs[0])),
                           b_.getInt32(static_cast<uint32_t>(parts)), ids, grads, counts});
  }

  void emitFetch(int k) {
    ValueId v = fetches_[static_cast<size_t>(k)];
    if (f_.fetchSlot[static_cast<size_t>(v)] == k) return;  // computed in place
    llvm::Value* bytes = b_.CreateMul(elements(node(v).shape), c64(4), "", true, true);
    b_.CreateMemCpy(slot(slots_.fetch(k)), llvm::MaybeAlign(4), basePtr(v), llvm::MaybeAlign(4), bytes);
  }

  llvm::LLVMContext& ctx_;
  const Graph& g_;
  const FusionPlan& f_;
  const BufferPlan& plan_;
  const std::vector<ValueId>& fetches_;
  SlotLayout slots_;
  llvm::IRBuilder<> b_;
  llvm::Module* m_ = nullptr;
  llvm::Function* fn_ = nullptr;
  llvm::Value* batch_ = nullptr;
  llvm::Value* slotArg_ = nullptr;
  llvm::Value* arena_ = nullptr;
  std::vector<llvm::Value*> base_;
  std::vector<llvm::Value*> scalar_;  // inside a loop body: its Dropout / Slice scalar arguments
  std::vector<llvm::Value*> rowBase_;  // inside a loop body: per Dropout, RunArgs::firstRow's element index
  // Loop functions: per node its signature; by structure key the function; inside a loop
  // body, its split range.
  std::vector<LoopSig> sigs_;
  std::vector<std::vector<ValueId>> group_;  // per loop node running a loop: what it computes (loopAt)
  std::map<std::string, llvm::Function*> loopFns_;
  llvm::FunctionType* entryTy_ = nullptr;
  int segmentCount_ = 0;
  std::vector<llvm::Constant*> pendingCalls_;  // this segment's run list so far (ReccCall records)
  int callTables_ = 0;
  llvm::GlobalVariable* noStep_ = nullptr;
  llvm::Value* lo_ = nullptr;
  llvm::Value* hi_ = nullptr;
  int collapseFrom_ = -1;  // inside an elementwise loop body: see collapsibleFrom()
  size_t collapseRank_ = 0;
  std::vector<int64_t> innerCuts_;  // inside an elementwise loop body: see concatCuts()
  // While a segment [begin, end) of the innermost loop is emitted: its index, and the range.
  struct KnownRange {
    llvm::Value* index = nullptr;
    int64_t begin = 0, end = 0;
  } inner_;
};

}  // namespace

std::unique_ptr<llvm::Module> emitEntry(llvm::LLVMContext& ctx, const Graph& g,
                                        const FusionPlan& fusion, const BufferPlan& plan,
                                        const std::vector<ValueId>& fetches) {
  return EntryEmitter(ctx, g, fusion, plan, fetches).run();
}

}  // namespace recc
