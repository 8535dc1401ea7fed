"""``streamer doctor``: what this box offers streamer, one line per topic.

The questions an installer asks before the first camera, answered from the machine itself:
which CPU extensions the model's kernels can use, which onnxruntime providers this build
has (and which one a model without ``providers`` will run on), the GPU and its memory,
the video decoders, the free disk and how much the cache holds. Nothing here changes the
machine; a probe that fails says so on its line instead of stopping the others.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from streamer.cache import cache_root

# x86 flags in /proc/cpuinfo that decide how fast int8/fp32 kernels run, in report order.
X86_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
# aarch64: bits of the kernel's AT_HWCAP / AT_HWCAP2 (arch/arm64 uapi hwcap.h).
AT_HWCAP, AT_HWCAP2 = 16, 26
ARM_HWCAP = {"neon": (AT_HWCAP, 1), "fp16": (AT_HWCAP, 10), "dotprod": (AT_HWCAP, 20),
             "sve": (AT_HWCAP, 22), "sve2": (AT_HWCAP2, 1), "i8mm": (AT_HWCAP2, 13),
             "bf16": (AT_HWCAP2, 14)}
VIDEO_CODECS = ("h264", "hevc", "mjpeg", "av1", "vp9")
JETSON_RELEASE = Path("/etc/nv_tegra_release")
DEVICE_MODEL = Path("/proc/device-tree/model")


def x86_features(cpuinfo: str) -> list[str]:
    """The interesting x86 extensions named in ``/proc/cpuinfo``'s first ``flags`` line."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return [name for name in X86_FEATURES if name in flags]
    return []


