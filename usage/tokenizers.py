"""Token counting with tokenizers that ship offline (quicktok-v1), and the chat-template rule we bill by.

A catalog model names its tokenizer (billing.CatalogModel.tokenizer): "llama3", "qwen3" or
"o200k_harmony"; "" means none ships offline, so the node's own count is billed, marked unverified.

The chat-template rule (how a list of messages becomes prompt tokens). Each family is rendered the
way its reference template does for a plain text conversation, with the generation prompt appended,
and counted with special tokens recognised:

- llama3 (Llama 3.1 / 3.3 template): `<|begin_of_text|>`, then a system turn that always starts with
  "Cutting Knowledge Date: December 2023\\nToday Date: 26 Jul 2024\\n\\n" (the template injects it even
  without a system message), then per message `<|start_header_id|>{role}<|end_header_id|>\\n\\n
  {content}<|eot_id|>`, then `<|start_header_id|>assistant<|end_header_id|>\\n\\n`.
- qwen3 (ChatML): per message `<|im_start|>{role}\\n{content}<|im_end|>\\n`, then
  `<|im_start|>assistant\\n`.
- o200k_harmony (gpt-oss): the harmony system header (model identity, knowledge cutoff, reasoning
  level, channels), a system message becomes a `developer` message with "# Instructions", each other
  message `<|start|>{role}<|message|>{content}<|end|>`, then `<|start|>assistant`.

Text content parts of a message are joined; tools, images and names are not modelled (a request with
them is counted on its text, and the node's count, stored beside ours, shows any gap). The completions
endpoint counts the prompt as is (Llama adds `<|begin_of_text|>`). Completion tokens are counted on the
text the platform delivered, without special tokens. See usage/tests/test_tokenizers.py for the
measured error against the demo node.
"""

from functools import cache

import quicktok

TOKENIZER_NAMES = ("llama3", "qwen3", "o200k_harmony")

LLAMA3_SYSTEM_PREAMBLE = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
HARMONY_SYSTEM = (
    "You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\n\n"
    "Reasoning: medium\n\n# Valid channels: analysis, commentary, final. "
    "Channel must be included for every message."
)

# Upper bound of the tokens a template adds per message, for models without a tokenizer: used only to
# size the hold (every token is at least one byte, so bytes of text + this is never too small).
UNVERIFIED_OVERHEAD_PER_MESSAGE = 16
UNVERIFIED_OVERHEAD = 128


@cache
def encoding(name: str):
    """The quicktok encoding for a tokenizer name, or None for "" / an unknown name."""
    if name not in TOKENIZER_NAMES:
        return None
    return quicktok.get_encoding(name)


def message_text(content) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


# The special tokens each chat template writes (each is one token).
TEMPLATE_SPECIALS = {
    "llama3": ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
    "qwen3": ("<|im_start|>", "<|im_end|>"),
    "o200k_harmony": ("<|start|>", "<|message|>", "<|end|>"),
}


def render_chat_pieces(name: str, messages) -> list[str]:
    """The prompt as the model sees it, in pieces: each template special token is a piece of its own."""
    pairs = [(m.get("role", "user"), message_text(m.get("content"))) for m in messages]
    if name == "llama3":
        out = ["<|begin_of_text|>"]
        if pairs and pairs[0][0] == "system":
            system, pairs = pairs[0][1], pairs[1:]
        else:
            system = ""
        out += [
            "<|start_header_id|>",
            "system",
            "<|end_header_id|>",
            "\n\n",
            LLAMA3_SYSTEM_PREAMBLE,
            system,
            "<|eot_id|>",
        ]
        for role, text in pairs:
            out += ["<|start_header_id|>", role, "<|end_header_id|>", "\n\n", text, "<|eot_id|>"]
        out += ["<|start_header_id|>", "assistant", "<|end_header_id|>", "\n\n"]
        return out
    if name == "qwen3":
        out = []
        for role, text in pairs:
            out += ["<|im_start|>", role, "\n", text, "<|im_end|>", "\n"]
        out += ["<|im_start|>", "assistant\n"]
        return out
    if name == "o200k_harmony":
        out = ["<|start|>", "system", "<|message|>", HARMONY_SYSTEM, "<|end|>"]
        for role, text in pairs:
            if role in ("system", "developer"):
                out += ["<|start|>", "developer", "<|message|>", "# Instructions\n\n", text, "<|end|>"]
            else:
                out += ["<|start|>", role, "<|message|>", text, "<|end|>"]
        out.append("<|start|>")
        out.append("assistant")
        return out
    raise ValueError(f"No chat template for tokenizer {name!r}")


