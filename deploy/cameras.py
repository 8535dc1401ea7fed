"""Many cameras on one box: one streamer process per config in a folder.

Each camera runs as its own process (a container, or a `streamer@NAME` systemd instance)
with its own outbox and its own monitor port, so one camera's crash, backlog or restart
never touches another's. This script turns a folder of configs (`NAME.yaml`, one per
camera) into that layout; ports are given in the sorted order of the names, from
``--first-port`` up, and are stable as long as the folder's names are.

    python3 deploy/cameras.py compose /srv/streamer > compose.yaml && docker compose up -d
    python3 deploy/cameras.py systemd /etc/streamer | sudo sh

Standard library only: the box that runs the containers need not have streamer installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Camera:
    name: str
    config: Path
    port: int

    @property
    def secrets(self) -> Path:
        """NAME.env beside NAME.yaml: the camera's secrets as environment variables."""
        return self.config.with_suffix(".env")


def cameras(folder: Path, first_port: int) -> list[Camera]:
    """One camera per ``*.yaml`` in ``folder``, each with the next monitor port."""
    configs = sorted(folder.glob("*.yaml"))
    if not configs:
        raise SystemExit(f"{folder}: no *.yaml configs (one per camera: NAME.yaml)")
    for path in configs:
        if not NAME.match(path.stem):
            raise SystemExit(f"{path}: name the file after the camera in lower case "
                             "(letters, digits, '-', '_', '.'): it names the container, unit and volume")
    return [Camera(path.stem, path.resolve(), first_port + i) for i, path in enumerate(configs)]


def compose(cams: list[Camera], image: str) -> str:
    """A compose file: a service and a named /data volume per camera. Host networking, so
    each monitor stays on the box's loopback at its own port (the healthcheck asks there)
    and cameras on the LAN are reached as from the host. JSON is valid YAML."""
    services = {
        cam.name: {
            "image": image,
            "container_name": f"streamer-{cam.name}",
            "restart": "unless-stopped",
            "network_mode": "host",
            "command": ["run", "/config/streamer.yaml", "--monitor", f"127.0.0.1:{cam.port}"],
            "environment": {"STREAMER_MONITOR_PORT": str(cam.port)},
            # Secrets (ROBOFLOW_API_KEY, CAM_PASSWORD, ...) per camera, never in the YAML.
            **({"env_file": [str(cam.secrets)]} if cam.secrets.exists() else {}),
            "volumes": [f"{cam.config}:/config/streamer.yaml:ro", f"streamer-{cam.name}:/data"],
            # SIGTERM stops a run at once; accepted events wait in /data for the next start.
            "stop_grace_period": "30s",
        }
        for cam in cams
    }
    volumes = {f"streamer-{cam.name}": {} for cam in cams}
    return json.dumps({"services": services, "volumes": volumes}, indent=2) + "\n"


def systemd(cams: list[Camera]) -> str:
    """Shell commands that give each camera its port and enable its `streamer@NAME` unit."""
    lines = ["set -e"]
    for cam in cams:
        target = Path("/etc/streamer") / f"{cam.name}.yaml"
        env = target.with_suffix(".env")
        if cam.config != target:
            lines.append(f"install -m 0640 -g streamer {cam.config} {target}")
            if cam.secrets.exists():
                lines.append(f"install -m 0600 {cam.secrets} {env}")
        lines += [
            f"touch {env} && chmod 0600 {env}",
            f"sed -i '/^STREAMER_MONITOR_PORT=/d' {env} && echo STREAMER_MONITOR_PORT={cam.port} >> {env}",
            f"systemctl enable --now streamer@{cam.name}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["compose", "systemd", "ports"])
    parser.add_argument("folder", type=Path, help="one NAME.yaml per camera")
    parser.add_argument("--first-port", type=int, default=8081, help="monitor port of the first camera")
    parser.add_argument("--image", default="streamer", help="image for compose (docker build -t streamer .)")
    args = parser.parse_args(argv)
    cams = cameras(args.folder, args.first_port)
    if args.kind == "compose":
        sys.stdout.write(compose(cams, args.image))
    elif args.kind == "systemd":
        sys.stdout.write(systemd(cams))
    else:
        sys.stdout.write("".join(f"{cam.name} {cam.port} {cam.config}\n" for cam in cams))
    return 0


if __name__ == "__main__":
    sys.exit(main())
