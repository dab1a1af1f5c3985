#!/bin/bash
# Build the CUDA backend on a GPU machine and run its checks and benchmarks; logs go to $OUT (or ./cuda-out).
# Usage: tests/cuda/device-run.sh [quick|full|vae|dit|clip] [fixtures dir]   (see flatpak-free-docs/cuda.md)
set -u
MODE=${1:-full}
FX=${2:-.fx}
OUT=${OUT:-$PWD/cuda-out}
mkdir -p "$OUT"
LOG=$OUT/log.txt
exec > >(tee -a "$LOG") 2>&1
echo "== environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
ls /usr/include/x86_64-linux-gnu/cudnn_version*.h /usr/local/cuda/include/cudnn_version*.h 2>/dev/null
nvcc --version | tail -1

# json-c and giflib from carried Debian packages when the machine lacks them
if ! pkg-config --exists json-c || ! [ -e /usr/include/gif_lib.h ]; then
  if ls .devdeps/*.deb >/dev/null 2>&1; then
    D=/tmp/devdeps
    for f in .devdeps/*.deb; do dpkg -x "$f" $D; done
    for pc in $(find $D -name '*.pc'); do sed -i "s|^prefix=.*|prefix=$D/usr|" "$pc"; done
    export PKG_CONFIG_PATH=$(dirname $(find $D -name 'json-c.pc' | head -1))
    export CPATH=$D/usr/include${CPATH:+:$CPATH}
    export LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
    export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    echo "using carried json-c / giflib from $D"
  fi
fi

echo "== build"
B=build-cuda-dev
t0=$(date +%s)
if [ ! -f $B/build.ninja ]; then
  meson setup $B -Dwerror=false -Dgui=disabled -Dgstreamer=disabled -Ddnnl=disabled -Dpng=auto -Dcuda=enabled \
    -Dfixtures_dir="$PWD/$FX" > $OUT/setup.txt 2>&1 || { tail -30 $OUT/setup.txt; exit 1; }
fi
ninja -C $B -j16 > $OUT/build.txt 2>&1 || { grep -E "error|FAILED" -A3 $OUT/build.txt | head -60; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"

if [ "$MODE" = dit ]; then
  echo "== DiT benchmark only (random bf16 weights, TI2V-5B)"
  $B/app/kinora-bench dit --backend cuda --size 1280x704 --frames 121 --repeat 3
  $B/app/kinora-bench dit --backend cuda --size 1280x704 --frames 121 --repeat 2 --profile | grep -E "time share|forward|memory"
  $B/app/kinora-bench dit --backend cuda --size 832x480 --frames 81 --repeat 5
  exit 0
fi

if [ "$MODE" = clip ]; then
  echo "== whole TI2V-5B clip, 1280x704x121, 50 steps with guidance (random weights; T5 on the CPU)"
  timeout 560 $B/app/kinora-bench generate --model ti2v-5B --random --backend cuda --size 1280x704 --frames 121 --steps 50
  exit 0
fi

if [ "$MODE" = vae ]; then
  echo "== VAE decode benchmark (random weights, Wan2.2 VAE)"
  $B/tests/cuda/test-cuda-ops | grep -E "conv3d|vae_|hd=384|^1\.\.|not ok"
  for v in vae21 vae22; do
    $B/app/kinora-cli eval $v --backend cuda --weights $FX/${v}_tiny.weights.safetensors --in $FX/${v}_tiny.io.safetensors \
      --out /tmp/$v.cuda.safetensors && python3 tests/cuda/compare.py $FX/${v}_tiny.io.safetensors /tmp/$v.cuda.safetensors 1e-2
  done
  timeout 200 $B/app/kinora-bench vae22-decode --backend cuda --size 1280x704 --frames 121 2>/dev/null
  KINORA_CUDA_PROFILE=1 timeout 200 $B/app/kinora-bench vae22-decode --backend cuda --size 1280x704 --frames 121 2>&1 | grep -E "device time|profile"
  echo "-- f32 channels-last convolutions (KINORA_CUDA_CONV=f32)"
  KINORA_CUDA_CONV=f32 timeout 200 $B/app/kinora-bench vae22-decode --backend cuda --size 1280x704 --frames 121 2>/dev/null | grep -E "decode:|device"
  echo "-- bf16 channels-last convolutions (KINORA_CUDA_CONV=bf16)"
  KINORA_CUDA_CONV=bf16 timeout 200 $B/app/kinora-bench vae22-decode --backend cuda --size 1280x704 --frames 121 2>/dev/null | grep -E "decode:|device"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader
  exit 0
fi

echo "== op parity (CUDA vs CPU)"
if [ "$MODE" = full ]; then $B/tests/cuda/test-cuda-ops --bench; else $B/tests/cuda/test-cuda-ops; fi
echo "test-cuda-ops rc=$?"

echo "== fixture parity: CUDA backend vs golden fixtures (bf16 tolerance 1e-2 relative L2)"
CLI=$B/app/kinora-cli
for m in ti2v i2v t2v; do
  echo "dit_$m:"
  $CLI eval dit --backend cuda --weights $FX/dit_${m}_tiny.weights.safetensors --in $FX/dit_${m}_tiny.io.safetensors \
    --out /tmp/dit_$m.cuda.safetensors && python3 tests/cuda/compare.py $FX/dit_${m}_tiny.io.safetensors /tmp/dit_$m.cuda.safetensors 1e-2
done
echo "t5:"
$CLI eval t5 --backend cuda --weights $FX/t5_tiny.weights.safetensors --in $FX/t5_tiny.io.safetensors \
  --out /tmp/t5.cuda.safetensors && python3 tests/cuda/compare.py $FX/t5_tiny.io.safetensors /tmp/t5.cuda.safetensors 1e-2
for v in vae21 vae22; do
  echo "$v:"
  $CLI eval $v --backend cuda --weights $FX/${v}_tiny.weights.safetensors --in $FX/${v}_tiny.io.safetensors \
    --out /tmp/$v.cuda.safetensors && python3 tests/cuda/compare.py $FX/${v}_tiny.io.safetensors /tmp/$v.cuda.safetensors 1e-2
done
# whole 4-step pipelines with guidance 5: noise_pred = u + 5 (c - u) scales the bf16 difference of the
# two predictions (each ~5e-3) by up to 9, so the guided outputs and the video get 2e-2
for p in ti2v i2v_a14b; do
  echo "pipeline_$p:"
  $CLI eval pipeline --backend cuda --weights-dir $FX --in $FX/pipeline_${p}_tiny.io.safetensors \
    --out /tmp/pipe_$p.cuda.safetensors && python3 tests/cuda/compare.py $FX/pipeline_${p}_tiny.io.safetensors /tmp/pipe_$p.cuda.safetensors 2e-2
done

if [ "$MODE" = full ]; then
  echo "== DiT benchmark (random bf16 weights, TI2V-5B)"
  BENCH=$B/app/kinora-bench
  $BENCH dit --backend cuda --size 1280x704 --frames 121 --repeat 3
  $BENCH dit --backend cuda --size 1280x704 --frames 121 --repeat 2 --profile | grep -E "time share|forward|memory"
  $BENCH dit --backend cuda --size 832x480 --frames 81 --repeat 5
  nvidia-smi --query-gpu=memory.used --format=csv,noheader
fi
echo "== done"
