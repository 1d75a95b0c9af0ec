// Switching gems kernels on and off, counters and the op log (op_table.cpp).
#pragma once
#include <c10/core/DispatchKey.h>

#include <map>
#include <string>
#include <vector>

namespace gems {

// Every aten overload in the op table ("add.Tensor", ...).
std::vector<std::string> all_overloads();
// Registers exactly these overloads on the gems key, and these on the
// vendor's native key (patch mode); everything else falls back.
void set_enabled_ops(const std::vector<std::string>& gems_ops, const std::vector<std::string>& native_ops);
std::vector<std::string> enabled_ops(bool native);
c10::DispatchKey native_key();
// Whether scaled_dot_product_attention may pick gems' fused attention (its
// overrideable op is switched on); set by set_enabled_ops (ops_attention.cpp).
void set_fused_attention_enabled(bool on);

std::map<std::string, uint64_t> native_counts();
void reset_native_counts();
void set_record(bool on, const std::string& path);

}  // namespace gems
