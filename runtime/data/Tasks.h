// runTasks: independent tasks of the data library (encoding inputs, scanning parts of a file)
// on a few threads of their own, the calling thread included.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <system_error>
#include <thread>
#include <vector>

namespace recc {

/// Calls task(t) once for every t in [0, tasks), on up to `threads` threads; returns when all
/// are done. A task must not throw (keep its exception and rethrow it after). When no thread
/// can be had, fewer run the same tasks.
template <class F>
void runTasks(size_t tasks, int threads, F&& task) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t t; (t = next++) < tasks;) task(t);
  };
  std::vector<std::thread> helpers;
  const size_t workers = std::min(tasks, static_cast<size_t>(std::max(threads, 1)));
  for (size_t i = 1; i < workers; ++i) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;
    }
  }
  work();
  for (std::thread& h : helpers) h.join();
}

}  // namespace recc
