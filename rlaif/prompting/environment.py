"""The one Jinja2 environment every prompt template is rendered in.

Templates are user data, so they render in an immutable sandbox with ``StrictUndefined`` (a missing variable is an
error, never an empty string), ``keep_trailing_newline`` (what is in the file is what the critic sees) and no
autoescaping (prompts are not HTML). The loader searches the user's folder first, then the shipped ``prompts/``,
so a user can override a single template and keep the shipped partials.

Responses under judgement are untrusted text. The ``neutralize`` filter, which the shipped templates apply to every
such text, defangs the delimiters the templates use (``<response_a>`` ... ``</response_a>`` and the other tags in
:data:`DELIMITER_TAGS`) and chat-role tokens (``<|im_end|>``, ``[INST]``, ``<start_of_turn>`` ...), so a response can
neither close its box nor fake a new turn once the chat template is applied and the text is tokenized.

Every Jinja2 failure (syntax, undefined variable, sandbox violation, missing template) is turned into a
:class:`rlaif.errors.TemplateError` naming the file and line.
"""

from __future__ import annotations

import operator
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2.loaders import split_template_path

from rlaif.errors import TemplateError

#: Tag names the shipped templates use as ``<tag>`` ... ``</tag>`` delimiters. ``neutralize`` defangs any opening or
#: closing tag with one of these names (any case, any spacing, with or without attributes) inside untrusted text.
DELIMITER_TAGS: tuple[str, ...] = (
    "conversation",
    "message",
    "system",
    "user",
    "assistant",
    "response",
    "response_a",
    "response_b",
    "critique",
    "revision",
    "principle",
    "principles",
    "question",
    "answer",
)

# Longest alternatives first so that ``response_a`` is not cut short at ``response``.
_TAG_ALTERNATION = "|".join(sorted(DELIMITER_TAGS, key=len, reverse=True))
_MARKER_PATTERNS: tuple[str, ...] = (
    rf"<\s*/?\s*(?:{_TAG_ALTERNATION})(?![\w-])[^<>]{{0,64}}>",  # our own tags, e.g. </response_a >
    r"<\|[^<>|\s]{1,48}\|>",  # ChatML / Llama-3 / Phi style control tokens: <|im_end|>, <|eot_id|>
    r"<｜[^<>｜]{1,48}｜>",  # DeepSeek's full-width bars: <｜User｜>
    r"<\s*/?\s*(?:s|bos|eos|pad|unk|start_of_turn|end_of_turn|endoftext|think)\s*>",  # <s>, </s>, Gemma turns
    r"\[\s*/?\s*INST\s*\]",  # Llama-2 / Mistral instruction brackets
    r"<<\s*/?\s*SYS\s*>>",  # Llama-2 system brackets
)
_MARKER_RE = re.compile("|".join(f"(?:{p})" for p in _MARKER_PATTERNS), re.IGNORECASE)

# Look-alike brackets: the text stays readable (the critic still sees that a response tried to inject a marker,
# which is itself evidence) but no tokenizer or reader can take it for the real delimiter any more.
_DEFANG = str.maketrans({"<": "‹", ">": "›", "[": "⟦", "]": "⟧", "｜": "¦"})

#: The roles a conversation message may have.
CHAT_ROLES: tuple[str, ...] = ("system", "user", "assistant")

#: Globals templates may use. Jinja's default ``lipsum``, ``cycler`` and ``joiner`` are left out: prompts do not
#: need them and every callable is one more thing a hostile template can poke at.
_GLOBALS: dict[str, Any] = {
    "range": jinja2.sandbox.safe_range,
    "dict": dict,
    "namespace": jinja2.utils.Namespace,
}

#: A template may not build a string or list longer than this with ``*`` (e.g. ``'a' * 10**10``).
MAX_REPEAT_LENGTH = 1_000_000
#: ``a ** b`` may not produce an integer of more bits than this.
MAX_POWER_BITS = 100_000


def _defang_literal(marker: str) -> str:
    swapped = marker.translate(_DEFANG)
    if swapped != marker:
        return swapped
    # No bracket to swap: a word joiner after the first character breaks the match for readers and tokenizers.
    return marker[:1] + "\u2060" + marker[1:] if marker else marker


