"""The floors: the torch-free leaves import no torch or OpenCV, ``semipose --version`` and
``--help`` start without them, and every user-facing error is one family."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import semipose
from semipose import errors

SRC = Path(semipose.__file__).parent


def _heavy_after(code: str) -> list[str]:
    """The heavy modules (torch, cv2) imported after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'cv2'))))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["train", "--help"]])
def test_cli_starts_without_torch_or_opencv(args):
    code = f"from semipose.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass"
    assert _heavy_after(code) == []


def test_version_is_printed_from_one_place(capsys):
    from semipose.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == semipose.__version__


@pytest.mark.parametrize("module", ["semipose.errors", "semipose.params", "semipose.geometry", "semipose.config", "semipose._typing"])
def test_leaves_import_no_torch_or_opencv(module):
    assert _heavy_after(f"import {module}") == []


def _imports(path: Path) -> set[str]:
    """The semipose modules a source file imports (relative imports resolved)."""
    pkg = path.relative_to(SRC.parent).with_suffix("").parts
    if pkg[-1] == "__init__":
        pkg = pkg[:-1]
    else:
        pkg = pkg[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                out.add(".".join([*base, *(node.module.split(".") if node.module else [])]))
            elif node.module and node.module.startswith("semipose"):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("semipose")}
    return out


#: floor of each top-level room; a room imports only rooms on its own floor or below
FLOORS = {
    "_typing": 0, "_version": 0, "errors": 0, "params": 1, "geometry": 1, "config": 2, "image": 1, "skeletons": 1, "device": 1,
    "threads": 1, "hub": 1, "video": 1, "detect": 2,
    "codec": 2, "losses": 2, "models": 3, "data": 3, "synth": 3, "ssl": 4, "evaluation": 4, "visualize": 4,
    "engine": 5, "predict": 5, "bench": 6, "cli": 7,
}


def test_no_import_runs_up_a_floor():
    wrong = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue  # the package face: lazy attribute access only
        room = rel.parts[0].removesuffix(".py")
        for mod in _imports(path):
            parts = mod.split(".")
            if len(parts) < 2:  # the package face itself stands above every floor
                wrong.append(f"{rel} imports the package face {mod}")
                continue
            if parts[1] == room:
                continue
            if FLOORS[parts[1]] > FLOORS[room]:
                wrong.append(f"{rel} imports {mod}")
    assert wrong == []


def test_the_package_imports_itself_relatively():
    absolute = [
        f"{p.relative_to(SRC)}:{n.lineno}" for p in SRC.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
        if (isinstance(n, ast.ImportFrom) and n.level == 0 and (n.module or "").split(".")[0] == "semipose")
        or (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "semipose" for a in n.names))
    ]
    assert absolute == []


def test_every_error_is_a_semipose_error():
    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.SemiposeError) for c in classes)
    # each keeps its Python meaning, so `except ValueError` / `except OSError` code still works
    assert issubclass(errors.ConfigError, ValueError) and issubclass(errors.ImageReadError, OSError)
    assert issubclass(errors.MissingImageError, FileNotFoundError) and issubclass(errors.MissingJsonError, errors.DataFormatError)
    # no other module defines an exception class
    defined = [
        f"{p.relative_to(SRC)}:{n.name}" for p in SRC.rglob("*.py") if p.name != "errors.py"
        for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.ClassDef) and any(
            getattr(b, "id", "").endswith(("Error", "Exception")) for b in n.bases)
    ]
    assert defined == []


def test_no_source_file_over_600_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}


def _module_file(mod: str) -> Path | None:
    """The source file of a dotted semipose module name (a package's ``__init__.py``), if any."""
    if "." not in mod:
        return None  # the package face (reported by the floor test)
    rel = Path(*mod.split(".")[1:])
    for cand in (SRC / rel.with_suffix(".py"), SRC / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _file_graph() -> dict[Path, set[Path]]:
    """File → the semipose files it imports (anywhere in it: top level, functions, TYPE_CHECKING)."""
    graph: dict[Path, set[Path]] = {}
    for path in SRC.rglob("*.py"):
        deps = {f for m in _imports(path) if (f := _module_file(m)) is not None and f != path}
        graph[path] = {f for f in deps if f.name != "__init__.py" or len(f.relative_to(SRC).parts) > 1}
    return graph


def test_no_two_files_import_each_other_in_a_circle():
    graph = _file_graph()
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    on: set[Path] = set()
    circles: list[list[str]] = []

    def visit(v: Path) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(str(w.relative_to(SRC)))
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


#: modules of the torch-free floors (0–2 but codec and losses); importing one starts no torch
TORCH_FREE = ["semipose.errors", "semipose._typing", "semipose._version", "semipose.params", "semipose.geometry",
              "semipose.config", "semipose.image", "semipose.video", "semipose.skeletons", "semipose.threads", "semipose.hub"]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_torch_free_floors_import_no_torch(module):
    assert [m for m in _heavy_after(f"import {module}") if m.split(".")[0] == "torch"] == []


def test_the_engine_and_predict_do_not_reach_into_each_other():
    """Both stand on detect/ (the detector contract and the person detector), neither on the other."""
    sideways = [f"{p.relative_to(SRC)} imports {m}" for room, other in (("engine", "predict"), ("predict", "engine"))
                for p in (SRC / room).rglob("*.py") for m in _imports(p) if m.startswith(f"semipose.{other}")]
    assert sideways == []


def test_a_config_typo_is_reported_before_torch_is_imported(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\n")
    code = (f"from semipose.cli import main\nimport sys\nassert main(['train', {str(cfg)!r}, 'trian.lr=1']) == 2")
    assert _heavy_after(code) == []


def _function_lines(path: Path, name: str) -> int:
    node = next(n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef) and n.name == name)
    return (node.end_lineno or node.lineno) - node.lineno + 1


def test_one_module_per_command():
    """cli/<command>.py registers its own arguments; the parser is assembled in a few lines."""
    from semipose.cli import COMMANDS, build_parser

    names = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert names == sorted(["train", "eval", "predict", "export", "suggest", "compare", "models", "data", "bench"])
    assert all(hasattr(c, "register") for c in COMMANDS)
    long = {p.name: n for p in (SRC / "cli").glob("*.py") if (n := len(p.read_text().splitlines())) > 200}
    assert long == {}
    assert _function_lines(SRC / "cli/__init__.py", "build_parser") <= 40


def test_the_training_step_reads_as_named_steps():
    """SemiSupervisedModel.forward is a few named steps (supervised, teach, corrections, views, terms), SSPCM a plug."""
    assert _function_lines(SRC / "ssl/methods.py", "forward") <= 40
    assert "agreement_weights" not in (SRC / "ssl/methods.py").read_text()


def test_the_default_input_size_and_padding_are_defined_once():
    import re

    literal = re.compile(r"\(192, 256\)|\[192, 256\]|padding: float = 1\.25|padding=1\.25")
    found = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py") if p.name != "geometry.py"
             for i, line in enumerate(p.read_text().splitlines(), 1) if literal.search(line.split("#")[0])]
    assert found == []


def test_only_the_video_module_opens_videos():
    opened = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if p.name != "video.py"
              and ("VideoCapture(" in p.read_text() or "CAP_PROP_FRAME_COUNT" in p.read_text())]
    assert opened == []
