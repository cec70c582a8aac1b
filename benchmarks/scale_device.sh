#!/usr/bin/env bash
# One device run for benchmarks/scale.py (issue 14): GPU rows (KA 3D: KPM 1e5 relaxed and 1e6 tiled,
# dense + KPM at 1e3-1e4; LB Tersoff AMC and ZJW EAM CuZrAl KPM at 1e5) and, at the same time, the
# KA 1e5 KPM row on the same machine's CPU restricted to 2 cores (taskset), using the structure the
# GPU job relaxed. Usage: OUT=dir bash benchmarks/scale_device.sh  (base glasses in out/scale-base/)
set -u
OUT=${OUT:-benchmarks/results}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi -L || true
python3 -c "import jax; print(jax.__version__, jax.devices())"
mkdir -p out/scale /tmp/scale-cpu
S="python3 benchmarks/scale.py --moments 512 --vectors 1 --base out/scale-base --cache out/scale"
# CPU, 2 cores, in the background once the relaxed 1e5 KA glass exists
(for i in $(seq 300); do [ -f out/scale/lj3d-100000-relaxed.npz ] && break; sleep 1; done
 cp out/scale/lj3d-100000-relaxed.npz /tmp/scale-cpu/ 2>/dev/null
 JAX_PLATFORMS=cpu OPENBLAS_NUM_THREADS=1 taskset -c 2,3 timeout "${CPU_LIMIT:-450}" python3 benchmarks/scale.py \
   --family lj3d --sizes 100000 --routes kpm --moments 512 --vectors 1 --cache /tmp/scale-cpu --timeout 440 \
   --out "$OUT/scale_cpu2_lj3d.json" > "$OUT/cpu2.log" 2>&1) &
# GPU
timeout 200 $S --family lj3d --sizes 100000 --routes kpm --max-steps 2000 --timeout 190 \
  --out "$OUT/scale_gpu_lj3d_1e5.json" 2>&1 | tee "$OUT/gpu.log"
timeout 150 $S --family lj3d --sizes 1000000 --routes kpm --no-relax --timeout 140 \
  --out "$OUT/scale_gpu_lj3d_1e6.json" 2>&1 | tee -a "$OUT/gpu.log"
timeout 100 $S --family lj3d --sizes 1000,4000,10000 --dense-max 4000 --max-steps 2000 --timeout 60 \
  --out "$OUT/scale_gpu_lj3d_small.json" 2>&1 | tee -a "$OUT/gpu.log"
for fam in amc cualzr; do
  timeout 60 $S --family $fam --sizes 100000 --routes kpm --no-relax --timeout 55 \
    --out "$OUT/scale_gpu_$fam.json" 2>&1 | tee -a "$OUT/gpu.log"
done
wait
cat "$OUT/cpu2.log"
