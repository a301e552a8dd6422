"""The documented host, stood up in a temporary folder: a throwaway CA and server certificate,
the shipped nginx site and operators' wrapper with this run's ports and paths in place of the
host's, the systemd units' commands run as the units would run them, and an SMTP server that
keeps what it is given.

Nothing is installed here: nginx and openssl are the system's (`make proxy`). Every wait is
bounded; only the processes started here are stopped, by their PID.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shlex
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.deployment import commands
from tests.processes import Process, cli_command

NGINX = Path(os.environ.get("CSPR_NGINX", "/usr/sbin/nginx"))
COMMAND_SECONDS = 60  # one command of the document, or openssl, finishes within this


def missing_tools() -> str | None:
    """Why the topology cannot be stood up here, or None."""
    if not NGINX.is_file() or not os.access(NGINX, os.X_OK):
        return f"{NGINX} is missing: `make proxy` installs Debian's nginx"
    for tool in ("openssl", "curl", "bash", "sed", "grep"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (`make proxy` installs openssl)"
    return None


def substitute(text: str, replacements: list[tuple[str, str, int]], what: str) -> str:
    """Each (shipped, ours, times): `shipped` must occur exactly `times` times, so that a
    change to the shipped file cannot leave a value of the host's in the test's copy."""
    for shipped, ours, times in replacements:
        found = text.count(shipped)
        assert found == times, f"{what}: {shipped!r} found {found} times, expected {times}"
        text = text.replace(shipped, ours)
    return text


# -- certificates -----------------------------------------------------------------------------


@dataclass
class Tls:
    ca: Path
    certificate: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=COMMAND_SECONDS
    )
    assert done.returncode == 0, f"openssl {args[0]} failed:\n{done.stderr}"


def make_certificates(folder: Path) -> Tls:
    """A CA made for this run alone, and a certificate from it for 127.0.0.1."""
    folder.mkdir(parents=True)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=cspr-engine deployment test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=folder,
    )  # fmt: skip
    (folder / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
        cwd=folder,
    )  # fmt: skip
    return Tls(ca=folder / "ca.pem", certificate=folder / "server.pem", key=folder / "server.key")


# -- nginx ------------------------------------------------------------------------------------


@dataclass
class Ports:
    http: int
    https: int
    web: tuple[int, int]

    @property
    def public_url(self) -> str:
        return f"https://127.0.0.1:{self.https}"


def render_site(ports: Ports, tls: Tls, logs: Path) -> str:
    """deploy/nginx/cspr-engine.conf with this run's listening ports (on 127.0.0.1), the two
    processes' ports, the certificate and the log folder; nothing else changed."""
    shipped_ports = commands.WEB_PORTS
    return substitute(
        commands.NGINX_SITE.read_text(encoding="utf-8"),
        [
            ("listen 80;", f"listen 127.0.0.1:{ports.http};", 1),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports.https} ssl http2;", 1),
            (
                f"return 301 {commands.PUBLIC_URL}$request_uri;",
                f"return 301 {ports.public_url}$request_uri;",
                1,
            ),
            (f"server 127.0.0.1:{shipped_ports[0]};", f"server 127.0.0.1:{ports.web[0]};", 1),
            (f"server 127.0.0.1:{shipped_ports[1]};", f"server 127.0.0.1:{ports.web[1]};", 1),
            ("/etc/ssl/certs/cspr-engine.pem", str(tls.certificate), 1),
            ("/etc/ssl/private/cspr-engine.key", str(tls.key), 1),
            ("/var/log/nginx/", f"{logs}/", 4),
        ],
        "the nginx site",
    )


def nginx_main_conf(prefix: Path, site: Path) -> str:
    """The smallest nginx.conf around the site: everything nginx writes in `prefix`. As root,
    the workers stay root (they would be `nobody`, who cannot enter a private temp folder)."""
    temp = prefix / "temp"
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\n"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/logs/main-error.log notice;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {prefix}/logs/main-access.log;\n"
        f"    client_body_temp_path {temp}/body;\n"
        f"    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n"
        f"    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        f"    include {site};\n"
        "}\n"
    )


def nginx_args(prefix: Path) -> list[str]:
    return [
        str(NGINX), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
        "-e", str(prefix / "logs" / "error.log"),
    ]  # fmt: skip


# -- the host ---------------------------------------------------------------------------------


