// The LLJIT wrapper (host target, explicit kernel symbols, verification before compiling, an
// optional perf map) and the on-disk object cache.
#include "compiler/codegen/Jit.h"

// GCC 12 reports a false -Wmaybe-uninitialized when llvm::unique_function (the link-graph pass
// below) is moved: the warning is inside LLVM's header, the storage is always initialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include <unistd.h>

#include <llvm/ExecutionEngine/JITLink/JITLink.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Support/xxhash.h>

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

/// Appends "start size name" for every function linked to /tmp/perf-<pid>.map, the format
/// `perf report` reads to name samples in JIT code.
class PerfMapPlugin final : public llvm::orc::ObjectLinkingLayer::Plugin {
 public:
  void modifyPassConfig(llvm::orc::MaterializationResponsibility&, llvm::jitlink::LinkGraph&,
                        llvm::jitlink::PassConfiguration& config) override {
    // Calls between functions of one object refer to the section, not to the callee's symbol:
    // keep the (local) function names alive through dead-stripping so that they can be listed.
    config.PrePrunePasses.push_back([](llvm::jitlink::LinkGraph& g) -> llvm::Error {
      for (llvm::jitlink::Symbol* s : g.defined_symbols())
        if (s->hasName() && s->getSize() > 0) s->setLive(true);
      return llvm::Error::success();
    });
    config.PostFixupPasses.push_back([](llvm::jitlink::LinkGraph& g) -> llvm::Error {
      static std::mutex mu;
      std::lock_guard<std::mutex> lock(mu);
      std::string path = "/tmp/perf-" + std::to_string(::getpid()) + ".map";
      std::FILE* f = std::fopen(path.c_str(), "a");
      if (!f) return llvm::Error::success();
      for (llvm::jitlink::Symbol* s : g.defined_symbols())
        if (s->hasName() && s->getSize() > 0)
          std::fprintf(f, "%llx %llx %s\n", static_cast<unsigned long long>(s->getAddress().getValue()),
                       static_cast<unsigned long long>(s->getSize()), s->getName().str().c_str());
      std::fclose(f);
      return llvm::Error::success();
    });
  }
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility&) override { return llvm::Error::success(); }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey, llvm::orc::ResourceKey) override {}
};

bool envFlag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

}  // namespace

namespace {
llvm::Expected<llvm::orc::JITTargetMachineBuilder> hostBuilder() {
  initNativeTarget();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return jtmb.takeError();
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
  return jtmb;
}
}  // namespace

llvm::Expected<std::unique_ptr<llvm::TargetMachine>> Jit::hostTargetMachine() {
  auto jtmb = hostBuilder();
  if (!jtmb) return jtmb.takeError();
  return jtmb->createTargetMachine();
}

llvm::Expected<std::unique_ptr<Jit>> Jit::create() {
  auto jtmb = hostBuilder();
  if (!jtmb) return jtmb.takeError();
  auto tm = jtmb->createTargetMachine();
  if (!tm) return tm.takeError();
  auto lljit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  if (!lljit) return lljit.takeError();

  auto self = std::unique_ptr<Jit>(new Jit());
  self->jit_ = std::move(*lljit);
  self->tm_ = std::move(*tm);
  if (envFlag("RECC_PERF_MAP"))
    if (auto* oll = llvm::dyn_cast<llvm::orc::ObjectLinkingLayer>(&self->jit_->getObjLinkingLayer()))
      oll->addPlugin(std::make_unique<PerfMapPlugin>());
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

std::string Jit::check(llvm::Module& m) {
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(m, &os)) return os.str();
  std::set<std::string> known;
  for (auto& [name, addr] : kernelSymbols()) known.insert(name);
  for (llvm::Function& f : m)
    if (f.isDeclaration() && f.getName().starts_with("recc_rt_") && !known.count(f.getName().str())) {
      os << "no runtime kernel provides " << f.getName();
      break;
    }
  return os.str();
}

llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> Jit::compile(llvm::Module& m, llvm::TargetMachine& tm,
                                                                 llvm::ObjectCache* cache) {
  llvm::orc::SimpleCompiler compiler(tm, cache);
  return compiler(m);
}

llvm::Error Jit::addObject(std::unique_ptr<llvm::MemoryBuffer> obj) {
  return jit_->addObjectFile(std::move(obj));
}

llvm::Expected<void*> Jit::lookup(const std::string& name) {
  auto addr = jit_->lookup(name);
  if (!addr) return addr.takeError();
  return addr->toPtr<void*>();
}

// ---- the object cache ----

