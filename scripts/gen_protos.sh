#!/usr/bin/env bash
# Regenerates contract/ml2/v1 from protos/ml2/v1 with grpcio-tools: messages, typed stubs, gRPC stubs.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
rm -rf contract/ml2
"$python" -m grpc_tools.protoc -I protos \
  --python_out=contract --pyi_out=contract --grpc_python_out=contract --mypy_grpc_out=contract \
  protos/ml2/v1/*.proto
for d in contract/ml2 contract/ml2/v1; do
  printf '"""Generated from protos/ by scripts/gen_protos.sh; do not edit."""\n' > "$d/__init__.py"
done
touch contract/ml2/v1/py.typed
