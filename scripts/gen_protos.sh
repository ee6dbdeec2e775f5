#!/usr/bin/env bash
# Regenerates gen/ml2/v1 from protos/ml2/v1 with grpcio-tools: messages, typed stubs, gRPC stubs.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
rm -rf gen/ml2
mkdir -p gen
"$python" -m grpc_tools.protoc -I protos \
  --python_out=gen --pyi_out=gen --grpc_python_out=gen --mypy_grpc_out=gen \
  protos/ml2/v1/*.proto
for d in gen/ml2 gen/ml2/v1; do
  printf '"""Generated from protos/ by scripts/gen_protos.sh; do not edit."""\n' > "$d/__init__.py"
done
touch gen/ml2/v1/py.typed
