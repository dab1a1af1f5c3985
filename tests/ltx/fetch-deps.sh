#!/usr/bin/env bash
# Make the --deps folder for the LTX-Video fixture generators: the official sources at the pinned
# commits (tests/ltx/README.md), taken from git clones given as arguments or cloned from GitHub.
#   fetch-deps.sh DEPS [LTX_CLONE DIFFUSERS_CLONE HUB_CLONE EINOPS_CLONE WAN_CLONE]
set -euo pipefail
out=$1; shift
mkdir -p "$out"
take () {   # take URL-or-clone COMMIT SRC-PATH NAME
  local src=$1 commit=$2 path=$3 name=$4 tmp
  if [ ! -d "$src" ]; then
    tmp=$(mktemp -d); git clone -q "$src" "$tmp"; src=$tmp
  fi
  rm -rf "${out:?}/$name"
  git -C "$src" archive "$commit" "$path" | tar -x -C "$out"
  [ "$path" = "$name" ] || { mv "$out/$path" "$out/$name"; rmdir "$out/$(dirname "$path")" 2>/dev/null || true; }
}
take "${1:-https://github.com/Lightricks/LTX-Video}" 5260738e171955b66c0827f9af7e84d68fd1d919 ltx_video ltx_video
take "${1:-https://github.com/Lightricks/LTX-Video}" 5260738e171955b66c0827f9af7e84d68fd1d919 configs configs
take "${2:-https://github.com/huggingface/diffusers}" 89e4d6219805975bd7d253a267e1951badc9f1c0 src/diffusers diffusers
take "${3:-https://github.com/huggingface/huggingface_hub}" f498b42bf90bb9b696a6f3a40e192e12426ff688 src/huggingface_hub huggingface_hub
take "${4:-https://github.com/arogozhnikov/einops}" ad2c8d67d08cbebb45e1aff2be21dc88635fc695 einops einops
# T5 v1.1 XXL: the reference encoder (wan/modules/t5.py), used by gen_t5xxl.py only
take "${5:-https://github.com/Wan-Video/Wan2.2}" 42bf4cfaa384bc21833865abc2f9e6c0e67233dc wan wan
echo "$out: ltx_video configs diffusers huggingface_hub einops wan"
