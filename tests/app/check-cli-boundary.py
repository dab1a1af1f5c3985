#!/usr/bin/env python3
# kinora-cli uses the public engine headers only (issue: boundaries that hold). Reads the build's
# compile_commands.json and fails when a kinora-cli source is compiled with an include path into the
# engine other than engine/include, or with an engine-only define (-DKE_HAVE_*, which only
# engine_internal_dep carries). kinora-bench, an internal tool, is checked to be the one that does.
# usage: check-cli-boundary.py SOURCE_ROOT BUILD_ROOT
import json
import os
import shlex
import sys


def include_dirs(entry):
    args = shlex.split(entry["command"]) if "command" in entry else entry["arguments"]
    dirs, defines = [], []
    for i, a in enumerate(args):
        if a.startswith("-I") and len(a) > 2:
            dirs.append(a[2:])
        elif a == "-I" and i + 1 < len(args):
            dirs.append(args[i + 1])
        elif a.startswith("-DKE_"):
            defines.append(a)
    return [os.path.realpath(os.path.join(entry["directory"], d)) for d in dirs], defines


def main():
    src, build = (os.path.realpath(p) for p in sys.argv[1:3])
    engine = os.path.join(src, "engine")
    public = os.path.join(engine, "include")
    with open(os.path.join(build, "compile_commands.json")) as f:
        db = json.load(f)
    cli = [e for e in db if "kinora-cli.p" in e["output"]]
    bench = [e for e in db if "kinora-bench.p" in e["output"]]
    if not cli or not bench:
        print("FAIL: no kinora-cli or kinora-bench sources in compile_commands.json")
        return 1
    bad = 0
    for e in cli:
        dirs, defines = include_dirs(e)
        internal = [d for d in dirs if (d == engine or d.startswith(engine + os.sep)) and d != public]
        if internal or defines:
            print(f"FAIL: {e['file']}: kinora-cli compiled with engine internals: {internal + defines}")
            bad += 1
        elif public not in dirs:
            print(f"FAIL: {e['file']}: kinora-cli does not see engine/include")
            bad += 1
        else:
            path = os.path.normpath(os.path.join(e["directory"], e["file"]))
            print(f"ok: {os.path.relpath(path, src)}: engine/include only")
    # the contrast: the internal benchmark does see the engine tree, so the check above can fail
    if not any(engine in include_dirs(e)[0] for e in bench):
        print("FAIL: kinora-bench has no engine include path: the check cannot tell internals apart")
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
