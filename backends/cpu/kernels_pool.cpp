// Pooling, forward and backward, and separable resampling (operands in
// kernel_table.cpp): the shared per-element math of backends/common/pooling.h
// and interpolate.h over the thread pool, one element of the written tensor
// at a time, in memory order (each task finds its first element's
// coordinates, then steps them).
#include <algorithm>
#include <vector>

#include "../common/interpolate_operands.h"
#include "../common/pool_operands.h"
#include "dtype_dispatch.h"
#include "kernels.h"
#include "parallel.h"
#include "runtime.h"
#include "strided_loop.h"

namespace gems::cpu {
namespace {

// The elements each work-item visits, as the grain's measure.
int64_t taps_per_element(const PoolOperands& op) {
  const PoolGeometry& g = op.g;
  if (g.kind == kPoolAdaptiveMax) {
    int64_t taps = 1;
    for (int d = 0; d < 3; ++d) taps *= (g.in[d] + g.out[d] - 1) / std::max<int64_t>(g.out[d], 1) + 1;
    return taps;
  }
  return g.window[0] * g.window[1] * g.window[2];
}

// The max kinds' input gradient, one (batch, channel) plane per task: each
// output's gradient added at the input element its index names, in output
// order (deterministic, as PyTorch's CPU kernel), into a plane of sums in A
// that is then written out. Reading each output once is what the gather of
// pool_backward_at cannot do on a CPU: it visits every window that covers an
// element and compares indices (3x slower for 3x3/2 windows).
template <typename T, typename A>
void scatter_max_gradient(const PoolGeometry& g, const T* dy, const int64_t* indices, T* dx) {
  const int64_t plane_in = g.in[0] * g.in[1] * g.in[2], plane_out = g.out[0] * g.out[1] * g.out[2];
  // Where dx's planes are dense and of the sums' type, each plane is its own
  // plane of sums (no buffer, no pass copying it out). A dim of size 1 (the
  // padded ones of 1-d and 2-d pooling among them) may have any stride.
  const bool dense = (g.in[2] == 1 || g.x[4] == 1) && (g.in[1] == 1 || g.x[3] == g.in[2]) &&
                     (g.in[0] == 1 || g.x[2] == g.in[1] * g.in[2]);
  const bool in_place = std::is_same_v<T, A> && dense;
  parallel_for(0, g.N * g.C, grain_for(plane_in + plane_out), [&](int64_t begin, int64_t end) {
    std::vector<A> buffer(in_place ? 0 : plane_in);
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / g.C, c = plane % g.C;
      A* sums = in_place ? reinterpret_cast<A*>(dx + n * g.x[0] + c * g.x[1]) : buffer.data();
      std::fill(sums, sums + plane_in, A(0));
      for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
        for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
          for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
            const int64_t at = o0 * g.y[2] + o1 * g.y[3] + o2 * g.y[4];
            const int64_t from = indices[n * g.z[0] + c * g.z[1] + o0 * g.z[2] + o1 * g.z[3] + o2 * g.z[4]];
            // (an index outside the plane, from indices not made by pool, is skipped, as by the gather)
            if (from >= 0 && from < plane_in) sums[from] += static_cast<A>(dy[n * g.y[0] + c * g.y[1] + at]);
          }
      if (in_place) continue;
      const A* sum = sums;
      for (int64_t p0 = 0; p0 < g.in[0]; ++p0)
        for (int64_t p1 = 0; p1 < g.in[1]; ++p1)
          for (int64_t p2 = 0; p2 < g.in[2]; ++p2)
            dx[n * g.x[0] + c * g.x[1] + p0 * g.x[2] + p1 * g.x[3] + p2 * g.x[4]] = convert<T>(*sum++);
    }
  });
}

