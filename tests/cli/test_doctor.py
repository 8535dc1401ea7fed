"""``streamer doctor``: what the box offers, read from the box itself."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from streamer.cli import main
from streamer.cli.doctor import JETSON_RELEASE, arm_features, cache_line, x86_features


def doctor_lines(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    assert main(["doctor", *args]) == 0
    lines: dict[str, str] = {}
    topic = ""
    for line in capsys.readouterr().out.splitlines():
        head, _, rest = line.partition(":")
        if line[:1] != " " and rest:
            topic = head
            lines[topic] = rest.strip()
        else:
            lines[topic] += "\n" + line.strip()
    return lines


def test_on_this_cpu_box_it_names_the_cpu_provider_and_no_gpu(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    if shutil.which("nvidia-smi") or JETSON_RELEASE.exists():
        pytest.skip("this box has an NVIDIA GPU; the test is for one without")
    lines = doctor_lines(capsys, "--cache-dir", str(tmp_path / "cache"))
    assert set(lines) >= {"streamer", "cpu", "providers", "tensorrt", "gpu", "decoders", "disk", "cache"}
    assert "CPUExecutionProvider" in lines["providers"]
    assert lines["providers"].endswith("a model without `providers` runs on CPUExecutionProvider")
    assert lines["gpu"] == "none (no nvidia-smi, not a Jetson)"
    assert lines["tensorrt"] == "none"
    assert "PyAV" in lines["decoders"] and "h264" in lines["decoders"]
    assert "OpenCV" in lines["decoders"] and "FFmpeg" in lines["decoders"]
    assert " free of " in lines["disk"]
    assert lines["cache"].endswith("empty (not created yet)")


def test_the_cache_line_sums_what_the_cache_holds(tmp_path: Path) -> None:
    engines = tmp_path / "trt" / "person-3fa9c1d2e4b5a6f7-fp16-trt10.3.0"
    engines.mkdir(parents=True)
    (engines / "a.engine").write_bytes(b"x" * 3_000_000)
    (tmp_path / "bikes.mp4").write_bytes(b"x" * 500_000)
    line = cache_line(tmp_path)
    assert line == f"{tmp_path}: 3.5 MB in 2 files (trt 3.0 MB, bikes.mp4 500.0 kB)"


CPUINFO_XEON = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512bw avx512_vnni amx_tile amx_int8
processor\t: 1
flags\t\t: fpu
"""


@pytest.mark.parametrize(("cpuinfo", "found"), [
    (CPUINFO_XEON, ["avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"]),
    ("flags\t\t: fpu sse sse2 avx avx2 avx_vnni\n", ["avx2", "avx_vnni"]),
    ("flags\t\t: fpu sse sse2\n", []),
    ("", []),
])
def test_x86_features(cpuinfo: str, found: list[str]) -> None:
    assert x86_features(cpuinfo) == found


def auxv(*pairs: tuple[int, int]) -> bytes:
    return b"".join(struct.pack("<QQ", kind, value) for kind, value in (*pairs, (0, 0)))


@pytest.mark.parametrize(("vector", "found"), [
    # Cortex-A78AE (Jetson Orin): neon, fp16, dotprod; no SVE, no i8mm.
    (auxv((16, 1 << 1 | 1 << 10 | 1 << 20), (26, 0)), ["neon", "fp16", "dotprod"]),
    # Neoverse V2: SVE2, i8mm, bf16 as well.
    (auxv((16, 1 << 1 | 1 << 20 | 1 << 22), (26, 1 << 1 | 1 << 13 | 1 << 14)),
     ["neon", "dotprod", "sve", "sve2", "i8mm", "bf16"]),
    (auxv((6, 4096)), []),  # no AT_HWCAP entry at all
    (b"", []),
])
def test_arm_features_from_the_auxiliary_vector(vector: bytes, found: list[str]) -> None:
    assert arm_features(vector) == found