def neutralize(text: object, *extra_markers: str) -> str:
    """Defang delimiters and chat-role tokens inside untrusted text (a response, a critique, a user prompt).

    Every occurrence of a template delimiter (``<response_a>``, ``</response_a>``, ``<conversation>`` ... any of
    :data:`DELIMITER_TAGS`) and of a chat control token (``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``,
    ``[INST]``, ``<s>`` ...) has its brackets replaced by look-alikes (``‹|im_end|›``), so the text can no longer
    close the box it is shown in or open a new chat turn. ``extra_markers`` are further literal markers to defang,
    for templates that use their own delimiters (``{{ response | neutralize("[RESPONSE A]") }}``).
    All other text is kept exactly.
    """
    if isinstance(text, jinja2.Undefined):
        str(text)  # StrictUndefined raises here, naming the missing variable
    if not isinstance(text, str):
        raise jinja2.TemplateRuntimeError(
            f"neutralize expects text, got {type(text).__name__}: untrusted fields must be strings"
        )
    out = _MARKER_RE.sub(lambda m: m.group(0).translate(_DEFANG), text)
    for marker in extra_markers:
        if not isinstance(marker, str) or not marker:
            raise jinja2.TemplateRuntimeError("neutralize: extra markers must be non-empty strings")
        out = re.sub(re.escape(marker), lambda m: _defang_literal(m.group(0)), out, flags=re.IGNORECASE)
    return out


def messages(conversation: object) -> list[dict[str, str]]:
    """Normalise a conversation to a list of ``{"role", "content"}`` dicts.

    Accepts a plain string (one user message), or a list whose items are mappings with ``role`` and ``content``
    or objects with those attributes (:class:`rlaif.backends.base.ChatMessage`, the constitution's ``ChatTurn``).
    Roles are limited to :data:`CHAT_ROLES`, so a role can be used as a delimiter tag name safely.
    """
    if isinstance(conversation, jinja2.Undefined):
        str(conversation)  # StrictUndefined raises here, naming the missing variable
    if isinstance(conversation, str):
        return [{"role": "user", "content": conversation}]
    if isinstance(conversation, Mapping) or not isinstance(conversation, Iterable):
        raise jinja2.TemplateRuntimeError(
            f"a conversation must be a list of {{role, content}} messages or a string, "
            f"got {type(conversation).__name__}"
        )
    out: list[dict[str, str]] = []
    for i, item in enumerate(conversation):
        if isinstance(item, Mapping):
            role, content = item.get("role"), item.get("content")
        else:
            role, content = getattr(item, "role", None), getattr(item, "content", None)
        if role not in CHAT_ROLES:
            raise jinja2.TemplateRuntimeError(
                f"conversation message {i + 1} has role {role!r}; roles are {', '.join(CHAT_ROLES)}"
            )
        if not isinstance(content, str):
            raise jinja2.TemplateRuntimeError(f"conversation message {i + 1} has no 'content' (a string)")
        out.append({"role": role, "content": content})
    if not out:
        raise jinja2.TemplateRuntimeError("the conversation is empty")
    return out


#: The custom filters, by name. Jinja's builtin filters (``trim``, ``indent``, ``join`` ...) stay available.
FILTERS: dict[str, Callable[..., Any]] = {"neutralize": neutralize, "messages": messages}


class _SourceLoader(jinja2.FileSystemLoader):
    """A file loader that keeps the raw bytes it read (for hashing) and explains unreadable files."""

    def __init__(self, searchpath: Sequence[Path]) -> None:
        super().__init__([str(p) for p in searchpath], encoding="utf-8", followlinks=False)
        #: template name -> (raw bytes, file path) for every template loaded so far
        self.raw: dict[str, tuple[bytes, str]] = {}

    def find(self, template: str) -> str | None:
        """The file a template name resolves to (first folder wins), or None.

        A folder with the template's name in an earlier search folder is an error rather than silently falling
        through to the shipped template: the user meant to override it.
        """
        pieces = split_template_path(template)
        for searchpath in self.searchpath:
            filename = posixpath.join(searchpath, *pieces)
            if os.path.isfile(filename):
                return os.path.normpath(filename)
            if os.path.isdir(filename):
                raise TemplateError(
                    "is a directory, not a template file", path=filename, hint="name a .j2 file"
                )
        return None

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        filename = self.find(template)
        if filename is None:
            raise jinja2.TemplateNotFound(template)
        raw = Path(filename).read_bytes()
        source = decode_template_source(raw, filename)
        self.raw[template] = (raw, filename)
        # Templates are snapshotted when a TemplateSet loads them; auto_reload is off, so uptodate is not used.
        return source, filename, lambda: True


