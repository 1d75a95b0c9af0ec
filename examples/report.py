"""How the examples report where op calls ran: gems kernels or the fallback."""
import flag_gems


def print_op_report():
    native, fallback = flag_gems.native_counts(), flag_gems.fallback_counts()
    print(f"op calls: {sum(native.values())} on gems kernels, {sum(fallback.values())} through the fallback")
    if fallback:
        print("fallback ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(fallback.items(), key=lambda kv: -kv[1])))
