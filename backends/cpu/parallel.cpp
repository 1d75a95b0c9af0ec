#include "parallel.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace gems::cpu {
namespace {

// Pauses a spinning thread briefly (and politely, on x86).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spin iterations before a thread sleeps on a condition variable (on the
// order of 50 us): waking a sleeping thread costs tens of microseconds, more
// than most parallel regions take, so workers and the caller first spin on
// the atomics for work or completion, then block.
constexpr int kSpins = 2000;

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
      pending_.store(ntasks - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    task(0);
    for (int spin = 0; spin < kSpins && pending_.load(std::memory_order_acquire) != 0; ++spin) cpu_relax();
    if (pending_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> g(m_);
      done_cv_.wait(g, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
  }

 private:
  void worker(int index) {
    uint64_t seen = 0;
    for (;;) {
      for (int spin = 0; spin < kSpins && generation_.load(std::memory_order_acquire) == seen &&
                         !stopping_.load(std::memory_order_relaxed);
           ++spin)
        cpu_relax();
      const std::function<void(int)>* task;
      int ntasks;
      {
        std::unique_lock<std::mutex> g(m_);
        cv_.wait(g, [&] { return stopping_.load() || generation_.load() != seen; });
        if (stopping_.load()) return;
        seen = generation_.load();
        task = task_;
        ntasks = ntasks_;
      }
      if (index >= ntasks) continue;
      (*task)(index);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> g(m_);  // the caller checks pending_ under m_ before it sleeps
        done_cv_.notify_one();
      }
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
  const std::function<void(int)>* task_ = nullptr;  // written under m_ before generation_ moves
  int ntasks_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
};

int g_num_threads = std::max(1u, std::thread::hardware_concurrency());
thread_local bool t_in_parallel = false;

// The pool, started on first use. A process forked from one that used it
// has none of its workers and may have inherited its locks held: the child
// leaks it and starts a new one on its first parallel region (else that
// region would wait for ever on workers that do not exist). The pool is
// never destroyed: a kernel may still run while the process exits.
std::atomic<ThreadPool*> g_pool{nullptr};
pthread_mutex_t g_pool_mutex = PTHREAD_MUTEX_INITIALIZER;

void forget_pool_in_child() {
  g_pool.store(nullptr, std::memory_order_relaxed);
  g_pool_mutex = PTHREAD_MUTEX_INITIALIZER;  // a parent thread may have held it at the fork
}

ThreadPool& pool() {
  if (ThreadPool* p = g_pool.load(std::memory_order_acquire)) return *p;
  pthread_mutex_lock(&g_pool_mutex);
  static const bool registered = pthread_atfork(nullptr, nullptr, forget_pool_in_child) == 0;
  (void)registered;
  if (!g_pool.load(std::memory_order_relaxed)) g_pool.store(new ThreadPool(g_num_threads), std::memory_order_release);
  pthread_mutex_unlock(&g_pool_mutex);
  return *g_pool.load(std::memory_order_acquire);
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