def decode_template_source(raw: bytes, path: str | Path) -> str:
    """Template bytes as text (UTF-8, a leading BOM dropped); a TemplateError with the line of a bad byte otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise TemplateError(
            f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})",
            path=path,
            line=line,
            hint="save the template as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


class PromptEnvironment(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Immutable sandbox that also refuses to build huge strings or integers (``'a' * 10**10``, ``9 ** 9 ** 9``)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: jinja2.runtime.Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > MAX_REPEAT_LENGTH
                ):
                    raise jinja2.sandbox.SecurityError(
                        f"repetition would build a sequence longer than {MAX_REPEAT_LENGTH}"
                    )
            return operator.mul(left, right)
        if operator_ == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and max(abs(left).bit_length() - 1, 1) * right > MAX_POWER_BITS
            ):
                raise jinja2.sandbox.SecurityError("power too large")
            return operator.pow(left, right)
        return super().call_binop(context, operator_, left, right)

    @property
    def loader_(self) -> _SourceLoader:
        """The file loader (typed)."""
        assert isinstance(self.loader, _SourceLoader)
        return self.loader


def create_environment(search_path: Sequence[Path]) -> PromptEnvironment:
    """The prompt environment over these template folders (searched in order: put the user's folder first).

    Sandboxed and immutable, ``StrictUndefined``, ``keep_trailing_newline=True``, no autoescaping,
    ``trim_blocks``/``lstrip_blocks`` so block tags do not leave blank lines, and the filters in :data:`FILTERS`.
    """
    env = PromptEnvironment(
        loader=_SourceLoader(search_path),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=-1,
    )
    env.globals.clear()
    env.globals.update(_GLOBALS)
    env.filters.update(FILTERS)
    return env


_UNDEFINED_RE = re.compile(r"^'([^']+)' is undefined$")


def _template_frame(tb: TracebackType | None) -> tuple[str | None, str | None, int | None]:
    """(file, template name, line) of the innermost template frame of a traceback, if any."""
    found: tuple[str | None, str | None, int | None] = (None, None, None)
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            found = (template.filename, template.name, template.get_corresponding_lineno(tb.tb_lineno))
        tb = tb.tb_next
    return found


def template_error(
    exc: BaseException, *, template: str | None = None, given: Iterable[str] | None = None
) -> TemplateError:
    """Turn any exception raised while loading or rendering a template into a :class:`TemplateError`.

    ``template`` is the name being rendered (used when the failure has no location of its own); ``given`` the
    variables that were passed, listed in the hint of an undefined-variable error.
    """
    if isinstance(exc, TemplateError):
        return exc
    if isinstance(exc, jinja2.TemplateSyntaxError):
        what = "unknown filter or test" if isinstance(exc, jinja2.TemplateAssertionError) else "syntax error"
        return TemplateError(
            f"template {what}: {exc.message}",
            path=exc.filename or exc.name or template,
            line=exc.lineno,
            hint="see https://jinja.palletsprojects.com/en/stable/templates/ for the template syntax",
        )
    if isinstance(exc, jinja2.TemplatesNotFound | jinja2.TemplateNotFound):
        names = getattr(exc, "templates", None) or [exc.name]
        return TemplateError(
            f"template not found: {', '.join(str(n) for n in names)}",
            path=template if template not in names else None,
            hint="run `rlaif ls templates` to see the available templates",
        )
    filename, name, line = _template_frame(exc.__traceback__)
    path = filename or name or template
    message = str(getattr(exc, "message", None) or exc)
    if isinstance(exc, jinja2.sandbox.SecurityError):
        return TemplateError(
            f"sandbox violation: {message}",
            path=path,
            line=line,
            hint="templates may only read the variables they are given, not Python internals",
        )
    if isinstance(exc, jinja2.UndefinedError):
        match = _UNDEFINED_RE.match(message)
        given_list = sorted(given) if given is not None else None
        hint = f"variables given: {', '.join(given_list) or '(none)'}" if given_list is not None else None
        if match:
            return TemplateError(
                f"undefined variable '{match.group(1)}' in template {name or template}",
                path=path,
                line=line,
                field=match.group(1),
                hint=hint,
            )
        return TemplateError(f"undefined value: {message}", path=path, line=line, hint=hint)
    if isinstance(exc, jinja2.TemplateError):
        return TemplateError(f"template error: {message}", path=path, line=line)
    return TemplateError(f"template failed: {type(exc).__name__}: {message}", path=path, line=line)
