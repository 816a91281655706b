"""`make template`: a `pulumi new` template of the ready-made program, made from this checkout.

`pulumi new <a clone>` would copy the whole repository (tests, bench, .ci, a `.venv` whose lib64 link it
cannot read, and the committed dev stack with data protection off): pulumi/pulumi pkg/cmd/pulumi/templates,
walkFiles, skips only `.git`. So the template is made here instead, holding what a user's project needs
and nothing else: the program (`__main__.py` and `route_counter/`), its requirements, and `Pulumi.yaml`
with every key of this one (same types, defaults and descriptions) plus the questions `pulumi new` asks.
No stack file: a new stack starts from `Pulumi.yaml`'s defaults, data protection on.

Standard library only, so it runs with the machine's python3 before any venv exists.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ("__main__.py", "requirements.txt", "requirements-lambda.txt")
# What `pulumi new` asks (each has a default: --yes takes them all); written into the template only.
QUESTIONS = """\
# `pulumi new` asks for these (each has a default; --yes takes them all).
template:
  displayName: route-counter
  description: Count which routes of your API or site are used - API Gateway REST API, two Lambdas, DynamoDB
  config:
    aws:region:
      description: The AWS region to deploy into
      default: us-east-1
    countsAccess:
      description: Who may read the listing - public, apiKey or iam
      default: public
"""
GITIGNORE = "venv/\n__pycache__/\n*.pyc\n"
NAME = "name: ${PROJECT}\n"  # how a template's Pulumi.yaml begins: the only folder this script replaces


def project_file(text: str) -> str:
    """This Pulumi.yaml for a project of the user's own name, its venv where `pulumi new` makes one."""
    text, named = re.subn(r"^name: .*\n", NAME, text, count=1, flags=re.M)
    text, described = re.subn(r"^description: .*$", "description: ${DESCRIPTION}", text, count=1, flags=re.M)
    text, venv = re.subn(r"^(    virtualenv:) .*$", r"\1 venv", text, count=1, flags=re.M)
    head, config = text.split("\nconfig:\n", 1)
    if not (named and described and venv and config):
        raise ValueError("Pulumi.yaml lacks its name, description, runtime virtualenv or config section")
    return f"{head.rstrip()}\n{QUESTIONS}config:\n{config}"


def make(dest: Path) -> Path:
    where = dest.resolve()
    if (where == ROOT or ROOT in where.parents) and ROOT / "dist" not in where.parents:
        raise ValueError(f"{dest} is inside the checkout: write the template under dist/ or outside it")
    if dest.exists() and any(dest.iterdir()):
        if not (dest / "Pulumi.yaml").is_file() or not (dest / "Pulumi.yaml").read_text().startswith(NAME):
            raise ValueError(f"{dest} holds other files: name an empty folder or an earlier template")
        shutil.rmtree(dest)  # an earlier template: made again from this checkout
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "Pulumi.yaml").write_text(project_file((ROOT / "Pulumi.yaml").read_text()))
    for name in PROGRAM:
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "route_counter", dest / "route_counter",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / ".gitignore").write_text(GITIGNORE)
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 tools/template.py DIR", file=sys.stderr)
        return 2
    try:
        dest = make(Path(argv[0]))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"a pulumi new template in {dest}: pulumi new {dest} --dir ../my-counter")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
