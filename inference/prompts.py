"""Turning an item's messages and a configuration's system prompt into what a model reads."""

from __future__ import annotations


def build_messages(messages: list[dict], system_prompt: str = "") -> list[dict]:
    """The item's conversation, with the configuration's system prompt first unless the item
    brings its own."""
    if system_prompt and not (messages and messages[0]["role"] == "system"):
        return [{"role": "system", "content": system_prompt}, *messages]
    return list(messages)


def render_chat(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of the conversation through the tokenizer's chat template, ready for the
    assistant's turn. A tokenizer without a template gets the contents joined by blank lines."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    else:
        text = "\n\n".join(m["content"] for m in messages)
    return tokenizer.encode(text, add_special_tokens=False)


def truncate_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """Cut text at the first stop sequence; say whether one was found."""
    cut = min((i for s in stops if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
