#!/usr/bin/env python3
"""LoRA test: for each format (make_lora.py), `kinora-cli eval dit` with the LoRA at run time (and with
--lora-merge) equals eval dit on the weights merged by numpy, on the tiny DiT fixtures; and the errors and
warnings users see for a LoRA of another model, a LoRA matching nothing, and unmatched keys.

Usage: test_lora.py KINORA_CLI FIXTURES_DIR [--backend cuda]
Tolerance: |got - ref| <= 1e-4 + 1e-4 |ref| on every output: both runs are fp32; they differ only in the
order of the sums (W x + s B (A x) against (W + s B A) x, and the deltas rounded once into f32 weights),
a few fp32 ulps per Linear through two blocks; the module fixtures allow the same 1e-4 (their README).
The CUDA run computes in bf16: there the bound is 2e-2 relative L2, as the DiT parity checks use.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import numpy as np
except ImportError:
    sys.exit("FAIL: numpy is missing (python3-numpy, installed by tools/install-deps.sh --test)")
sys.path.insert(0, HERE)
import make_lora  # noqa: E402

FAILS = []


def check(ok, what):
    print(("ok     " if ok else "FAILED ") + what)
    if not ok:
        FAILS.append(what)


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return p.returncode, p.stderr


def outputs(path):
    t, _ = make_lora.read_st(path)
    return t


def compare(got, ref, what, cuda):
    worst = 0.0
    for k, r in ref.items():
        if k not in got:
            check(False, "%s: output %s missing" % (what, k))
            return
        g, r = got[k].astype(np.float64), r.astype(np.float64)
        if cuda:
            e = np.linalg.norm(g - r) / max(np.linalg.norm(r), 1e-30)
            bad = not (e <= 2e-2)
        else:
            e = np.max(np.abs(g - r) - 1e-4 * np.abs(r))
            bad = not (e <= 1e-4)
        worst = max(worst, e)
        if bad:
            check(False, "%s: %s off by %.3g" % (what, k, e))
            return
    check(True, "%s (worst %.3g)" % (what, worst))


def narrow_weights(cli, fx, tmp, backend, cuda):
    """The LoRA beside weights stored narrower than f32: the Linear weights of dit_ti2v_tiny as float8_e4m3
    (a quantized file: --lora-merge keeps run-time terms there) and as bf16 (--lora-merge rounds the merged
    weight to bf16). Reference: numpy merges into the stored values (decoded exactly) in float64. Run-time
    terms: the fp32 bound as above (the narrow weight is read exactly); merged into bf16: each merged weight
    rounds to 8 bits of mantissa (2^-9 relative), so 1e-2 relative L2 on the outputs."""
    w, meta = make_lora.read_st("%s/dit_ti2v_tiny.weights.safetensors" % fx)
    io = "%s/dit_ti2v_tiny.io.safetensors" % fx
    s = 0.9
    t, d = make_lora.make("lightx2v", w, 31)
    lora = "%s/narrow.lightx2v.safetensors" % tmp
    make_lora.write_st(lora, t)
    table = make_lora.f8e4m3_table()
    for dt in ("F8_E4M3", "BF16"):
        stored, decoded = {}, {}
        for k, v in w.items():
            if k.endswith(".weight") and v.ndim == 2:
                code = make_lora.to_f8e4m3(v) if dt == "F8_E4M3" else make_lora.to_bf16(v)
                stored[k] = (dt, code)
                decoded[k] = table[code] if dt == "F8_E4M3" else (code.astype(np.uint32) << 16).view(np.float32)
            else:
                stored[k] = ("F32", v)
                decoded[k] = v
        base = "%s/narrow-%s.safetensors" % (tmp, dt)
        make_lora.write_st(base, stored, meta)
        merged = "%s/narrow-%s.merged.safetensors" % (tmp, dt)
        make_lora.write_st(merged, {k: ("F32", (v.astype(np.float64) + s * d.get(k, 0)).astype(np.float32))
                                    for k, v in decoded.items()}, meta)
        outs = {}
        for tag, args in (("ref", ["--weights", merged]), ("rt", ["--weights", base, "--lora", "%s:%g" % (lora, s)]),
                          ("cm", ["--weights", base, "--lora", "%s:%g" % (lora, s), "--lora-merge"])):
            out = "%s/narrow-%s.%s.out" % (tmp, dt, tag)
            rc, err = run([cli, "eval", "dit", "--in", io, "--out", out] + args + backend)
            if rc:
                check(False, "%s weights with a LoRA (%s): %s" % (dt, tag, err.strip()))
                return
            outs[tag] = outputs(out)
        compare(outs["rt"], outs["ref"], "%s weights: run-time LoRA = numpy-merged" % dt, cuda)
        if dt == "BF16" and not cuda:
            num = sum(float(np.sum((outs["cm"][k] - r.astype(np.float64)) ** 2)) for k, r in outs["ref"].items())
            den = sum(float(np.sum(r.astype(np.float64) ** 2)) for r in outs["ref"].values())
            e = (num / den) ** 0.5
            check(e <= 1e-2, "BF16 weights: --lora-merge into bf16 = numpy-merged (relative L2 %.3g)" % e)
        else:
            compare(outs["cm"], outs["ref"], "%s weights: --lora-merge (run-time terms kept) = numpy-merged" % dt, cuda)


def a14b_experts(cli, fx, tmp, backend, cuda):
    """I2V-A14B: one LoRA with a strength per expert through the whole 4-step pipeline (eval pipeline),
    against the two experts' weights merged by numpy at those strengths; the swapped strengths must not
    match (each expert got its own). Tolerance as for the single DiT (1e-4 + 1e-4 relative, within the
    pipeline fixtures' 5e-4: the fp32 differences of the sums stay ulps through 4 guided steps and the VAE;
    seen 5e-6)."""
    io = "%s/pipeline_i2v_a14b_tiny.io.safetensors" % fx
    meta = make_lora.read_st(io)[1]
    hi_w, hi_meta = make_lora.read_st("%s/%s" % (fx, meta["dit_high"]))
    lo_w, lo_meta = make_lora.read_st("%s/%s" % (fx, meta["dit_low"]))
    s_low, s_high = 0.7, 1.3
    t, d = make_lora.make("lightx2v", hi_w, 77)
    lora = "%s/a14b.lightx2v.safetensors" % tmp
    make_lora.write_st(lora, t)
    mdir = "%s/a14b-merged" % tmp
    os.makedirs(mdir, exist_ok=True)
    for w, wm, s, name in ((hi_w, hi_meta, s_high, meta["dit_high"]), (lo_w, lo_meta, s_low, meta["dit_low"])):
        merged = {k: ("F32", (v.astype(np.float64) + s * d.get(k, 0)).astype(np.float32)) for k, v in w.items()}
        make_lora.write_st("%s/%s" % (mdir, name), merged, wm)
    if not os.path.exists("%s/%s" % (mdir, meta["vae"])):
        os.symlink(os.path.abspath("%s/%s" % (fx, meta["vae"])), "%s/%s" % (mdir, meta["vae"]))
    runs = {}
    for tag, args in (("merged", ["--weights-dir", mdir]),
                      ("lora", ["--weights-dir", fx, "--lora", "%s:%g:%g" % (lora, s_low, s_high)]),
                      ("swapped", ["--weights-dir", fx, "--lora", "%s:%g:%g" % (lora, s_high, s_low)])):
        out = "%s/a14b.%s.out" % (tmp, tag)
        rc, err = run([cli, "eval", "pipeline", "--in", io, "--out", out] + args + backend)
        if rc:
            check(False, "I2V-A14B pipeline with a LoRA (%s): %s" % (tag, err.strip()))
            return
        runs[tag] = outputs(out)
    ref = runs["merged"]
    compare(runs["lora"], ref, "I2V-A14B: LoRA at %g (low) / %g (high) = experts merged by numpy" % (s_low, s_high),
            cuda)
    worst_swapped = max(float(np.max(np.abs(runs["swapped"][k] - r.astype(np.float64)))) for k, r in ref.items())
    check(worst_swapped > 1e-2, "I2V-A14B: swapped strengths give another result (max difference %.3g)"
          % worst_swapped)


def generate(cli, fx, tmp, backend):
    """kinora-cli generate --lora on the tiny model (its DiT has the shapes of dit_ti2v_tiny): the LoRA
    changes the video, the sidecar records it (absolute path, both strengths), --from restores it (the same
    bytes: the tiny model is exact fp32), and a later --lora replaces it."""
    w, _ = make_lora.read_st("%s/dit_ti2v_tiny.weights.safetensors" % fx)
    t, _ = make_lora.make("lightx2v", w, 9)
    lora = "%s/gen.lightx2v.safetensors" % tmp
    make_lora.write_st(lora, t)
    common = [cli, "generate", "--model", "tiny", "--prompt", "a red fox", "--seed", "5", "--steps", "2", "--quiet"]
    gifs = {x: "%s/gen-%s.gif" % (tmp, x) for x in ("base", "lora", "again", "other")}
    rc0, e0 = run(common + ["-o", gifs["base"]] + backend)
    rc1, e1 = run(common + ["--lora", lora + ":0.8:0.4", "-o", gifs["lora"]] + backend)
    if rc0 or rc1:
        check(False, "generate with a LoRA: " + (e0 + e1).strip())
        return
    data = {k: open(v, "rb").read() for k, v in gifs.items() if k in ("base", "lora")}
    check(data["base"] != data["lora"], "generate --lora changes the video")
    side = open(gifs["lora"] + ".json").read()
    import json
    rec = json.loads(side).get("loras")
    check(rec == [{"path": os.path.abspath(lora), "strength": 0.8, "strength_high": 0.4}],
          "the sidecar records the LoRA: %s" % rec)
    rc2, e2 = run([cli, "generate", "--quiet", "--from", gifs["lora"], "-o", gifs["again"]] + backend)
    check(rc2 == 0 and open(gifs["again"], "rb").read() == data["lora"], "--from restores the LoRA " + e2.strip())
    rc3, e3 = run([cli, "generate", "--quiet", "--from", gifs["lora"], "--lora", lora + ":0.2", "-o", gifs["other"]]
                  + backend)
    rec3 = json.loads(open(gifs["other"] + ".json").read()).get("loras") if rc3 == 0 else None
    check(rec3 is not None and len(rec3) == 1 and rec3[0]["strength"] == 0.2 and rec3[0]["strength_high"] == 0.2,
          "--lora after --from replaces the file's LoRAs: %s %s" % (rec3, e3.strip()))
    rc4, e4 = run(common + ["--lora", lora + ":1:2:3", "-o", gifs["other"]])
    check(rc4 == 2 and "gen.lightx2v.safetensors:1" in e4,
          "--lora FILE:1:2:3 is refused (a path ending ':1' is no file): " + e4.strip())


def main():
    cli, fx, flags = sys.argv[1], sys.argv[2], sys.argv[3:]
    backend = ["--backend", flags[flags.index("--backend") + 1]] if "--backend" in flags else []
    cuda = bool(backend) and backend[1] == "cuda"
    tmp = tempfile.mkdtemp(prefix="kinora-lora-")
    cases = [("ti2v", "comfy:0.8"), ("ti2v", "kohya:1"), ("ti2v", "diffusers:0.5"), ("ti2v", "lightx2v:1"),
             ("ti2v", "comfy:0.6+lightx2v:-0.7"), ("t2v", "kohya:1.5"), ("t2v", "lightx2v:0.9")]
    for model, spec in cases:
        weights = "%s/dit_%s_tiny.weights.safetensors" % (fx, model)
        io = "%s/dit_%s_tiny.io.safetensors" % (fx, model)
        name = "%s-%s" % (model, spec.replace(":", "_").replace("+", "_"))
        sys.argv = ["make_lora.py", weights, tmp, name, spec]
        make_lora.main()
        loras = []
        for item in spec.split("+"):
            fmt, s = item.split(":")
            loras += ["--lora", "%s/%s.%s.safetensors:%s" % (tmp, name, fmt, s)]
        base, rt, cm, mg = ("%s/%s.%s.out" % (tmp, name, x) for x in ("base", "rt", "cm", "mg"))
        rc1, e1 = run([cli, "eval", "dit", "--weights", weights, "--in", io, "--out", base] + backend)
        rc2, e2 = run([cli, "eval", "dit", "--weights", weights, "--in", io, "--out", rt] + loras + backend)
        rc3, e3 = run([cli, "eval", "dit", "--weights", weights, "--in", io, "--out", cm, "--lora-merge"] + loras + backend)
        rc4, e4 = run([cli, "eval", "dit", "--weights", "%s/%s.merged.safetensors" % (tmp, name), "--in", io, "--out", mg]
                      + backend)
        if rc1 or rc2 or rc3 or rc4:
            check(False, "%s %s: eval dit failed: %s" % (model, spec, (e1 + e2 + e3 + e4).strip()))
            continue
        ref = outputs(mg)
        compare(outputs(rt), ref, "%s %s: run-time LoRA = numpy-merged weights" % (model, spec), cuda)
        if model == "ti2v" and "+" in spec:
            # the terms over row chunks: 72 tokens in chunks of 7 (the last one short), with the per-token
            # timesteps of case b (the gates' selector offset per chunk)
            ch = "%s/%s.chunked.out" % (tmp, name)
            rc5, e5 = run([cli, "eval", "dit", "--weights", weights, "--in", io, "--out", ch] + loras + backend,
                          dict(os.environ, KINORA_LORA_CHUNK_ROWS="7"))
            check(rc5 == 0, "%s %s: chunked run: %s" % (model, spec, e5.strip()))
            if rc5 == 0:
                compare(outputs(ch), ref, "%s %s: run-time LoRA in chunks of 7 rows = numpy-merged" % (model, spec), cuda)
        compare(outputs(cm), ref, "%s %s: --lora-merge = numpy-merged weights" % (model, spec), cuda)
        # the LoRA must change the output (else the comparisons above prove nothing)
        b, r = outputs(base), outputs(rt)
        change = max(float(np.max(np.abs(r[k].astype(np.float64) - b[k]))) for k in b)
        check(1e-2 < change < 1e3, "%s %s: the LoRA changes the output (max change %.3g)" % (model, spec, change))
        if "comfy" in spec:
            check("warning" in e2 and "k_img" in e2 and "match nothing" in e2,
                  "%s %s: unmatched keys are a warning naming them" % (model, spec))

    narrow_weights(cli, fx, tmp, backend, cuda)
    a14b_experts(cli, fx, tmp, backend, cuda)
    if "--export" in flags:
        generate(cli, fx, tmp, backend)

    # a LoRA for another model (a shape that disagrees): an error naming the file and the key
    ti2v_w, _ = make_lora.read_st("%s/dit_ti2v_tiny.weights.safetensors" % fx)
    bad = {k: v for k, v in ti2v_w.items()}
    bad["blocks.0.ffn.0.weight"] = np.zeros((40, 64), np.float32)
    t, _ = make_lora.make("comfy", bad, 5)
    other = "%s/other-model.safetensors" % tmp
    make_lora.write_st(other, t)
    io = "%s/dit_ti2v_tiny.io.safetensors" % fx
    wt = "%s/dit_ti2v_tiny.weights.safetensors" % fx
    rc, err = run([cli, "eval", "dit", "--weights", wt, "--in", io, "--out", tmp + "/x.out", "--lora", other])
    check(rc == 1 and other in err and "blocks.0.ffn.0.lora_up.weight" in err and "[128, 8]" in err,
          "a LoRA of another shape is an error naming the file, the key and the shapes: " + err.strip())
    # a LoRA matching nothing: an error
    nothing = "%s/nothing.safetensors" % tmp
    make_lora.write_st(nothing, {"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight":
                                 ("F32", np.zeros((4, 8), np.float32)),
                                 "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight":
                                 ("F32", np.zeros((8, 4), np.float32))})
    rc, err = run([cli, "eval", "dit", "--weights", wt, "--in", io, "--out", tmp + "/x.out", "--lora", nothing])
    check(rc == 1 and nothing in err and "matches a layer" in err, "a LoRA matching nothing is an error: " + err.strip())
    # a rank that differs between down and up: an error naming the key
    rank = "%s/rank.safetensors" % tmp
    make_lora.write_st(rank, {"diffusion_model.blocks.0.ffn.0.lora_down.weight": ("F32", np.zeros((8, 64), np.float32)),
                              "diffusion_model.blocks.0.ffn.0.lora_up.weight": ("F32", np.zeros((128, 16), np.float32))})
    rc, err = run([cli, "eval", "dit", "--weights", wt, "--in", io, "--out", tmp + "/x.out", "--lora", rank])
    check(rc == 1 and "rank" in err and "blocks.0.ffn.0.lora_down.weight" in err,
          "a rank mismatch is an error naming the key: " + err.strip())
    # the command line: a strength out of range, a second strength where there are no experts
    rc, err = run([cli, "eval", "dit", "--weights", wt, "--in", io, "--out", tmp + "/x.out", "--lora", other + ":1e9"])
    check(rc == 2 and "strength" in err, "--lora FILE:1e9 is refused: " + err.strip())
    rc, err = run([cli, "eval", "dit", "--weights", wt, "--in", io, "--out", tmp + "/x.out", "--lora", other + ":1:2"])
    check(rc == 2 and "one strength" in err, "eval dit --lora FILE:1:2 is refused: " + err.strip())

    shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(FAILS))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
