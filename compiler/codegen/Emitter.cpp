// The graph -> LLVM IR emitter: loop nests over element generators, and kernel calls.
//
// Each materialized value is computed by one loop nest over its shape (innermost = last dim,
// contiguous) that stores gen(value, index). gen() of an operand either loads it from memory
// (materialized, with stride 0 along broadcast dims) or, when fused, computes it in place by
// recursing into its own operands: a fused chain becomes one loop with no intermediates.
#include "compiler/codegen/Emitter.h"

#include <cmath>
#include <cstddef>
#include <functional>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

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
    auto* fnTy = llvm::FunctionType::get(b_.getVoidTy(), {i64(), ptr(), ptr()}, false);
    fn_ = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage, kEntryName, m_);
    batch_ = fn_->getArg(0);
    slotArg_ = fn_->getArg(1);
    arena_ = fn_->getArg(2);
    batch_->setName("B");
    slotArg_->setName("slots");
    arena_->setName("arena");
    // The slots, arena and caller buffers are distinct objects.
    for (unsigned a = 1; a < 3; ++a) fn_->addParamAttr(a, llvm::Attribute::NoAlias);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn_));
    bindStorage();
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (f_.emitted[i]) emitNode(static_cast<ValueId>(i));
    for (size_t k = 0; k < fetches_.size(); ++k) emitFetch(static_cast<int>(k));
    b_.CreateRetVoid();
    return module;
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

  // Base pointers of every materialized value, computed once in the entry block.
  void bindStorage() {
    base_.assign(g_.nodes.size(), nullptr);
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!f_.emitted[i] || !f_.materialized[i]) continue;
      const Node& n = g_.nodes[i];
      const std::string name = n.name.empty() ? "v" + std::to_string(i) : n.name;
      if (n.op == OpKind::Input) base_[i] = slot(slots_.input(static_cast<int>(n.attrs.i("index"))));
      else if (n.op == OpKind::Param) base_[i] = slot(slots_.param(static_cast<int>(n.attrs.i("index"))));
      else if (n.op == OpKind::Reshape) base_[i] = base_[static_cast<size_t>(f_.storageRoot[i])];
      else base_[i] = b_.CreateConstInBoundsGEP1_64(b_.getInt8Ty(), arena_,
                                                    static_cast<uint64_t>(plan_.offset[i]));
      base_[i]->setName(name);
    }
    // Dropout: one key per node and run, from the optimizer's step (0 when no optimizer slot
    // is bound, e.g. an inference run that still contains a dropout).
    dropoutKey_.assign(g_.nodes.size(), nullptr);
    llvm::Value* step = nullptr;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!f_.emitted[i] || g_.nodes[i].op != OpKind::Dropout) continue;
      if (!step) step = optimizerStep();
      llvm::Value* seed = c64(g_.nodes[i].attrs.i("seed", 0));
      dropoutKey_[i] = mix64(b_.CreateXor(seed, b_.CreateMul(step, c64(static_cast<int64_t>(kDropoutStepMul)))));
      dropoutKey_[i]->setName("dropout_key" + std::to_string(i));
    }
  }

  llvm::Value* optimizerStep() {
    llvm::Value* opt = slot(slots_.opt());
    auto* zero = new llvm::GlobalVariable(*m_, i64(), true, llvm::GlobalValue::PrivateLinkage, b_.getInt64(0),
                                          "no_step");
    llvm::Value* field = b_.CreateConstGEP1_64(b_.getInt8Ty(), opt, offsetof(ReccOptimizer, step));
    llvm::Value* addr = b_.CreateSelect(b_.CreateICmpEQ(opt, llvm::ConstantPointerNull::get(ptr())), zero, field);
    return b_.CreateLoad(i64(), addr, "step");
  }

  // splitmix64's finaliser in IR, bit for bit the mix64() of runtime/kernels/DropoutHash.h.
  llvm::Value* mix64(llvm::Value* z) {
    z = b_.CreateMul(b_.CreateXor(z, b_.CreateLShr(z, 30)), c64(static_cast<int64_t>(kMix1)));
    z = b_.CreateMul(b_.CreateXor(z, b_.CreateLShr(z, 27)), c64(static_cast<int64_t>(kMix2)));
    return b_.CreateXor(z, b_.CreateLShr(z, 31));
  }

  // x * keep / (1 - p) for the element at idx: keep = top 24 bits of mix64(key ^ i*C) >= ceil(p 2^24).
  llvm::Value* genDropout(ValueId v, const Index& idx) {
    const Node& n = node(v);
    const double p = n.attrs.f("p", 0.5);
    llvm::Value* x = read(n.inputs[0], idx);
    llvm::Value* i = linear(n.shape, idx);
    llvm::Value* h = mix64(b_.CreateXor(dropoutKey_[static_cast<size_t>(v)],
                                        b_.CreateMul(i, c64(static_cast<int64_t>(kDropoutIndexMul)))));
    llvm::Value* bits = b_.CreateLShr(h, 64 - kDropoutBits);
    llvm::Value* keep = b_.CreateICmpUGE(bits, c64(static_cast<int64_t>(dropoutThreshold(p))));
    return b_.CreateSelect(keep, b_.CreateFMul(x, cf(dropoutScale(p))), cf(0));
  }

  // Row-major linear index by Horner's rule over the value's own extents.
  llvm::Value* linear(const Shape& s, const Index& idx) {
    llvm::Value* lin = c64(0);
    for (size_t d = 0; d < s.size(); ++d)
      lin = b_.CreateAdd(b_.CreateMul(lin, dim(s[d]), "", true, true), idx[d], "", true, true);
    return lin;
  }
  llvm::Value* address(ValueId v, const Index& idx) {
    return b_.CreateInBoundsGEP(elemTy(v), base_[static_cast<size_t>(v)], linear(node(v).shape, idx));
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
        return read(n.inputs[0], broadcastIndex(node(n.inputs[0]).shape, n.shape, idx));
      case OpKind::Slice: {
        Index in = idx;
        auto ax = static_cast<size_t>(n.attrs.i("axis"));
        in[ax] = b_.CreateAdd(in[ax], c64(n.attrs.i("begin")), "", true, true);
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
      case OpKind::Dropout: return genDropout(v, idx);
      default: break;
    }
    if (opInfo(n.op).cls != OpClass::Elementwise)
      throw DiagError(n.loc, std::string("codegen: ") + opName(n.op) + " cannot be computed per element");
    llvm::Value* x = read(n.inputs[0], broadcastIndex(node(n.inputs[0]).shape, n.shape, idx));
    llvm::Value* y = n.inputs.size() > 1
                         ? read(n.inputs[1], broadcastIndex(node(n.inputs[1]).shape, n.shape, idx))
                         : nullptr;
    return emitScalarOp(b_, n.op, n.attrs, x, y);
  }

  // for i0 < e0: for i1 < e1: ... body(i0, i1, ...); the outermost header is named "nest".
  void loopNest(const Index& ext, const std::function<void(const Index&)>& body) {
    Index idx;
    loopLevel(ext, idx, body);
  }
  void loopLevel(const Index& ext, Index& idx, const std::function<void(const Index&)>& body) {
    if (idx.size() == ext.size()) {
      body(idx);
      return;
    }
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    auto* header = llvm::BasicBlock::Create(ctx_, idx.empty() ? "nest" : "loop", fn_);
    auto* bodyBB = llvm::BasicBlock::Create(ctx_, "body", fn_);
    auto* exit = llvm::BasicBlock::Create(ctx_, "done", fn_);
    b_.CreateBr(header);
    b_.SetInsertPoint(header);
    llvm::PHINode* i = b_.CreatePHI(i64(), 2, "i" + std::to_string(idx.size()));
    i->addIncoming(c64(0), pre);
    b_.CreateCondBr(b_.CreateICmpSLT(i, ext[idx.size()]), bodyBB, exit);
    b_.SetInsertPoint(bodyBB);
    idx.push_back(i);
    loopLevel(ext, idx, body);
    idx.pop_back();
    i->addIncoming(b_.CreateAdd(i, c64(1), "", true, true), b_.GetInsertBlock());
    b_.CreateBr(header);
    b_.SetInsertPoint(exit);
  }

  void emitNode(ValueId v) {
    const Node& n = node(v);
    switch (n.op) {
      case OpKind::Input:
      case OpKind::Param:
      case OpKind::Reshape:  // aliases its operand's buffer
        return;
      case OpKind::Concat: return emitConcat(v);
      case OpKind::Sum:
      case OpKind::Mean:
      case OpKind::Max:
      case OpKind::SumTo: return emitReduce(v);
      case OpKind::MatMul: return emitMatMul(v);
      case OpKind::BatchMatMul: return emitBatchMatMul(v);
      case OpKind::Softmax:
      case OpKind::LogSoftmax: return emitSoftmax(v);
      case OpKind::LayerNorm:
      case OpKind::BatchNorm: return emitNorm(v);
      case OpKind::CrossEntropy: return emitCrossEntropy(v);
      case OpKind::PositionalEncoding: return emitPositionalEncoding(v);
      case OpKind::Conv1d:
      case OpKind::Unfold1d:
      case OpKind::Fold1d: return emitConv(v);
      case OpKind::Gather: return emitGather(v);
      case OpKind::ScatterAdd: return emitScatterAdd(v);
      case OpKind::Update: return emitUpdate(v);
      default: break;
    }
    if (!f_.materialized[static_cast<size_t>(v)]) return;  // computed inside its consumer
    loopNest(extents(n.shape), [&](const Index& idx) { store(v, idx, gen(v, idx)); });
  }

  void emitConcat(ValueId v) {
    const Node& n = node(v);
    auto ax = static_cast<size_t>(n.attrs.i("axis"));
    int64_t offset = 0;
    for (ValueId in : n.inputs) {
      loopNest(extents(node(in).shape), [&](const Index& idx) {
        Index out = idx;
        out[ax] = b_.CreateAdd(idx[ax], c64(offset), "", true, true);
        store(v, out, read(in, idx));
      });
      offset += node(in).shape[ax].n;
    }
  }

  // out = 0; for every element x of the operand: out[reduced index] += x (* 1/count for Mean).
  // Max: out = -inf; out = out < x ? x : out (std::max, so a NaN never replaces a number).
  void emitReduce(ValueId v) {
    const Node& n = node(v);
    ValueId in = n.inputs[0];
    const Shape& xs = node(in).shape;
    const bool isMax = n.op == OpKind::Max;
    loopNest(extents(n.shape), [&](const Index& idx) { store(v, idx, cf(isMax ? -INFINITY : 0.0)); });
    llvm::Value* scale = nullptr;
    if (n.op == OpKind::Mean) {
      llvm::Value* count = b_.CreateSIToFP(dim(xs[static_cast<size_t>(n.attrs.i("axis"))]), b_.getFloatTy());
      scale = b_.CreateFDiv(cf(1), count);
    }
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
    });
  }

  llvm::FunctionCallee kernel(const char* name, std::vector<llvm::Type*> args) {
    return m_->getOrInsertFunction(name, llvm::FunctionType::get(b_.getVoidTy(), args, false));
  }
  llvm::Value* basePtr(ValueId v) { return base_[static_cast<size_t>(v)]; }

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
    bool ta = n.attrs.i("ta") != 0, tb = n.attrs.i("tb") != 0;
    llvm::Value* lead = elements(a, 0, a.size() - 1);
    llvm::Value* m = ta ? dim(a.back()) : lead;
    llvm::Value* k = ta ? lead : dim(a.back());
    llvm::Value* nn = tb ? elements(b, 0, b.size() - 1) : dim(b.back());
    auto callee = kernel("recc_rt_matmul_f32", {ptr(), ptr(), ptr(), i64(), i64(), i64(), i32(), i32()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]), m, nn, k, flag(n, "ta"),
                           flag(n, "tb")});
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
    llvm::Value* rows = elements(n.shape, 0, n.shape.size() - 1);
    llvm::Value* d = dim(n.shape.back());
    llvm::Value* eps = cf(n.attrs.f("eps", 1e-5));
    if (n.op == OpKind::LayerNorm) {
      auto callee = kernel("recc_rt_layer_norm_f32", {ptr(), ptr(), ptr(), ptr(), i64(), i64(), b_.getFloatTy()});
      b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]), basePtr(n.inputs[2]), rows, d, eps});
      return;
    }
    // The running statistics are params: the kernel updates the caller's buffers in place.
    auto callee = kernel("recc_rt_batch_norm_f32", {ptr(), ptr(), ptr(), ptr(), ptr(), ptr(), i64(), i64(),
                                                    b_.getFloatTy(), b_.getFloatTy()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]), basePtr(n.inputs[2]),
                           basePtr(n.inputs[3]), basePtr(n.inputs[4]), rows, d, eps, cf(n.attrs.f("momentum", 0.1))});
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
    auto callee = kernel("recc_rt_gather_f32", {ptr(), ptr(), ptr(), i64(), i64(), i64(), b_.getFloatTy()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]),
                           elements(node(n.inputs[1]).shape), dim(table[1]), dim(table[0]),
                           cf(n.attrs.f("max_norm"))});
  }
  void emitScatterAdd(ValueId v) {
    const Node& n = node(v);
    auto callee = kernel("recc_rt_scatter_add_f32", {ptr(), ptr(), ptr(), i64(), i64(), i64()});
    b_.CreateCall(callee, {basePtr(v), basePtr(n.inputs[0]), basePtr(n.inputs[1]),
                           elements(node(n.inputs[0]).shape), dim(n.shape[1]), dim(n.shape[0])});
  }
  void emitUpdate(ValueId v) {
    const Node& n = node(v);
    auto p = static_cast<int>(n.attrs.i("index"));
    auto callee = kernel("recc_rt_update_f32", {ptr(), ptr(), ptr(), ptr(), ptr(), i64()});
    b_.CreateCall(callee, {slot(slots_.opt()), basePtr(n.inputs[0]), basePtr(n.inputs[1]),
                           slot(slots_.m(p)), slot(slots_.v(p)), elements(node(n.inputs[0]).shape)});
  }

  void emitFetch(int k) {
    ValueId v = fetches_[static_cast<size_t>(k)];
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
  std::vector<llvm::Value*> dropoutKey_;  // per Dropout node, computed in the entry block
};

}  // namespace

std::unique_ptr<llvm::Module> emitEntry(llvm::LLVMContext& ctx, const Graph& g,
                                        const FusionPlan& fusion, const BufferPlan& plan,
                                        const std::vector<ValueId>& fetches) {
  return EntryEmitter(ctx, g, fusion, plan, fetches).run();
}

}  // namespace recc
