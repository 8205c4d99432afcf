"""Prompt templates as data: a sandboxed, strict Jinja2 environment; render → (text, template hash).

Typical use::

    from rlaif.prompting import TemplateSet, render_for_critic

    templates = TemplateSet.load()  # shipped prompts/, or TemplateSet.load(Path("my_prompts"))
    prompt = render_for_critic(templates, "compare", tokenizer, conversation=chat,
                               response_a=a, response_b=b, principle=principle)
    prompt.text, prompt.choices, prompt.template_hash
"""

from rlaif.prompting.chat import (
    CriticPrompt,
    apply_chat_template,
    fallback_chat_format,
    render_for_critic,
)
from rlaif.prompting.environment import DELIMITER_TAGS, create_environment, neutralize
from rlaif.prompting.templates import (
    TEMPLATE_VARIABLES,
    RenderedPrompt,
    TemplateInfo,
    TemplateMetadata,
    TemplateSet,
    check_template_file,
    list_templates,
)

__all__ = [
    "DELIMITER_TAGS",
    "TEMPLATE_VARIABLES",
    "CriticPrompt",
    "RenderedPrompt",
    "TemplateInfo",
    "TemplateMetadata",
    "TemplateSet",
    "apply_chat_template",
    "check_template_file",
    "create_environment",
    "fallback_chat_format",
    "list_templates",
    "neutralize",
    "render_for_critic",
]
