"""Find Java and check its version before Spark tries to start it.

Spark's own message for a missing Java is a Py4J stack trace; a platform engineer should
instead read what is missing and the command that installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

SUPPORTED_JAVA = (17, 21)
INSTALL_HINT = (
    "install Java 17 or 21, e.g. `sudo apt-get install -y openjdk-17-jre-headless` "
    "(Debian/Ubuntu), `sudo dnf install -y java-17-openjdk-headless` (RHEL/Fedora) or "
    "`brew install openjdk@17` (macOS), or set JAVA_HOME to an existing JDK"
)


class JavaNotFoundError(RuntimeError):
    """No usable Java runtime: Spark cannot start."""


@dataclass(frozen=True)
class JavaInfo:
    executable: str
    version: str
    major: int


def find_java() -> str:
    """The java executable Spark will use: $JAVA_HOME/bin/java, else java on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
        raise JavaNotFoundError(
            f"JAVA_HOME={java_home!r} has no executable bin/java; fix JAVA_HOME or "
            f"unset it and {INSTALL_HINT}"
        )
    found = shutil.which("java")
    if not found:
        raise JavaNotFoundError(f"Spark needs Java but none was found on PATH: {INSTALL_HINT}")
    return found


def parse_java_version(text: str) -> tuple[str, int]:
    """Version string and major number from `java -version` output ('17.0.15' -> 17)."""
    match = re.search(r'version "([^"]+)"', text)
    if not match:
        raise JavaNotFoundError(f"cannot read a Java version from: {text.strip()[:200]!r}")
    version = match.group(1)
    parts = version.split(".")
    major = int(parts[1]) if parts[0] == "1" else int(re.match(r"\d+", parts[0]).group(0))
    return version, major


def check_java() -> JavaInfo:
    """Return the Java Spark will use, or raise JavaNotFoundError saying how to fix it."""
    executable = find_java()
    try:
        proc = subprocess.run(
            [executable, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaNotFoundError(f"{executable} -version failed ({exc}): {INSTALL_HINT}") from exc
    version, major = parse_java_version(proc.stderr + proc.stdout)
    if major not in SUPPORTED_JAVA:
        raise JavaNotFoundError(
            f"Java {version} at {executable} is not supported by Spark 4 "
            f"(supported: {', '.join(map(str, SUPPORTED_JAVA))}): {INSTALL_HINT}"
        )
    return JavaInfo(executable=executable, version=version, major=major)