// The same for channels-last dx, dy and indices (channels dense): a task is a
// batch entry's run of up to 64 channels, whose sums are laid out [position,
// channel] so that each output position's indices and gradients are read as
// one run (the per-plane walk above stepped C elements a read and so touched
// every cache line of the tensor once per channel: 12x torch's time). Each
// element's sum adds the same terms in the same order as there.
template <typename T, typename A>
void scatter_max_gradient_channels_last(const PoolGeometry& g, const T* dy, const int64_t* indices, T* dx) {
  constexpr int64_t kChunk = 64;
  const int64_t plane_in = g.in[0] * g.in[1] * g.in[2], plane_out = g.out[0] * g.out[1] * g.out[2];
  const int64_t chunks = (g.C + kChunk - 1) / kChunk;
  parallel_for(0, g.N * chunks, grain_for((plane_in + plane_out) * kChunk), [&](int64_t begin, int64_t end) {
    std::vector<A> sums;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / chunks, c0 = task % chunks * kChunk, width = std::min(kChunk, g.C - c0);
      sums.assign(plane_in * width, A(0));
      for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
        for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
          for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
            const int64_t* from = indices + n * g.z[0] + o0 * g.z[2] + o1 * g.z[3] + o2 * g.z[4] + c0;
            const T* grad = dy + n * g.y[0] + o0 * g.y[2] + o1 * g.y[3] + o2 * g.y[4] + c0;
            for (int64_t c = 0; c < width; ++c)  // (an index outside the plane is skipped, as above)
              if (from[c] >= 0 && from[c] < plane_in) sums[from[c] * width + c] += static_cast<A>(grad[c]);
          }
      const A* sum = sums.data();
      for (int64_t p0 = 0; p0 < g.in[0]; ++p0)
        for (int64_t p1 = 0; p1 < g.in[1]; ++p1)
          for (int64_t p2 = 0; p2 < g.in[2]; ++p2, sum += width) {
            T* out = dx + n * g.x[0] + p0 * g.x[2] + p1 * g.x[3] + p2 * g.x[4] + c0;
            for (int64_t c = 0; c < width; ++c) out[c] = convert<T>(sum[c]);
          }
    }
  });
}

// Max pooling over 1-2 spatial dims (3-d calls with one depth) without
// dilation: a task is a run of output rows, each window read through row
// pointers (the general walk steps three coordinates and multiplies five
// strides a tap). The same window rule and tie/NaN rule as pool_forward_at.
bool plain_max_2d(const PoolGeometry& g) {
  return g.kind == kPoolMax && g.in[0] == 1 && g.out[0] == 1 && g.window[0] == 1 && g.dilation[1] == 1 &&
         g.dilation[2] == 1 && !g.channels_last;
}

template <typename T, typename A>
void max_pool_rows(const PoolGeometry& g, const T* x, T* y, int64_t* indices) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  parallel_for(0, g.N * g.C * OH, grain_for(OW * g.window[1] * g.window[2]), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t oh = r % OH, plane = r / OH, c = plane % g.C, n = plane / g.C;
      const T* xp = x + n * g.x[0] + c * g.x[1];
      T* yp = y + n * g.y[0] + c * g.y[1] + oh * g.y[3];
      int64_t* ip = indices ? indices + n * g.z[0] + c * g.z[1] + oh * g.z[3] : nullptr;
      const int64_t step = g.x[4], h0 = oh * g.stride[1] - g.padding[1];
      const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h0 + g.window[1], H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = ow * g.stride[2] - g.padding[2];
        const int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w0 + g.window[2], W);
        // An empty window (only with padding past the input) gives 0 at its first tap's index.
        A best = hs < he && ws < we ? static_cast<A>(xp[hs * g.x[3] + ws * step]) : A(0);
        int64_t at = hs * W + ws;
        for (int64_t h = hs; h < he; ++h) {
          const T* row = xp + h * g.x[3];
          for (int64_t w = ws; w < we; ++w) {
            const A v = static_cast<A>(row[w * step]);
            if (v > best || v != v) {  // the first largest; v != v: NaN, which always wins
              best = v;
              at = h * W + w;
            }
          }
        }
        yp[ow * g.y[4]] = convert<T>(best);
        if (ip) ip[ow * g.z[4]] = at;
      }
    }
  });
}

