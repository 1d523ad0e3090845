"""Prompt strategies and answer-format instructions.

A strategy is a user-message template with two placeholders, `{problem}` and
`{answer_format}`. Only those two exact tokens are substituted (not str.format),
so a template may contain LaTeX braces freely. A user overrides the template with
a file (`--template FILE`).

The three strategies come from the seed notes:
- cot: think step by step;
- least_to_most: decompose into sub-problems first, then solve them in order;
- step_back: state the general principle first, then apply it.
"""

from __future__ import annotations

from pathlib import Path

from verifiers.errors import CotmillError

STRATEGIES: dict[str, str] = {
    "cot": (
        "Solve the following problem. Think step by step and show your reasoning.\n\n"
        "{problem}\n\n{answer_format}"
    ),
    "least_to_most": (
        "Solve the following problem. First break it down into simpler sub-problems and list them. "
        "Then solve the sub-problems one by one, using each answer in the next.\n\n"
        "{problem}\n\n{answer_format}"
    ),
    "step_back": (
        "Solve the following problem. First step back and state the general principle or method "
        "that applies to problems of this kind. Then apply it step by step.\n\n"
        "{problem}\n\n{answer_format}"
    ),
}

ANSWER_FORMATS: dict[str, str] = {
    "math": "Put your final answer within \\boxed{}.",
    "code": "Write your final solution as a single fenced Python code block (```python ... ```).",
    "logic": "Put your final answer within \\boxed{}, in the exact format the problem asks for.",
}


class TemplateError(CotmillError, ValueError):
    pass


def load_template(strategy: str, template_file: str | Path | None = None) -> str:
    if template_file is None:
        if strategy not in STRATEGIES:
            known = ", ".join(STRATEGIES)
            raise TemplateError(f"unknown strategy {strategy!r}; known strategies: {known}")
        return STRATEGIES[strategy]
    path = Path(template_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TemplateError(f"{path}: cannot read template: {e.strerror}") from None
    if "{problem}" not in text:
        raise TemplateError(f"{path}: template has no {{problem}} placeholder")
    return text


def render_messages(
    template: str, problem_text: str, domain: str, system: str | None = None
) -> list[dict[str, str]]:
    """The chat messages for one problem. Domains without a known answer format
    (a custom source, say) get no format line."""
    user = template.replace("{problem}", problem_text).replace(
        "{answer_format}", ANSWER_FORMATS.get(domain, "")
    )
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user.strip()})
    return messages
