"""Renders the real chat templates in templates/*.jinja with Python's jinja2, the way Hugging Face transformers'
apply_chat_template does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
raise_exception, tojson with ensure_ascii=False), for a fixed set of conversations. Writes golden/<name>.json;
RagTune's C# ChatTemplate tests must reproduce every string exactly (and raise where jinja2 raised).
strftime_now is not defined (as RagTune does not define it), so Llama 3.2 prints its own default date.

Usage (Debian's python3 with python3-jinja2): cd dev/reference/chat_templates && /usr/bin/python3 render_golden.py
"""
import json
import pathlib

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = pathlib.Path(__file__).parent

# Special tokens each model's tokenizer_config.json passes to its template.
TOKENS = {
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "qwen2.5": ("", "<|im_end|>"),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama2": ("<s>", "</s>"),
    "mistral-v0.1": ("<s>", "</s>"),
    "zephyr": ("<s>", "</s>"),
    "gemma": ("<bos>", "<eos>"),
    "gemma3": ("<bos>", "<eos>"),
    "llama3.2": ("<|begin_of_text|>", "<|eot_id|>"),
}

SYSTEM = {"role": "system", "content": "You are a terse assistant."}
CONVERSATIONS = {
    "system_user": [SYSTEM, {"role": "user", "content": "Hello!"}],
    "user_only": [{"role": "user", "content": "What is 2+2?"}],
    "multi_turn": [SYSTEM, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, how can I help?"},
                   {"role": "user", "content": "Name a colour."}],
    "multi_turn_no_system": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                             {"role": "user", "content": "Bye"}],
    "padded_content": [{"role": "user", "content": "  padded text \n"}],
    "unicode": [{"role": "user", "content": "Café 😀 你好 \"quotes\" {braces} {{ not jinja }}"}],
}


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    (HERE / "golden").mkdir(exist_ok=True)
    for path in sorted((HERE / "templates").glob("*.jinja")):
        name = path.stem
        source = path.read_text(encoding="utf-8")
        template = env.from_string(source)
        bos, eos = TOKENS[name]
        cases = []
        for conv_name, messages in CONVERSATIONS.items():
            for gen in (True, False):
                case = {"conversation": conv_name, "add_generation_prompt": gen}
                try:
                    case["output"] = template.render(messages=messages, add_generation_prompt=gen,
                                                     bos_token=bos, eos_token=eos)
                except TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
        out = {"template": f"templates/{name}.jinja", "bos_token": bos, "eos_token": eos,
               "generator": f"render_golden.py (jinja2 {jinja2.__version__})", "conversations": CONVERSATIONS,
               "cases": cases}
        (HERE / "golden" / f"{name}.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(name, sum("output" in c for c in cases), "rendered,", sum("error" in c for c in cases), "raised")


if __name__ == "__main__":
    main()
