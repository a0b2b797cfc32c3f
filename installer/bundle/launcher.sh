#!/bin/sh
# The `nexus` command of one installed version (/opt/nexus/<version>/nexus): the bundled Node runs the
# compiled CLI, with this version's nats-server and ffmpeg first on PATH. Settings come from nexus.env
# (NEXUS_ENV_FILE, or <root>/etc/nexus/nexus.env for a version installed under <root>/opt/nexus/).
set -eu
here=$(dirname "$(readlink -f "$0")")
env_file=${NEXUS_ENV_FILE:-$here/../../../etc/nexus/nexus.env}
if [ -f "$env_file" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
fi
# Always this version's own tools, whatever a caller (an older version's upgrader) had in its environment.
NEXUS_NATS_SERVER=$here/bin/nats-server
PATH=$here/bin:$PATH
export NEXUS_NATS_SERVER PATH
# The CUDA/cuDNN/TensorRT libraries a GPU bundle carries (`--gpu-libs`): onnxruntime's providers, beside its
# binding, find them on the loader path, in every process started from here.
if [ -d "$here/lib/gpu" ]; then
  LD_LIBRARY_PATH=$here/lib/gpu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LD_LIBRARY_PATH
fi
exec "$here/node/bin/node" "$here/app/bin/nexus.js" "$@"
