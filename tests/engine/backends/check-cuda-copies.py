#!/usr/bin/env python3
# The CUDA backend copies to the device only in ways its non-blocking streams are ordered with (the GPU
# suite cannot run here, so this structural check guards what it found). cudaMemcpy from pageable host
# memory may return before the DMA to the device is done, and it and cudaMemset run on the legacy stream,
# which the backend's streams (all cudaStreamNonBlocking) do not wait for: a kernel queued next can read
# the bytes that were there before (test-cuda-prefetch's fp8 comparisons failed that way). Host-to-device
# copies go through kc_h2d or kc_upload; fills through cudaMemsetAsync on a stream.
#
# Fails, naming file and line, on: cudaMemcpy( whose direction is not cudaMemcpyDeviceToHost (a read-back,
# which waits for its copy; the caller synchronizes the stream first), cudaMemset(, cudaMemcpyToSymbol(
# and kernel launches on stream 0. The scanner first checks itself on a sample with known violations.
# TAP output. usage: check-cuda-copies.py SOURCE_ROOT
import os
import re
import sys

CALL = re.compile(r"\b(cudaMemcpy|cudaMemset|cudaMemcpyToSymbol)\s*\(")
LAUNCH0 = re.compile(r"<<<[^>]*,\s*(0|NULL|nullptr)\s*>>>")


def strip_comments(text):
    """The text with comments blanked (newlines kept, so line numbers hold); strings are left as they are."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(c if c == "\n" else " " for c in text[i:j]))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def call_args(text, start):
    """The argument text of the call whose '(' is at start (to its matching ')')."""
    depth, i = 0, start
    while i < len(text):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
        i += 1
    return text[start + 1:]


def violations(text):
    """[(line, what)] for one source text."""
    text = strip_comments(text)
    found = []
    for m in CALL.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        name = m.group(1)
        if name == "cudaMemcpy" and "cudaMemcpyDeviceToHost" in call_args(text, m.end() - 1):
            continue
        found.append((line, name + "(" if name != "cudaMemcpy" else "cudaMemcpy( not to the host"))
    for m in LAUNCH0.finditer(text):
        found.append((text.count("\n", 0, m.start()) + 1, "a kernel launched on stream 0"))
    return sorted(found)


SAMPLE = """
// cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice) in a comment is fine
static int f(void * d, const void * h, void * b, size_t n, cudaStream_t s)
{
    float x;
    cudaMemcpy(&x, d, 4, cudaMemcpyDeviceToHost);
    cudaMemcpy(d, h,
               n, cudaMemcpyHostToDevice);
    cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, s);
    cudaMemset(b, 0, n);
    cudaMemsetAsync(b, 0, n, s);
    k<<<1, 256, 0, s>>>(b);
    k<<<1, 256, 0, 0>>>(b);
    /* cudaMemset(b, 0, n); */
    return cudaMemcpy(b, d, n, cudaMemcpyDeviceToDevice);
}
"""


def main():
    n, failed = 0, 0

    def report(ok, what):
        nonlocal n, failed
        n += 1
        failed += 0 if ok else 1
        print(("ok" if ok else "not ok") + " %d - %s" % (n, what))

    got = violations(SAMPLE)
    want = [(7, "cudaMemcpy( not to the host"), (10, "cudaMemset("), (13, "a kernel launched on stream 0"),
            (15, "cudaMemcpy( not to the host")]
    report(got == want, "the scanner finds the sample's four violations and nothing else (found %s)" % got)

    root = os.path.join(sys.argv[1], "engine", "backends", "cuda")
    files = sorted(f for f in os.listdir(root) if f.endswith((".c", ".cu", ".h")))
    report(len(files) >= 10, "the CUDA backend's sources are there (%d files in %s)" % (len(files), root))
    bad = []
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8") as fh:
            bad += ["%s:%d: %s" % (f, line, what) for line, what in violations(fh.read())]
    for b in bad:
        print("# " + b)
    report(not bad, "no copy or fill the backend's non-blocking streams are not ordered with (%d found)" % len(bad))
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