// The same pooling of a channels-last input and output (channels dense; the
// output's is what channels_last says): a
// task is a run of output positions, each window's taps read as runs of C
// channels, the comparison branch-free across the channels and the indices
// kept in 32 bits (a plane's positions fit) so that it vectorizes (the
// per-element walk read one channel a window: 25x torch's time on a
// [1, 64, 112, 112] input).
bool plain_max_2d_channels_last(const PoolGeometry& g, bool with_indices) {
  return g.kind == kPoolMax && g.in[0] == 1 && g.out[0] == 1 && g.window[0] == 1 && g.dilation[1] == 1 &&
         g.dilation[2] == 1 && g.channels_last && g.x[1] == 1 && (!with_indices || g.z[1] == 1) &&
         g.in[1] * g.in[2] <= INT32_MAX;
}

template <typename T, typename A>
void max_pool_channels_last(const PoolGeometry& g, const T* x, T* y, int64_t* indices) {
  const int64_t C = g.C, H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  parallel_for(0, g.N * OH * OW, grain_for(C * g.window[1] * g.window[2]), [&](int64_t r0, int64_t r1) {
    std::vector<A> best(C);
    std::vector<int32_t> best_at(indices ? C : 0);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ow = r % OW, oh = (r / OW) % OH, n = r / (OW * OH);
      const T* xp = x + n * g.x[0];
      const int64_t h0 = oh * g.stride[1] - g.padding[1], w0 = ow * g.stride[2] - g.padding[2];
      const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h0 + g.window[1], H);
      const int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w0 + g.window[2], W);
      // The first tap starts every channel (an empty window, only with padding past the input, gives 0 at its
      // first tap's index), then the first largest wins, and NaN always does, as pool_forward_at.
      const bool empty = !(hs < he && ws < we);
      if (empty) {
        std::fill(best.begin(), best.end(), A(0));
      } else {
        const T* first = xp + hs * g.x[3] + ws * g.x[4];
        for (int64_t c = 0; c < C; ++c) best[c] = static_cast<A>(first[c]);
      }
      if (indices) std::fill(best_at.begin(), best_at.end(), static_cast<int32_t>(hs * W + ws));
      for (int64_t h = hs; h < he; ++h)
        for (int64_t w = ws; w < we; ++w) {
          const T* tap = xp + h * g.x[3] + w * g.x[4];
          A* b = best.data();
          if (indices) {
            int32_t* at = best_at.data();
            const int32_t index = static_cast<int32_t>(h * W + w);
            for (int64_t c = 0; c < C; ++c) {
              const A v = static_cast<A>(tap[c]);
              const bool take = v > b[c] || v != v;
              b[c] = take ? v : b[c];
              at[c] = take ? index : at[c];
            }
          } else {
            for (int64_t c = 0; c < C; ++c) {
              const A v = static_cast<A>(tap[c]);
              b[c] = v > b[c] || v != v ? v : b[c];
            }
          }
        }
      T* yp = y + n * g.y[0] + oh * g.y[3] + ow * g.y[4];
      for (int64_t c = 0; c < C; ++c) yp[c] = convert<T>(best[c]);
      if (indices) std::copy(best_at.begin(), best_at.end(), indices + n * g.z[0] + oh * g.z[3] + ow * g.z[4]);
    }
  });
}

}  // namespace