def render_chat(name: str, messages) -> str:
    """The prompt as the model sees it (special tokens as text), by the rule in this module's docstring."""
    return "".join(render_chat_pieces(name, messages))


def render_prompt(name: str, prompt: str) -> str:
    return "<|begin_of_text|>" + prompt if name == "llama3" else prompt


def _count_with_special(enc, text: str) -> int:
    """len(enc.encode_with_special(text)), fast: matching special tokens costs quicktok ~150 us a call
    (hundreds of reserved tokens), and text without a "<" can hold none (every special token starts so)."""
    if "<" in text:
        return len(enc.encode_with_special(text))
    return enc.count(text)


def count_chat(name: str, messages) -> int | None:
    """Prompt tokens of a chat request, or None when no tokenizer ships for `name`.

    Exactly `count_chat_reference`, without matching special tokens across the whole prompt: special
    tokens split the text, so the template's own are counted one each and the text between them on
    its own (usage/tests/test_tokenizers.py checks the two agree on arbitrary conversations).
    """
    enc = encoding(name)
    if enc is None:
        return None
    specials = TEMPLATE_SPECIALS[name]
    total, run = 0, []
    for piece in render_chat_pieces(name, messages):
        if piece in specials:
            if run:
                total += _count_with_special(enc, "".join(run))
                run = []
            total += 1
        else:
            run.append(piece)
    if run:
        total += _count_with_special(enc, "".join(run))
    return total


def count_chat_reference(name: str, messages) -> int | None:
    """Prompt tokens by tokenizing the whole rendered prompt (what the demo node counts with)."""
    enc = encoding(name)
    if enc is None:
        return None
    return len(enc.encode_with_special(render_chat(name, messages)))


def count_prompt(name: str, prompts: list[str]) -> int | None:
    enc = encoding(name)
    if enc is None:
        return None
    return sum(_count_with_special(enc, render_prompt(name, p)) for p in prompts)


def count_text(name: str, text: str) -> int | None:
    """Completion tokens of delivered text (special-token strings in it count as ordinary text)."""
    enc = encoding(name)
    if enc is None:
        return None
    return enc.count(text) if text else 0  # count(): encode_ordinary's tokens, without building the list


def truncate_text(name: str, text: str, max_tokens: int) -> str:
    """The first `max_tokens` tokens of `text` (the gateway's max_tokens enforcement)."""
    enc = encoding(name)
    if enc is None:
        return text
    tokens = enc.encode_ordinary(text)
    return text if len(tokens) <= max_tokens else enc.decode(tokens[:max_tokens])


def upper_bound_chat(messages) -> int:
    """Prompt tokens can be no more than this, whatever the tokenizer (for holds on unverified models)."""
    size = sum(len(message_text(m.get("content")).encode()) + UNVERIFIED_OVERHEAD_PER_MESSAGE for m in messages)
    return size + UNVERIFIED_OVERHEAD


def upper_bound_prompt(prompts: list[str]) -> int:
    return sum(len(p.encode()) for p in prompts) + UNVERIFIED_OVERHEAD


def tokenizer_for_model_id(model_id: str) -> str:
    """A tokenizer by model family, for the demo node, which has no catalog to look it up in."""
    lowered = model_id.lower()
    if "qwen" in lowered:
        return "qwen3"
    if "gpt-oss" in lowered:
        return "o200k_harmony"
    return "llama3"
