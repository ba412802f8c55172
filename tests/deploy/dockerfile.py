"""Reading a Dockerfile and a .dockerignore the way Docker does, for the parts our files use.

- Dockerfile: comments, ``\\`` line continuations, instructions with shell-form or JSON (exec-form) arguments,
  ``ENV``/``ARG`` as ``KEY=VALUE`` pairs.
- .dockerignore: one pattern a line, ``#`` comments, ``!`` re-includes, ``*``/``?`` within a path segment and
  ``**`` across segments; the last matching pattern wins, and a pattern that matches a directory matches
  everything under it (moby's patternmatcher semantics).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON-array arguments of an exec-form instruction (ENTRYPOINT, CMD, HEALTHCHECK ... CMD)."""
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self.args
        return [str(v) for v in value]

    def pairs(self) -> dict[str, str]:
        """``KEY=VALUE`` pairs of an ENV or ARG instruction."""
        out: dict[str, str] = {}
        for word in shlex.split(self.args):
            key, sep, value = word.partition("=")
            out[key] = value if sep else ""
        return out


def instructions(path: Path) -> list[Instruction]:
    out: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continuation are dropped, as Docker does
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    assert not pending, f"{path}: the last instruction ends with a line continuation"
    return out


def image_env(path: Path) -> dict[str, str]:
    """Every variable the image's ENV instructions set."""
    env: dict[str, str] = {}
    for instruction in instructions(path):
        if instruction.keyword == "ENV":
            env.update(instruction.pairs())
    return env


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


@dataclass(frozen=True)
class DockerIgnore:
    rules: tuple[tuple[bool, re.Pattern[str]], ...]
    """(exclude?, pattern) in file order."""

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclude = not line.startswith("!")
            pattern = line.lstrip("!").strip().strip("/")
            rules.append((exclude, _pattern_regex(pattern)))
        return cls(tuple(rules))

    def excluded(self, relative: str) -> bool:
        """Whether a path (relative to the build context, ``/``-separated) stays out of the context."""
        parts = relative.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for exclude, regex in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                result = exclude
        return result