int k_pool(const gems_kernel_call* c) {
  const PoolOperands op(c, false);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, PoolOperands::kExpected);
  const PoolGeometry& g = op.g;
  const bool max = pool_is_max(g);
  int64_t* indices = op.indices ? reinterpret_cast<int64_t*>(base_ptr(*op.indices)) : nullptr;
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    const T* x = reinterpret_cast<const T*>(base_ptr(*op.x));
    T* y = reinterpret_cast<T*>(base_ptr(*op.y));
    if (plain_max_2d(g)) {
      max_pool_rows<T, A>(g, x, y, indices);
      return;
    }
    if (plain_max_2d_channels_last(g, indices != nullptr)) {
      max_pool_channels_last<T, A>(g, x, y, indices);
      return;
    }
    auto load = [x](int64_t at) { return static_cast<A>(x[at]); };
    parallel_for(0, op.count(), grain_for(taps_per_element(op)), [&](int64_t begin, int64_t end) {
      int64_t n, ch, o[3], index;
      pool_coords<int64_t>(g, g.out, begin, n, ch, o);
      for (int64_t i = begin; i < end; ++i, pool_next(g, g.out, n, ch, o)) {
        const A v = pool_forward_at<A, int64_t>(g, n, ch, o, load, index);
        y[n * g.y[0] + ch * g.y[1] + o[0] * g.y[2] + o[1] * g.y[3] + o[2] * g.y[4]] = convert<T>(v);
        if (indices) indices[n * g.z[0] + ch * g.z[1] + o[0] * g.z[2] + o[1] * g.z[3] + o[2] * g.z[4]] = index;
      }
    });
  };
  const bool ok = max ? dispatch_dtype<kNumeric>(op.x->dtype, run) : dispatch_dtype<kPoolAverageDtypes>(op.x->dtype, run);
  return ok ? GEMS_OK : unsupported_dtype("pool", op.x->dtype);
}

int k_pool_backward(const gems_kernel_call* c) {
  const PoolOperands op(c, true);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, PoolOperands::kExpected);
  const PoolGeometry& g = op.g;
  const int64_t* indices = op.indices ? reinterpret_cast<const int64_t*>(base_ptr(*op.indices)) : nullptr;
  const bool ok = dispatch_dtype<kFloating>(op.x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    const T* dy = reinterpret_cast<const T*>(base_ptr(*op.y));
    T* dx = reinterpret_cast<T*>(base_ptr(*op.x));
    if (pool_is_max(g) && g.channels_last && g.y[1] == 1 && g.z[1] == 1) {  // channels_last: dx's channels dense
      scatter_max_gradient_channels_last<T, A>(g, dy, indices, dx);
      return;
    }
    if (pool_is_max(g)) {
      scatter_max_gradient<T, A>(g, dy, indices, dx);
      return;
    }
    auto grad = [dy](int64_t at) { return static_cast<A>(dy[at]); };
    auto index = [indices](int64_t at) { return indices[at]; };
    parallel_for(0, op.count(), grain_for(taps_per_element(op)), [&](int64_t begin, int64_t end) {
      int64_t n, ch, p[3];
      pool_coords<int64_t>(g, g.in, begin, n, ch, p);
      for (int64_t i = begin; i < end; ++i, pool_next(g, g.in, n, ch, p)) {
        dx[n * g.x[0] + ch * g.x[1] + p[0] * g.x[2] + p[1] * g.x[3] + p[2] * g.x[4]] =
            convert<T>(pool_backward_at<A, int64_t>(g, n, ch, p, grad, index));
      }
    });
  });
  return ok ? GEMS_OK : unsupported_dtype("pool_backward", op.x->dtype);
}

// One level of interpolate_at's nested sums over a run of len outputs: sum =
// part * w for the level's first tap, else sum + part * w. Where the level
// has one tap of weight exactly 1 (a padded dim, nearest resampling) its sum
// is its part, bit for bit: the pass is skipped and part returned.
template <typename A>
const A* add_level(A* __restrict__ sum, const A* __restrict__ part, A w, int64_t k, int64_t taps, int64_t len) {
  if (taps == 1 && w == A(1)) return part;
  if (k == 0)
    for (int64_t i = 0; i < len; ++i) sum[i] = part[i] * w;
  else
    for (int64_t i = 0; i < len; ++i) sum[i] = sum[i] + part[i] * w;
  return sum;
}

