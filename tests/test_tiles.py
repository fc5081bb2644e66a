"""The register tiles' vector width, chosen from the CPU: compiled for other CPUs, read in the assembly.

Nothing here runs the compiled code (it may not run on this CPU): each case
compiles the tile loop of the input sums for a forced target in a child
process with its own empty cache, and reads which registers its
multiply-adds use.
"""

import json
import os
import subprocess
import sys

import pytest

BASE = "+sse,+sse2,+sse3,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16,+avx,+avx2,+fma,+f16c,+bmi,+bmi2,+lzcnt,+movbe"
AVX512 = "+avx512f,+avx512cd,+avx512bw,+avx512dq,+avx512vl"
# (NUMBA_CPU_NAME, NUMBA_CPU_FEATURES): an AVX2-only CPU, an Intel server CPU whose LLVM tuning
# prefers 256-bit vectors, an AMD one whose tuning does not.
TARGETS = {
    "haswell": ("haswell", BASE + ",-avx512f"),
    "sapphirerapids": ("sapphirerapids", BASE + "," + AVX512),
    "znver4": ("znver4", BASE + "," + AVX512),
}

PROBE = """
import json, re
from numba import types
from fastbp.backends.cpu import loops, tiles

def fma_registers(dispatcher, signature):
    dispatcher.compile(signature)
    assembly = dispatcher.inspect_asm(signature)
    return sorted(set(re.findall(r"vfmadd\\w+\\s+[^\\n]*?%([xyz]mm)", assembly)))

f32 = types.float32
tiled = (f32[::1], f32[:, ::1], f32[:, :, ::1], f32[:, :, ::1], types.int64, types.int64)
blocked = (f32[:, ::1], f32[::1], f32[:, ::1], f32[:, ::1], types.int64, types.int64)
print(json.dumps({
    "bits": tiles.VECTOR_BITS,
    "shape": tiles.TILE_SHAPES["float32"],
    "tiles": fma_registers(loops.input_sum_tiles, tiled),
    "loops": fma_registers(loops.input_sum, blocked),
}))
"""


def compiled_for(target, tmp_path):
    name, features = TARGETS[target]
    environment = {"NUMBA_CPU_NAME": name, "NUMBA_CPU_FEATURES": features, "NUMBA_CACHE_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env={**os.environ, **environment}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_avx2_cpus_get_256_bit_tiles_of_one_row(tmp_path):
    found = compiled_for("haswell", tmp_path)
    assert found["bits"] == 256 and found["shape"] == [1, 64]
    assert found["tiles"] == ["ymm"]


@pytest.mark.parametrize("target", ["sapphirerapids", "znver4"])
def test_avx512_cpus_get_512_bit_tiles_whatever_llvm_prefers(target, tmp_path):
    found = compiled_for(target, tmp_path)
    assert found["bits"] == 512 and found["shape"] == [4, 64]
    assert found["tiles"] == ["zmm"]


def test_the_attribute_changes_only_the_tiles(tmp_path):
    # On Intel's server CPUs LLVM prefers 256-bit vectors: the rest of the code keeps them.
    assert "zmm" not in compiled_for("sapphirerapids", tmp_path)["loops"]