@dataclass
class Host:
    """The documented host's places, in a temporary folder: /etc/cspr-engine, /srv/cspr-engine,
    /var/backups/cspr-engine, /usr/local/bin (the wrapper, and `nginx` with this run's
    configuration), and nginx's own prefix."""

    root: Path
    ports: Ports
    tls: Tls
    env: dict[str, str] = field(default_factory=dict)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def env_file(self) -> Path:
        return self.etc / "cspr-engine.env"

    @property
    def srv(self) -> Path:
        return self.root / "srv"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def nginx(self) -> Path:
        return self.root / "nginx"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def lay_out(self, settings: dict[str, str]) -> None:
        for folder in (self.etc, self.srv, self.backups, self.bin, self.logs):
            folder.mkdir(parents=True)
        for name in ("logs", "temp", "sites"):
            (self.nginx / name).mkdir(parents=True)
        self.env = settings
        self.env_file.write_text(commands.render_environment_file(settings))
        self.env_file.chmod(0o640)
        wrapper = self.bin / "cspr-engine"
        wrapper.write_text(
            substitute(
                commands.WRAPPER.read_text(encoding="utf-8"),
                [
                    (
                        f'exec {commands.INSTALLED} "$@"',
                        f'exec {shlex.join(cli_command())} "$@"',
                        1,
                    ),
                    (f". {commands.ENV_FILE}\n", f". {self.env_file}\n", 1),
                    (f"cd {commands.SRV}\n", f"cd {self.srv}\n", 1),
                ],
                "the wrapper",
            )
        )
        wrapper.chmod(0o755)
        site = self.nginx / "sites" / "cspr-engine.conf"
        site.write_text(render_site(self.ports, self.tls, self.nginx / "logs"))
        (self.nginx / "nginx.conf").write_text(nginx_main_conf(self.nginx, site))
        shim = self.bin / "nginx"
        shim.write_text(f'#!/bin/sh\nexec {shlex.join(nginx_args(self.nginx))} "$@"\n')
        shim.chmod(0o755)

    def shell_env(self) -> dict[str, str]:
        """A shell on the host: no CSPR_ setting of this test's own, the host's commands
        first on the PATH, curl trusting the run's CA."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            CURL_CA_BUNDLE=str(self.tls.ca),
            PYTHONUNBUFFERED="1",
        )
        return env

    def render_script(self, script: str) -> str:
        """A script with the host's places and ports in place of the documented ones; none of
        those may be left."""
        places = [
            (commands.PUBLIC_URL, self.ports.public_url),
            (commands.ENV_FILE, str(self.env_file)),
            (commands.BACKUPS, str(self.backups)),
            *(
                (f"127.0.0.1:{shipped}", f"127.0.0.1:{ours}")
                for shipped, ours in zip(commands.WEB_PORTS, self.ports.web, strict=True)
            ),
        ]
        rendered = substitute(
            script, [(ours, theirs, script.count(ours)) for ours, theirs in places], "a script"
        )
        documented = ["cspr.example.org", commands.ENV_FILE, commands.SRV, commands.BACKUPS]
        documented += [f"127.0.0.1:{port}/" for port in commands.WEB_PORTS]
        for place in documented:
            assert place not in rendered, f"{place} left in:\n{rendered}"
        return rendered

    def run_script(self, name: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """One shell block of docs/deployment.md, run by bash with the host's places; a
        failing command fails it (set -e, pipefail)."""
        script = self.render_script(commands.SCRIPTS[name])
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env=self.shell_env(),
            cwd=self.root,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
        )
        assert done.returncode == 0, (
            f"the document's {name!r} block failed ({done.returncode}):\n{script}\n"
            f"{done.stdout}\n{done.stderr}"
        )
        return done

    def run_wrapper(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """`cspr-engine ARGS` as an operator runs it on the host (the wrapper)."""
        done = subprocess.run(
            [str(self.bin / "cspr-engine"), *args],
            env=self.shell_env(),
            cwd=self.root,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
        )
        assert done.returncode == 0, f"cspr-engine {shlex.join(args)}:\n{done.stderr}"
        return done

    # -- the units ----------------------------------------------------------------------------

    def unit_command(self, name: str, instance: str = "") -> tuple[list[str], dict[str, str]]:
        """What systemd would run for the unit: its ExecStart (with %i), in an environment of
        its Environment= lines overridden by its EnvironmentFile (systemd's order), from its
        WorkingDirectory. User= and Group= are not taken: the test runs as itself."""
        service = commands.unit(commands.UNITS / name)["Service"]
        (exec_start,) = service["ExecStart"]
        assert exec_start == commands.EXEC_STARTS[name]
        argv = shlex.split(exec_start.replace("%i", instance))
        assert argv[0] == commands.INSTALLED
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
        env["PYTHONUNBUFFERED"] = "1"
        for assignment in service.get("Environment", []):
            for pair in shlex.split(assignment):
                key, _, value = pair.partition("=")
                env[key] = value
        assert service["EnvironmentFile"] == [commands.ENV_FILE], name
        env.update(commands.environment_file(self.env_file.read_text()))
        assert service["WorkingDirectory"] == [commands.SRV], name
        return [*cli_command(), *argv[1:]], env

    def run_unit(self, name: str) -> subprocess.CompletedProcess[str]:
        """A oneshot unit, run to its end."""
        argv, env = self.unit_command(name)
        done = subprocess.run(
            argv,
            env=env,
            cwd=self.srv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
        )
        assert done.returncode == 0, f"{name}:\n{done.stdout}\n{done.stderr}"
        return done

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Process:
        out, err = self.logs / f"{name}.out", self.logs / f"{name}.err"
        with out.open("ab") as stdout, err.open("ab") as stderr:
            process = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
            )
        return Process(name, process, out, err)

    def start_unit(self, name: str, instance: str = "") -> Process:
        argv, env = self.unit_command(name, instance)
        label = name.replace("@.service", f"@{instance}").removesuffix(".service")
        return self.start(label, argv, env, self.srv)

    def start_nginx(self) -> Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
        return self.start("nginx", [*nginx_args(self.nginx), "-g", "daemon off;"], env, self.root)


def access_lines(process: Process) -> list[str]:
    """uvicorn's access log lines of a `serve` (JSON lines: CSPR_LOG_FORMAT=json)."""
    lines = []
    for raw in process.stderr.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("logger") == "uvicorn.access":
            lines.append(str(line["message"]))
    return lines


# -- e-mail -----------------------------------------------------------------------------------


@dataclass
class Mail:
    rcpt_tos: list[str]
    message: EmailMessage


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mails.append(Mail(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Mail]:
        with self.lock:
            return list(self.mails)
