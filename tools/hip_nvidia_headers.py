"""A private copy of the system's HIP headers that compiles for HIP's NVIDIA
platform against CUDA 13 (the amd vendor's test variant: backends/amd's HIP
code built with nvcc and run on an NVIDIA card).

Debian 12's HIP 5.2 maps HIP calls onto CUDA APIs that CUDA 13 removed or
changed (texture references, multi-device cooperative launch, cudaDeviceProp's
clock fields, graph-edge and stream-capture signatures, cuCtxCreate, the
memory advice calls). In the copy, each such statement is kept for older CUDA
and, from CUDART_VERSION 13000 on, replaced by hipErrorNotSupported (calls) or
left out (fields, cases, templates over texture<>). The system's files are never
touched.

    python tools/hip_nvidia_headers.py OUT_DIR [--hip-include /usr/include/hip]
"""
import argparse
import re
import shutil
from pathlib import Path

# CUDA calls that CUDA 13 removed or whose signature it changed.
GONE_CALLS = ["cudaBindTexture2D", "cudaBindTextureToArray", "cudaBindTexture", "cudaUnbindTexture",
              "cudaGetTextureAlignmentOffset", "cudaGetTextureReference", "cudaLaunchCooperativeKernelMultiDevice",
              "cudaGraphAddDependencies", "cudaGraphRemoveDependencies", "cudaGraphGetEdges",
              "cudaGraphNodeGetDependencies", "cudaGraphNodeGetDependentNodes", "cudaStreamGetCaptureInfo_v2",
              "cudaStreamUpdateCaptureDependencies", "cuCtxCreate", "cudaMemAdvise", "cudaMemPrefetchAsync"]
# cudaDeviceProp fields and attributes CUDA 13 removed.
GONE_NAMES = ["clockRate", "memoryClockRate", "computeMode", "cooperativeMultiDeviceLaunch",
              "kernelExecTimeoutEnabled", "maxTexture1DLinear", "cudaDevAttrCooperativeMultiDeviceLaunch"]
NEW = "CUDART_VERSION >= 13000"


def guard_returns(text):
    """return <call to a gone API>(...); -> not supported from CUDA 13 on."""
    calls = "|".join(map(re.escape, GONE_CALLS))
    pattern = re.compile(r"^([ \t]*)return\b[^;]*?\b(?:%s)\s*\([^;]*;" % calls, re.M | re.S)
    return pattern.sub(lambda m: f"#if {NEW}\n{m.group(1)}return hipErrorNotSupported;\n#else\n{m.group(0)}\n#endif",
                       text)


def guard_lines(text):
    """Statements and cases naming a gone field or attribute are left out from CUDA 13 on."""
    names = "|".join(map(re.escape, GONE_NAMES))
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if re.search(r"(\.|->|\b)(%s)\b" % names, line) and not line.lstrip().startswith(("#", "//", "*")):
            block = [line]
            # a case label takes its statement and break with it
            if line.strip().startswith("case ") and i + 2 < len(lines) and lines[i + 2].strip() == "break;":
                block += lines[i + 1:i + 3]
                i += 2
            elif line.strip().startswith("case ") and i + 1 < len(lines):
                pass
            out += [f"#if !({NEW})"] + block + ["#endif"]
        else:
            out.append(line)
        i += 1
    return "\n".join(out)


def guard_texture_templates(text):
    """Templates over texture<T, dim, readMode> (gone with texture references)."""
    out, pos = [], 0
    head = re.compile(r"^template\s*<[^>]*cudaTextureReadMode[^>]*>", re.M)
    for m in head.finditer(text):
        if m.start() < pos:
            continue
        body = text.index("{", m.end())
        depth, k = 0, body
        while True:
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            if depth == 0:
                break
            k += 1
        out += [text[pos:m.start()], f"#if !({NEW})\n", text[m.start():k + 1], "\n#endif"]
        pos = k + 1
    out.append(text[pos:])
    return "".join(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--hip-include", default="/usr/include/hip")
    args = parser.parse_args()
    target = Path(args.out) / "hip"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(args.hip_include, target)
    api = target / "nvidia_detail" / "nvidia_hip_runtime_api.h"
    text = api.read_text()
    text = guard_lines(guard_returns(guard_texture_templates(text)))
    api.write_text(text)
    print(target)


if __name__ == "__main__":
    main()
