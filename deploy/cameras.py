"""Many cameras on one box: one streamer process runs every config in a folder.

`streamer run FOLDER` runs each `NAME.yaml` in the folder as a camera of the box, in one
process: identical models are loaded once and share the cores through one set of
inference workers (one process per camera would load the model once per camera and lose a
third of the box's inference to the processes fighting over the cores). Each camera keeps
its own zones, rules, outbox and sinks; one camera's outage, hang or backlog never holds
another. One monitor serves the box: an overview at `/`, each camera under
`/cameras/<camera id>/`. This script turns such a folder into a service:

    python3 deploy/cameras.py compose /srv/streamer > compose.yaml && docker compose up -d
    python3 deploy/cameras.py systemd /srv/streamer | sudo sh

Secrets stay beside each config in `NAME.env`; the box reads them all into one
environment, so two cameras must not give one variable two values (refused here).
Standard library only: the box that runs the service need not have streamer installed.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class Camera:
    name: str
    config: Path

    @property
    def secrets(self) -> Path:
        """NAME.env beside NAME.yaml: the camera's secrets as environment variables."""
        return self.config.with_suffix(".env")


def cameras(folder: Path) -> list[Camera]:
    """One camera per ``*.yaml`` in ``folder``, in name order (the order ``streamer run``
    gives them)."""
    configs = sorted(folder.glob("*.yaml"))
    if not configs:
        raise SystemExit(f"{folder}: no *.yaml configs (one per camera: NAME.yaml)")
    for path in configs:
        if not NAME.match(path.stem):
            raise SystemExit(f"{path}: name the file after the camera in lower case "
                             "(letters, digits, '-', '_', '.'): it names the camera's files")
    return [Camera(path.stem, path.resolve()) for path in configs]


def read_env(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of an env file (comments and blank lines skipped)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def box_env(cams: list[Camera]) -> dict[str, str]:
    """Every camera's secrets in one environment; a variable two cameras set differently
    is refused (name them per camera: CAM_DOCK3_PASSWORD)."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for cam in cams:
        if not cam.secrets.exists():
            continue
        for key, value in read_env(cam.secrets).items():
            if key in merged and merged[key] != value:
                raise SystemExit(
                    f"{cam.secrets}: {key} is also set, to another value, in {owner[key]}.env; "
                    "the cameras of a box share one environment: give each camera's secret its own name"
                )
            merged[key], owner[key] = value, cam.name
    return merged


def compose(folder: Path, cams: list[Camera], image: str, port: int) -> str:
    """A compose file with one service for the box: the folder as /config, one /data volume
    (each camera's outbox in data/<camera>/ unless its config names one). Host networking,
    so the monitor stays on the box's loopback (the healthcheck asks there) and cameras on
    the LAN are reached as from the host. JSON is valid YAML."""
    env_files = [str(cam.secrets) for cam in cams if cam.secrets.exists()]
    box_env(cams)  # refuse clashing secrets before anything starts
    service = {
        "image": image,
        "container_name": "streamer-box",
        "restart": "unless-stopped",
        "network_mode": "host",
        "command": ["run", "/config", "--monitor", f"127.0.0.1:{port}"],
        "environment": {"STREAMER_MONITOR_PORT": str(port)},
        # Secrets (ROBOFLOW_API_KEY, CAM_PASSWORD, ...) per camera, never in the YAML.
        **({"env_file": env_files} if env_files else {}),
        "volumes": [f"{folder.resolve()}:/config:ro", "streamer-box:/data"],
        # SIGTERM stops every camera at once; accepted events wait in /data for the next start.
        "stop_grace_period": "30s",
    }
    return json.dumps({"services": {"streamer": service}, "volumes": {"streamer-box": {}}},
                      indent=2) + "\n"


def systemd(cams: list[Camera], port: int) -> str:
    """Shell commands that install the configs in /etc/streamer/cameras, the secrets in
    /etc/streamer/box.env, and enable the `streamer-box` unit."""
    env = box_env(cams)
    env["STREAMER_MONITOR_PORT"] = str(port)
    target = Path("/etc/streamer/cameras")
    lines = ["set -e", f"install -d -m 0750 -g streamer {target}"]
    for cam in cams:
        destination = target / f"{cam.name}.yaml"
        if cam.config != destination:
            lines.append(f"install -m 0640 -g streamer {shlex.quote(str(cam.config))} {destination}")
    body = "".join(f"{key}={value}\n" for key, value in sorted(env.items()))
    lines += [
        f"printf %s {shlex.quote(body)} | install -m 0600 /dev/stdin /etc/streamer/box.env",
        "systemctl daemon-reload",
        "systemctl enable --now streamer-box",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["compose", "systemd", "ports"])
    parser.add_argument("folder", type=Path, help="one NAME.yaml per camera")
    parser.add_argument("--port", "--first-port", dest="port", type=int, default=DEFAULT_PORT,
                        help="the box's monitor port (every camera's page is under it)")
    parser.add_argument("--image", default="streamer", help="image for compose (docker build -t streamer .)")
    args = parser.parse_args(argv)
    cams = cameras(args.folder)
    if args.kind == "compose":
        sys.stdout.write(compose(args.folder, cams, args.image, args.port))
    elif args.kind == "systemd":
        sys.stdout.write(systemd(cams, args.port))
    else:
        sys.stdout.write("".join(f"{cam.name} {args.port} {cam.config}\n" for cam in cams))
    return 0


if __name__ == "__main__":
    sys.exit(main())