namespace {

// File layout: magic, part count, then per part its size, checksum and bytes (all u64 LE).
constexpr char kMagic[8] = {'R', 'E', 'C', 'C', 'O', 'B', 'J', '2'};

uint64_t checksum(llvm::StringRef bytes) { return llvm::xxh3_64bits(bytes); }

bool readU64(llvm::StringRef& bytes, uint64_t& v) {
  if (bytes.size() < sizeof v) return false;
  std::memcpy(&v, bytes.data(), sizeof v);
  bytes = bytes.drop_front(sizeof v);
  return true;
}

}  // namespace

std::string DiskObjectCache::directory() {
  if (envFlag("RECC_NO_CACHE")) return "";
  llvm::SmallString<256> dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    dir = xdg;
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    dir = home;
    llvm::sys::path::append(dir, ".cache");
  } else {
    return "";
  }
  llvm::sys::path::append(dir, "recc");
  if (llvm::sys::fs::create_directories(dir)) return "";  // unwritable: run without a cache
  return std::string(dir.str());
}

DiskObjectCache::DiskObjectCache(std::string key) {
  if (key.empty()) return;
  std::string dir = directory();
  if (dir.empty()) return;
  llvm::SmallString<256> p(dir);
  llvm::sys::path::append(p, key + ".o");
  path_ = std::string(p.str());
}

std::vector<std::unique_ptr<llvm::MemoryBuffer>> DiskObjectCache::load() {
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> parts;
  if (path_.empty()) return parts;
  auto file = llvm::MemoryBuffer::getFile(path_, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!file) return parts;
  llvm::StringRef bytes = (*file)->getBuffer();
  uint64_t count = 0;
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return parts;
  bytes = bytes.drop_front(sizeof kMagic);
  if (!readU64(bytes, count) || count == 0 || count > 64) return parts;
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t size = 0, sum = 0;
    if (!readU64(bytes, size) || !readU64(bytes, sum) || size > bytes.size()) return {};
    llvm::StringRef payload = bytes.take_front(size);
    bytes = bytes.drop_front(size);
    if (checksum(payload) != sum) return {};
    // A payload with the right checksum that is still not an object file (a bug or a
    // hand-made file) is rejected here rather than by the linker.
    auto obj = llvm::object::ObjectFile::createObjectFile(llvm::MemoryBufferRef(payload, path_));
    if (!obj) {
      llvm::consumeError(obj.takeError());
      return {};
    }
    parts.push_back(llvm::MemoryBuffer::getMemBufferCopy(payload, path_));
  }
  if (!bytes.empty()) return {};  // trailing garbage: not a file this code wrote
  return parts;
}

void DiskObjectCache::expect(int parts) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.clear();
  pending_.resize(static_cast<size_t>(parts));
}

namespace {
int partIndex(const llvm::Module* m) {
  llvm::StringRef id = m->getModuleIdentifier();
  int part = 0;
  if (!id.consume_front("recc.part") || id.getAsInteger(10, part)) return -1;
  return part;
}
}  // namespace

std::unique_ptr<llvm::MemoryBuffer> DiskObjectCache::getObject(const llvm::Module* m) {
  const int part = partIndex(m);
  auto parts = load();
  if (part < 0 || static_cast<size_t>(part) >= parts.size()) return nullptr;
  return std::move(parts[static_cast<size_t>(part)]);
}

void DiskObjectCache::notifyObjectCompiled(const llvm::Module* m, llvm::MemoryBufferRef obj) {
  const int part = partIndex(m);
  std::lock_guard<std::mutex> lock(mu_);
  if (path_.empty() || part < 0 || static_cast<size_t>(part) >= pending_.size()) return;
  pending_[static_cast<size_t>(part)] = llvm::MemoryBuffer::getMemBufferCopy(obj.getBuffer(), obj.getBufferIdentifier());
  for (auto& p : pending_)
    if (!p) return;
  store();
}

void DiskObjectCache::store() {
  // Write a unique temporary file next to the entry, then rename it over the entry: readers
  // (other processes too) see the old entry, no entry, or the whole new one.
  llvm::SmallString<256> tmp;
  int fd = -1;
  if (llvm::sys::fs::createUniqueFile(path_ + ".tmp-%%%%%%%%", fd, tmp)) return;
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    auto u64 = [&](uint64_t v) { os.write(reinterpret_cast<const char*>(&v), sizeof v); };
    os.write(kMagic, sizeof kMagic);
    u64(pending_.size());
    for (auto& p : pending_) {
      u64(p->getBufferSize());
      u64(checksum(p->getBuffer()));
      os << p->getBuffer();
    }
    os.close();
    if (os.has_error()) {
      os.clear_error();
      llvm::sys::fs::remove(tmp);
      return;
    }
  }
  if (llvm::sys::fs::rename(tmp, path_)) llvm::sys::fs::remove(tmp);
}

}  // namespace recc
