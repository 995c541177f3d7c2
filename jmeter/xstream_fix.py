#!/usr/bin/env python3
"""Prints the extra JMeter arguments that let Debian's JMeter 2.13 load test plans.

    python3 jmeter/xstream_fix.py [--jmeter CMD] [--build-dir DIR]

Prints one argument per line (nothing for a JMeter that needs no fix, such as 5.x).

Why: Debian bookworm's JMeter 2.13 runs on the system XStream (1.4.20). Since
1.4.18 XStream denies every type that is not explicitly allowed, and JMeter 2.13
never allows its own, so any plan fails to load with
`ForbiddenClassException: org.apache.jmeter.save.ScriptWrapper`.

How: JMeter's SaveService builds its two XStream instances (test plans, results)
once, then registers as a converter every class listed in saveservice.properties
as `_<class>=collection`, handing it the XStream's Mapper. We add one such line
for gateway.loadtest.AllowJMeterTypes (jmeter/xstream-fix/), whose constructor
finds XStream's SecurityMapper in that Mapper chain and allows
`org.apache.jmeter.**` and `org.apache.jorphan.**` (XStream's own defaults stay
as they are; every other type stays denied). Nothing installed is modified:

- the class is compiled here (javac --release 8, against JMeter's xstream.jar)
  into DIR/AllowJMeterTypes.jar, handed over with `-Juser.classpath=`;
- DIR/saveservice.properties is JMeter's own file plus that one line, handed over
  with `-Jsaveservice_properties=`. JMeter 2.13 reads that property as a path
  under its home folder, so the value climbs to / with `/..` and names the file
  absolutely.

JMeter 5.x sets up XStream's security itself (JMeterUtils.setupXStreamSecurityPolicy)
and checks saveservice.properties by checksum, so it gets no extra argument.

Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
SOURCE: Final = HERE / "xstream-fix" / "AllowJMeterTypes.java"
CLASS_NAME: Final = "gateway.loadtest.AllowJMeterTypes"
PROPERTY_LINE: Final = f"_{CLASS_NAME}=collection"
# Enough `/..` to reach / from any JMeter home; extra ones stay at /.
CLIMB: Final = "/.." * 32


class FixError(RuntimeError):
    """The fix is needed but cannot be built; the message says what to install."""


def jmeter_home(command: str) -> Path | None:
    """JMeter's home folder, from $JMETER_HOME, Debian's wrapper or the layout."""
    if os.environ.get("JMETER_HOME"):
        return Path(os.environ["JMETER_HOME"])
    found = shutil.which(command)
    if not found:
        return None
    real = Path(found).resolve()
    try:
        head = real.read_bytes()[:8192].decode("utf-8", "replace")
    except OSError:
        head = ""
    match = re.search(r"-Djmeter\.home=(\S+)", head)
    if match:
        return Path(match.group(1))
    if (real.parent / "ApacheJMeter.jar").exists():
        return real.parent.parent
    return None


def _manifest(jar: Path) -> dict[str, str]:
    with zipfile.ZipFile(jar) as archive:
        text = archive.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    text = text.replace("\r\n", "\n").replace("\n ", "")  # unfold continuation lines
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def jmeter_version(home: Path) -> str | None:
    jar = home / "bin" / "ApacheJMeter.jar"
    if not jar.exists():
        return None
    return _manifest(jar).get("Implementation-Version")


def xstream_jar(home: Path) -> Path | None:
    """The xstream jar JMeter loads: Debian names it in the manifest's Class-Path."""
    jar = home / "bin" / "ApacheJMeter.jar"
    if jar.exists():
        for entry in _manifest(jar).get("Class-Path", "").split():
            if "xstream" in Path(entry).name and Path(entry).exists():
                return Path(entry)
    for candidate in sorted((home / "lib").glob("xstream*.jar")):
        return candidate
    return None


def needs_fix(version: str | None) -> bool:
    return bool(version) and str(version).split(".")[0] == "2"


def build(home: Path, xstream: Path, build_dir: Path) -> list[str]:
    """Compile the class and write the properties file; the JMeter arguments that use them."""
    build_dir.mkdir(parents=True, exist_ok=True)
    jar = build_dir / "AllowJMeterTypes.jar"
    if not jar.exists() or jar.stat().st_mtime < SOURCE.stat().st_mtime:
        javac = shutil.which("javac")
        if not javac:
            raise FixError(
                "JMeter 2.x needs the XStream fix, which needs javac: "
                "apt-get install -y default-jdk-headless"
            )
        with tempfile.TemporaryDirectory() as classes:
            command = [javac, "--release", "8", "-nowarn", "-cp", str(xstream), "-d", classes]
            subprocess.run([*command, str(SOURCE)], check=True)
            partial = jar.with_suffix(".tmp")
            with zipfile.ZipFile(partial, "w") as archive:
                for path in sorted(Path(classes).rglob("*.class")):
                    archive.write(path, path.relative_to(classes).as_posix())
            partial.replace(jar)
    original = (home / "bin" / "saveservice.properties").read_text(encoding="latin-1")
    properties = build_dir / "saveservice.properties"
    properties.write_text(
        original.rstrip("\n")
        + "\n\n# Added by jmeter/xstream_fix.py: allow JMeter's own types in XStream >= 1.4.18.\n"
        + PROPERTY_LINE
        + "\n",
        encoding="latin-1",
    )
    return [
        f"-Jsaveservice_properties={CLIMB}{properties.resolve()}",
        f"-Juser.classpath={jar.resolve()}",
    ]


def fix_arguments(command: str, build_dir: Path) -> list[str]:
    home = jmeter_home(command)
    if home is None:
        return []
    if not needs_fix(jmeter_version(home)):
        return []
    xstream = xstream_jar(home)
    if xstream is None:
        return []
    with zipfile.ZipFile(xstream) as archive:
        if "com/thoughtworks/xstream/mapper/SecurityMapper.class" not in archive.namelist():
            return []  # an XStream without a security framework lets everything through
    return build(home, xstream, build_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jmeter", default=os.environ.get("JMETER", "jmeter"))
    parser.add_argument("--build-dir", type=Path, default=HERE / ".build" / "xstream-fix")
    args = parser.parse_args(argv)
    try:
        for argument in fix_arguments(args.jmeter, args.build_dir):
            print(argument)
    except (FixError, OSError, subprocess.CalledProcessError) as exc:
        print(f"xstream_fix: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
