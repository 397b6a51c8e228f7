#!/bin/sh
# Spark GPU discovery script (spark.{executor,driver,worker}.resource.gpu.discoveryScript).
# Prints the GPUs of this host as Spark's resource JSON, e.g.
#   {"name": "gpu", "addresses": ["0", "1"]}
# Addresses are nvidia-smi's indices. Where CUDA_VISIBLE_DEVICES is set (indices or
# GPU-<uuid>s, comma-separated without spaces; set but empty: none), only the GPUs it
# names are listed, so a task is never handed a GPU its process cannot see; bigseg maps
# the address to a CUDA ordinal (bigseg.kmeans.gpu.cuda_ordinal). No nvidia-smi, or nvidia-smi failing (no
# driver): an empty list, and Spark then refuses executors that ask for a GPU, saying so.
# Only sh builtins and nvidia-smi: it runs on minimal executor images.

visible=",${CUDA_VISIBLE_DEVICES-},"
query() {
    command -v nvidia-smi >/dev/null 2>&1 || return 0
    nvidia-smi --query-gpu=index,uuid --format=csv,noheader 2>/dev/null || return 0
}
list=$(query | while IFS=', ' read -r index uuid; do
    case "$index" in
        '' | *[!0-9]*) continue ;;
    esac
    if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
        case "$visible" in
            *",$index,"* | *",$uuid,"*) ;;
            *) continue ;;
        esac
    fi
    printf '"%s", ' "$index"
done)
printf '{"name": "gpu", "addresses": [%s]}\n' "${list%, }"