def arm_features(auxv: bytes) -> list[str]:
    """The interesting aarch64 extensions from ``/proc/self/auxv`` (pairs of 64-bit words).

    Read from the auxiliary vector rather than /proc/cpuinfo: under qemu-user the latter is
    the host's, while qemu answers the former for the emulated CPU."""
    words = dict(struct.iter_unpack("<QQ", auxv[: len(auxv) // 16 * 16]))
    return [name for name, (kind, bit) in ARM_HWCAP.items() if words.get(kind, 0) >> bit & 1]


def cpu_line(machine: str | None = None) -> str:
    machine = machine or platform.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        if machine in ("aarch64", "arm64"):
            found = arm_features(Path("/proc/self/auxv").read_bytes())
            wanted = "neon/dotprod/i8mm/sve"
        else:
            found = x86_features(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
            wanted = "avx2/avx512/vnni/amx"
    except OSError as exc:
        return f"{cores} cores, {machine}; features unknown ({exc.strerror or exc})"
    return f"{cores} cores, {machine}: {' '.join(found) if found else f'none of {wanted}'}"


def providers_line() -> str:
    try:
        import onnxruntime as ort
    except Exception as exc:  # a broken wheel (e.g. no build for this CPU) says why
        return f"onnxruntime does not import: {type(exc).__name__}: {exc}"
    from streamer.detect.providers import auto_providers

    available = ort.get_available_providers()
    return (f"{', '.join(available)} (onnxruntime {ort.__version__}); a model without "
            f"`providers` runs on {auto_providers(available)[0]}")


def tensorrt_line() -> str:
    from streamer.detect.providers import tensorrt_version

    version = tensorrt_version()
    return f"TensorRT {version}" if version else "none"


def _meminfo_total_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1e6
    except (OSError, ValueError, IndexError):
        pass
    return None


def gpu_line(nvidia_smi: str | None = None) -> str:
    """A Jetson (its GPU shares system memory), else what nvidia-smi lists, else "none"."""
    if JETSON_RELEASE.exists() or "jetson" in _read(DEVICE_MODEL).lower():
        model = _read(DEVICE_MODEL).strip("\x00 \n") or "NVIDIA Jetson"
        total = _meminfo_total_gb()
        memory = f"shares {total:.1f} GB of system memory" if total else "shares system memory"
        hint = "" if Path("/dev/nvmap").exists() else \
            "; no /dev/nvmap: in a container, run it with --runtime nvidia"
        return f"{model} (integrated GPU, {memory}){hint}"
    nvidia_smi = nvidia_smi or shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return "none (no nvidia-smi, not a Jetson)"
    try:
        result = subprocess.run(
            [nvidia_smi, "--query-gpu=name,memory.total,memory.used,driver_version",
             "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"nvidia-smi did not answer: {exc}"
    if result.returncode != 0:
        last = (result.stdout + result.stderr).strip().splitlines() or [f"exit {result.returncode}"]
        return f"none (nvidia-smi: {last[-1][:160]})"
    gpus = []
    for row in result.stdout.strip().splitlines():
        name, size, used, driver = (part.strip() for part in row.split(","))
        gpus.append(f"{name}, {_mib(size)} memory ({_mib(used)} in use), driver {driver}")
    return "; ".join(gpus) or "none (nvidia-smi lists no GPU)"


def _mib(text: str) -> str:
    try:
        return f"{int(text) / 1024:.1f} GiB"
    except ValueError:
        return text


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def decoder_lines() -> list[str]:
    lines = []
    try:
        import av
        from av.codec.hwaccel import hwdevices_available

        decoders = []
        for name in VIDEO_CODECS:
            try:
                av.codec.Codec(name, "r")
            except Exception:  # PyAV raises UnknownCodecError or ValueError by version
                continue
            decoders.append(name)
        codec = ".".join(str(part) for part in av.library_versions.get("libavcodec", ())[:2])
        hardware = ", ".join(hwdevices_available()) or "none"
        lines.append(f"PyAV {av.__version__} (libavcodec {codec}): {', '.join(decoders) or 'none'}; "
                     f"hardware device types built in: {hardware}")
    except Exception as exc:
        lines.append(f"PyAV does not import: {type(exc).__name__}: {exc}")
    try:
        import cv2
        from cv2 import videoio_registry

        backends = [name for name, api in (("FFmpeg", cv2.CAP_FFMPEG), ("GStreamer", cv2.CAP_GSTREAMER),
                                           ("V4L2", cv2.CAP_V4L2))
                    if videoio_registry.hasBackend(api)]
        missing = [name for name in ("FFmpeg", "GStreamer", "V4L2") if name not in backends]
        lines.append(f"OpenCV {cv2.__version__}: {', '.join(backends) or 'no video backend'}"
                     + (f" (without {', '.join(missing)})" if missing else ""))
    except Exception as exc:
        lines.append(f"OpenCV does not import: {type(exc).__name__}: {exc}")
    return lines


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (the cache may not exist yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def disk_line(path: Path) -> str:
    usage = shutil.disk_usage(_existing(path))
    return f"{_size(usage.free)} free of {_size(usage.total)} at {_existing(path)}"


def cache_line(root: Path) -> str:
    """Total size of the cache and of its largest entries (trt/ engines, int8 copies...)."""
    if not root.is_dir():
        return f"{root}: empty (not created yet)"
    sizes: dict[str, int] = {}
    files = 0
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                top = path.relative_to(root).parts[0]
                sizes[top] = sizes.get(top, 0) + path.stat().st_size
                files += 1
        except OSError:
            continue
    biggest = sorted(sizes.items(), key=lambda item: -item[1])[:4]
    parts = ", ".join(f"{name} {_size(size)}" for name, size in biggest)
    return f"{root}: {_size(sum(sizes.values()))} in {files} files" + (f" ({parts})" if parts else "")


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def report(cache_dir: Path | None = None) -> list[tuple[str, str]]:
    """(topic, text) lines; each probe runs on its own, so one failure costs one line."""
    from streamer import __version__

    cache = cache_root(cache_dir)
    lines: list[tuple[str, str]] = [
        ("streamer", f"{__version__}, Python {platform.python_version()}, "
                     f"{platform.system()} {platform.machine()}"),
    ]
    probes: list[tuple[str, Callable[[], str | list[str]]]] = [
        ("cpu", cpu_line), ("providers", providers_line), ("tensorrt", tensorrt_line),
        ("gpu", gpu_line), ("decoders", decoder_lines), ("disk", lambda: disk_line(cache)),
        ("cache", lambda: cache_line(cache)),
    ]
    for topic, probe in probes:
        try:
            answer = probe()
        except Exception as exc:  # a doctor that crashes on an odd box helps nobody
            answer = f"could not tell: {type(exc).__name__}: {exc}"
        for index, text in enumerate([answer] if isinstance(answer, str) else answer):
            lines.append((topic if index == 0 else "", text))
    return lines


def print_report(cache_dir: Path | None = None) -> int:
    for topic, text in report(cache_dir):
        print(f"{topic + ':' if topic else '':<11}{text}")
    sys.stdout.flush()
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """``streamer doctor [--cache-dir DIR]``."""
    return print_report(args.cache_dir)


__all__ = ["arm_features", "cache_line", "cmd_doctor", "gpu_line", "print_report", "report", "x86_features"]
