#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace gems::cpu {
namespace {

class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    stop_workers();
    stopping_ = false;
    for (int i = 1; i < std::max(1, n); ++i) workers_.emplace_back([this, i] { worker(i); });
  }

  // Runs task(i) for i in [0, ntasks); the caller runs task 0 itself.
  void run(int ntasks, const std::function<void(int)>& task) {
    std::unique_lock<std::mutex> run_lock(run_mutex_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> g(m_);
      task_ = &task;
      ntasks_ = ntasks;
      pending_ = ntasks - 1;
      ++generation_;
    }
    cv_.notify_all();
    task(0);
    std::unique_lock<std::mutex> g(m_);
    done_cv_.wait(g, [this] { return pending_ == 0; });
    task_ = nullptr;
  }

 private:
  void worker(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* task;
      {
        std::unique_lock<std::mutex> g(m_);
        cv_.wait(g, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        if (index >= ntasks_) continue;
        task = task_;
      }
      (*task)(index);
      std::lock_guard<std::mutex> g(m_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> g(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex m_, run_mutex_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* task_ = nullptr;
  int ntasks_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

int g_num_threads = std::max(1u, std::thread::hardware_concurrency());
thread_local bool t_in_parallel = false;

ThreadPool& pool() {
  static ThreadPool p(g_num_threads);
  return p;
}

}  // namespace

void set_num_threads(int n) {
  g_num_threads = std::max(1, n);
  if (pool().size() != g_num_threads) pool().resize(g_num_threads);
}

int num_threads() { return g_num_threads; }

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int64_t max_tasks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
  const int ntasks = static_cast<int>(std::min<int64_t>(g_num_threads, max_tasks));
  if (ntasks <= 1 || t_in_parallel) {
    fn(begin, end);
    return;
  }
  const int64_t chunk = (n + ntasks - 1) / ntasks;
  pool().run(ntasks, [&](int i) {
    const int64_t b = begin + i * chunk;
    const int64_t e = std::min(end, b + chunk);
    if (b >= e) return;
    const bool was = t_in_parallel;
    t_in_parallel = true;
    fn(b, e);
    t_in_parallel = was;
  });
}

}  // namespace gems::cpu