// interpolate's sums in A over x of T, each output written as store(sum):
// the floating dtypes sum in their opmath type and round once; uint8 sums
// fixed-point weights in int32 (fixed_point_to_uint8).
template <typename T, typename A, typename Store>
void interpolate_as(const InterpolateOperands& op, Store store) {
  const InterpolateGeometry& g = op.g;
  const int pad = 3 - op.dims;
  const T* x = reinterpret_cast<const T*>(base_ptr(*op.x));
  T* y = reinterpret_cast<T*>(base_ptr(*op.y));
  const int64_t* index[3] = {};
  const A* weight[3] = {};
  for (int d = pad; d < 3; ++d) {
    index[d] = reinterpret_cast<const int64_t*>(base_ptr(*op.index[d - pad]));
    weight[d] = reinterpret_cast<const A*>(base_ptr(*op.weight[d - pad]));
  }
  auto at_index = [&](int d, int64_t k, int64_t o) { return index[d] ? index[d][k * g.out[d] + o] : int64_t{0}; };
  auto at_weight = [&](int d, int64_t k, int64_t o) { return weight[d] ? weight[d][k * g.out[d] + o] : A(1); };
  auto load = [x](int64_t at) { return static_cast<A>(x[at]); };
  const int64_t K0 = g.taps[0], K1 = g.taps[1], K2 = g.taps[2];
  // Channels-last with few channels (images: 3 or 4) runs the row path below
  // with strided rows: sums over a position's channels at once pay a loop
  // per tap for three elements (8x3x224x224 bilinear upsampling: 13.5 ms
  // that way, against torch's 5.6).
  const bool few_channels = g.C < 16;
  if (g.channels_last && g.x[1] == 1 && g.y[1] == 1 && !few_channels) {
    // Channels-last input and output: a task a run of spatial positions,
    // each one's C channels contiguous on both sides. A position's taps are
    // the same for all its channels, so each sum of interpolate_at runs over
    // the channels at once, in the same order for every channel.
    const int64_t C = g.C, O0 = g.out[0], O1 = g.out[1], O2 = g.out[2];
    parallel_for(0, g.N * O0 * O1 * O2, grain_for(C * K0 * K1 * K2), [&](int64_t begin, int64_t end) {
      std::vector<A> sums(3 * C);
      A* __restrict__ inner = sums.data();
      A* __restrict__ middle = inner + C;
      A* __restrict__ outer = middle + C;
      for (int64_t r = begin; r < end; ++r) {
        const int64_t o[3] = {r / (O1 * O2) % O0, r / O2 % O1, r % O2}, n = r / (O0 * O1 * O2);
        const A *mid = middle, *sum = outer;
        for (int64_t k0 = 0; k0 < K0; ++k0) {
          for (int64_t k1 = 0; k1 < K1; ++k1) {
            const T* at = x + n * g.x[0] + at_index(0, k0, o[0]) * g.x[2] + at_index(1, k1, o[1]) * g.x[3];
            for (int64_t k2 = 0; k2 < K2; ++k2) {
              const T* __restrict__ src = at + at_index(2, k2, o[2]) * g.x[4];
              const A w2 = at_weight(2, k2, o[2]);
              if (k2 == 0)
                for (int64_t ch = 0; ch < C; ++ch) inner[ch] = static_cast<A>(src[ch]) * w2;
              else
                for (int64_t ch = 0; ch < C; ++ch) inner[ch] = inner[ch] + static_cast<A>(src[ch]) * w2;
            }
            mid = add_level(middle, inner, at_weight(1, k1, o[1]), k1, K1, C);
          }
          sum = add_level(outer, mid, at_weight(0, k0, o[0]), k0, K0, C);
        }
        T* __restrict__ out = y + n * g.y[0] + o[0] * g.y[2] + o[1] * g.y[3] + o[2] * g.y[4];
        for (int64_t ch = 0; ch < C; ++ch) out[ch] = store(sum[ch]);
      }
    });
    return;
  }
  if (g.channels_last && !few_channels) {
    parallel_for(0, op.count(), grain_for(K0 * K1 * K2), [&](int64_t begin, int64_t end) {
      int64_t n, ch, o[3];
      interpolate_coords<int64_t>(g, begin, n, ch, o);
      for (int64_t i = begin; i < end; ++i, interpolate_next(g, n, ch, o))
        y[interpolate_offset<int64_t>(g, n, ch, o)] =
            store(interpolate_at<A, int64_t>(g, n, ch, o, at_index, at_weight, load));
    });
    return;
  }
  // Memory order: a task a run of output rows along the last dim. A row's
  // outer taps (dims 0 and 1) are fixed, so each sum of interpolate_at
  // runs over the whole row at once (its outputs are independent: no chain
  // of dependent adds per output), in the same order for every output.
  const int64_t O2 = g.out[2], step = g.x[4];
  const int64_t rows = g.N * g.C * g.out[0] * g.out[1];
  const int64_t* i2 = index[2];
  const A* w2 = weight[2];
  // The last dim passed through (one tap of weight 1 at each output's own
  // position: the other dim's pass of a separable resize): rows are read
  // straight, not gathered (x * 1 is x, bit for bit).
  bool through = K2 == 1 && O2 == g.in[2];
  for (int64_t o2 = 0; through && o2 < O2; ++o2) through = i2[o2] == o2 && w2[o2] == A(1);
  parallel_for(0, rows, grain_for(O2 * K0 * K1 * K2), [&](int64_t begin, int64_t end) {
    std::vector<A> inner(O2), middle(O2), outer(O2);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t o1 = r % g.out[1], o0 = r / g.out[1] % g.out[0], ch = r / (g.out[1] * g.out[0]) % g.C,
                    n = r / (g.out[1] * g.out[0] * g.C);
      const A *mid = middle.data(), *sum = outer.data();
      for (int64_t k0 = 0; k0 < K0; ++k0) {
        for (int64_t k1 = 0; k1 < K1; ++k1) {
          const T* row = x + n * g.x[0] + ch * g.x[1] + at_index(0, k0, o0) * g.x[2] + at_index(1, k1, o1) * g.x[3];
          if (through)
            for (int64_t o2 = 0; o2 < O2; ++o2) inner[o2] = static_cast<A>(row[o2 * step]);
          else
            for (int64_t o2 = 0; o2 < O2; ++o2) inner[o2] = static_cast<A>(row[i2[o2] * step]) * w2[o2];
          for (int64_t k2 = 1; k2 < K2; ++k2) {
            const int64_t* ik = i2 + k2 * O2;
            const A* wk = w2 + k2 * O2;
            for (int64_t o2 = 0; o2 < O2; ++o2) inner[o2] = inner[o2] + static_cast<A>(row[ik[o2] * step]) * wk[o2];
          }
          mid = add_level(middle.data(), inner.data(), at_weight(1, k1, o1), k1, K1, O2);
        }
        sum = add_level(outer.data(), mid, at_weight(0, k0, o0), k0, K0, O2);
      }
      T* out = y + n * g.y[0] + ch * g.y[1] + o0 * g.y[2] + o1 * g.y[3];
      for (int64_t o2 = 0; o2 < O2; ++o2) out[o2 * g.y[4]] = store(sum[o2]);
    }
  });
}

int k_interpolate(const gems_kernel_call* c) {
  const InterpolateOperands op(c);
  if (!op.ok) return set_error(GEMS_INVALID_ARGUMENT, InterpolateOperands::kExpected);
  if (op.x->dtype == GEMS_UINT8) {
    interpolate_as<uint8_t, int32_t>(op, [p = op.precision](int32_t sum) { return fixed_point_to_uint8(sum, p); });
    return GEMS_OK;
  }
  const bool ok = dispatch_dtype<kFloating>(op.x->dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    interpolate_as<T, acc_t<T>>(op, [](acc_t<T> sum) { return convert<T>(sum); });
  });
  return ok ? GEMS_OK : unsupported_dtype("interpolate", op.x->dtype);
}

}  // namespace gems::cpu
