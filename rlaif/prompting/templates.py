"""Prompt templates as data: load, render, hash, introspect and check ``prompts/*.j2``.

A :class:`TemplateSet` is a snapshot of one or two template folders (the user's, then the shipped one). Rendering
gives a :class:`RenderedPrompt`: the text, the template's hash (its source and every template it includes, so that
editing a shared partial changes the hash of every template that uses it) and the metadata the template declares
with top-level ``{% set %}`` statements:

``answer_prefix`` (str)
    The text the critic's answer starts with; it is appended after the assistant generation prompt.
``choices`` (list of str)
    The continuations scored after ``answer_prefix`` (e.g. ``["A", "B"]``).
``reasoning_prefix`` (str, chain-of-thought templates)
    The critic first generates reasoning after this text; ``answer_prefix`` is appended after the reasoning.
``chat`` (bool, default true)
    Whether the text is sent to the model as a user chat turn (true) or as plain text (false).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes

from rlaif.errors import Problem, RlaifError, TemplateError
from rlaif.prompting.environment import (
    PromptEnvironment,
    create_environment,
    decode_template_source,
    template_error,
)
from rlaif.resources import shipped_dir

#: Template file extension; a template may be named with or without it (``compare`` or ``compare.j2``).
TEMPLATE_SUFFIX = ".j2"

#: The variables each shipped template name is rendered with. A template with one of these names (the shipped one
#: or a user's override) may use only these; ``check_template_file`` reports any other as a problem.
TEMPLATE_VARIABLES: dict[str, frozenset[str]] = {
    "compare.j2": frozenset({"conversation", "response_a", "response_b", "principle"}),
    "compare_cot.j2": frozenset({"conversation", "response_a", "response_b", "principle"}),
    "critique.j2": frozenset({"conversation", "response", "principle"}),
    "revise.j2": frozenset({"conversation", "response", "critique", "principle"}),
    "score.j2": frozenset({"conversation", "response", "principle"}),
    "rm_input.j2": frozenset({"principles", "conversation", "response"}),
    "contrast_positive.j2": frozenset({"instructions"}),
    "contrast_negative.j2": frozenset({"instructions"}),
}

#: Shipped template names the labeler scores: they must declare ``answer_prefix`` and ``choices``.
SCORED_TEMPLATES: frozenset[str] = frozenset({"compare.j2", "compare_cot.j2", "score.j2"})

#: Variables holding untrusted text (model output): templates must print them through ``| neutralize``.
UNTRUSTED_VARIABLES: frozenset[str] = frozenset({"response", "response_a", "response_b", "critique"})

METADATA_KEYS: tuple[str, ...] = ("answer_prefix", "choices", "reasoning_prefix", "chat")


@dataclass(frozen=True)
class TemplateMetadata:
    """What a template declares about how its text is used (see the module docstring)."""

    answer_prefix: str | None = None
    choices: tuple[str, ...] | None = None
    reasoning_prefix: str | None = None
    chat: bool = True


@dataclass(frozen=True)
class RenderedPrompt:
    """A rendered template: the text and what is needed to use it and record its provenance."""

    text: str
    template_name: str
    template_hash: str
    answer_prefix: str | None
    choices: tuple[str, ...] | None
    reasoning_prefix: str | None = None
    chat: bool = True


@dataclass(frozen=True)
class TemplateInfo:
    """One template found by :func:`list_templates`.

    ``origin`` is ``"user"`` or ``"shipped"``; ``error`` is set (and ``hash`` empty) when the template is broken.
    """

    name: str
    path: Path
    variables: list[str]
    hash: str
    answer_prefix: str | None = None
    choices: tuple[str, ...] | None = None
    origin: str = "shipped"
    error: str | None = None

    @property
    def is_partial(self) -> bool:
        """Partials (``_name.j2``) are included by other templates, not rendered alone."""
        return Path(self.name).name.startswith("_")


def _metadata_problems(key: str, value: Any) -> str | None:
    """Why a declared metadata value is invalid, or None."""
    if key in ("answer_prefix", "reasoning_prefix"):
        return None if isinstance(value, str) else "must be a string"
    if key == "chat":
        return None if isinstance(value, bool) else "must be true or false"
    if key == "choices":
        if not isinstance(value, list | tuple) or not all(isinstance(c, str) and c for c in value):
            return "must be a list of non-empty strings"
        if len(value) < 2:
            return "needs at least two choices"
        if len(set(value)) != len(value):
            return "has duplicate choices"
        return None
    return None


def _static_metadata(ast: nodes.Template) -> Iterator[tuple[str, int, Any, str | None]]:
    """(key, line, value, problem) for each top-level ``{% set <metadata key> = ... %}``."""
    for node in ast.body:
        if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
            key = node.target.name
            if key not in METADATA_KEYS:
                continue
            try:
                if not isinstance(node.node, nodes.Expr):
                    raise nodes.Impossible()
                value = node.node.as_const()
            except nodes.Impossible:
                yield key, node.lineno, None, "must be a constant (a literal string, list or boolean)"
                continue
            yield key, node.lineno, value, _metadata_problems(key, value)


def _metadata_from(values: dict[str, Any], path: str | None) -> TemplateMetadata:
    for key in METADATA_KEYS:
        if key in values:
            problem = _metadata_problems(key, values[key])
            if problem:
                raise TemplateError(f"metadata '{key}' {problem}", path=path, field=key)
    choices = values.get("choices")
    return TemplateMetadata(
        answer_prefix=values.get("answer_prefix"),
        choices=tuple(choices) if choices is not None else None,
        reasoning_prefix=values.get("reasoning_prefix"),
        chat=values.get("chat", True),
    )


def _stored_names(ast: nodes.Template) -> set[str]:
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}


class TemplateSet:
    """A snapshot of template folders, searched in order (the user's folder, then the shipped ``prompts/``).

    Templates are read once and kept: editing a file after it was first used does not change what this set
    renders, so the hash recorded with a label always matches the text that was rendered.
    """

    def __init__(self, directories: tuple[Path, ...]) -> None:
        """Use :meth:`load`; this takes the exact folders to search, in order."""
        self.directories = directories
        self._env: PromptEnvironment = create_environment(directories)
        self._asts: dict[str, nodes.Template] = {}
        self._hashes: dict[str, str] = {}

    @classmethod
    def load(cls, directory: Path | None = None, *, shipped: bool = True) -> TemplateSet:
        """Templates from ``directory`` (if given), falling back to the shipped ``prompts/`` folder.

        A file in ``directory`` overrides the shipped template of the same name; the rest (e.g. the shared
        partials) still come from the shipped folder. ``shipped=False`` searches ``directory`` alone.
        """
        dirs: list[Path] = []
        if directory is not None:
            directory = Path(directory)
            if not directory.exists():
                raise TemplateError("template folder not found", path=directory)
            if not directory.is_dir():
                raise TemplateError(
                    "is a file, not a template folder",
                    path=directory,
                    hint="pass the folder that holds the template, or name the template itself",
                )
            dirs.append(directory.resolve())
        if shipped:
            default = shipped_dir("prompts").resolve()
            if default not in dirs:
                dirs.append(default)
        if not dirs:
            raise TemplateError("no template folder given")
        return cls(tuple(dirs))

    @property
    def environment(self) -> PromptEnvironment:
        """The sandboxed Jinja2 environment (for tests and tools; render through :meth:`render`)."""
        return self._env

    # -- names -----------------------------------------------------------------------------------------------

    def resolve(self, name: str) -> str:
        """The template name as stored: ``compare`` becomes ``compare.j2`` when that file exists."""
        name = name.replace(os.sep, "/")
        loader = self._env.loader_
        try:
            if not name.endswith(TEMPLATE_SUFFIX) and loader.find(name + TEMPLATE_SUFFIX) is not None:
                return name + TEMPLATE_SUFFIX
        except jinja2.TemplateNotFound:  # '..' in the name
            raise TemplateError(
                f"invalid template name '{name}'", hint="names are relative to the folder"
            ) from None
        return name

    def names(self) -> list[str]:
        """Every ``.j2`` template in the folders (recursively; the first folder wins on a shared name), sorted."""
        return sorted(self._files())

    def _files(self) -> dict[str, tuple[Path, int]]:
        found: dict[str, tuple[Path, int]] = {}
        for index, folder in enumerate(self.directories):
            for path in sorted(folder.rglob(f"*{TEMPLATE_SUFFIX}")):
                if path.is_file():
                    found.setdefault(path.relative_to(folder).as_posix(), (path, index))
        return found

    def path(self, name: str) -> Path:
        """The file a template name resolves to."""
        name = self.resolve(name)
        found = self._env.loader_.find(name)
        if found is None:
            self._template(name)  # raises the not-found (or is-a-directory) error
            raise AssertionError("unreachable")
        return Path(found)

    # -- loading ---------------------------------------------------------------------------------------------

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self._env.get_template(name)
        except (jinja2.TemplateError, RlaifError) as e:
            raise template_error(e, template=name) from None

    def _ast(self, name: str) -> nodes.Template:
        if name not in self._asts:
            self._template(name)
            raw, filename = self._env.loader_.raw[name]
            source = decode_template_source(raw, filename)
            try:
                self._asts[name] = self._env.parse(source, name, filename)
            except jinja2.TemplateSyntaxError as e:
                raise template_error(e, template=name) from None
        return self._asts[name]

    def _closure(self, name: str) -> list[str]:
        """The template and everything it includes, imports or extends, depth first, each once."""
        order: list[str] = []
        stack = [name]
        while stack:
            current = stack.pop()
            if current in order:
                continue
            order.append(current)
            ast = self._ast(current)
            refs = list(meta.find_referenced_templates(ast))
            if any(r is None for r in refs):
                raise TemplateError(
                    "includes a template whose name is computed at render time",
                    path=self._env.loader_.raw[current][1],
                    hint="include templates by a literal name, so the template hash can cover them",
                )
            for ref in reversed([r for r in refs if r is not None]):
                if ref not in order and self._env.loader_.find(ref) is not None:
                    stack.append(ref)
        return order

    # -- introspection ---------------------------------------------------------------------------------------

    def template_hash(self, name: str) -> str:
        """sha256 (hex) over the source bytes of the template and of every template it includes or extends.

        Each file is framed by its template name and length, in depth-first include order, so the hash changes
        when any of them is edited and does not depend on where the folders are on disk.
        """
        name = self.resolve(name)
        if name not in self._hashes:
            digest = hashlib.sha256()
            for dep in self._closure(name):
                raw, _ = self._env.loader_.raw[dep]
                digest.update(f"{dep}\0{len(raw)}\0".encode())
                digest.update(raw)
            self._hashes[name] = digest.hexdigest()
        return self._hashes[name]

    def variables(self, name: str) -> set[str]:
        """The variables the template reads from its caller, including those read by the templates it includes."""
        name = self.resolve(name)
        closure = self._closure(name)
        undeclared: set[str] = set()
        stored: set[str] = set()
        for dep in closure:
            ast = self._ast(dep)
            undeclared |= meta.find_undeclared_variables(ast)
            stored |= _stored_names(ast)
        # An included partial sees its parent's loop and set variables; those are not the caller's to give.
        return undeclared - stored - set(self._env.globals)

    def metadata(self, name: str) -> TemplateMetadata:
        """The metadata the template declares, read without rendering it."""
        name = self.resolve(name)
        values: dict[str, Any] = {}
        for key, line, value, problem in _static_metadata(self._ast(name)):
            if problem:
                raise TemplateError(
                    f"metadata '{key}' {problem}", path=self._env.loader_.raw[name][1], line=line, field=key
                )
            values[key] = value
        return _metadata_from(values, self._env.loader_.raw[name][1])

    # -- rendering -------------------------------------------------------------------------------------------

    def render(self, name: str, /, **variables: Any) -> RenderedPrompt:
        """Render a template with these variables.

        Any failure (an undefined variable, a sandbox violation, a syntax error here or in an included partial)
        raises :class:`rlaif.errors.TemplateError` with the file and line.
        """
        name = self.resolve(name)
        template = self._template(name)
        template_hash = self.template_hash(name)
        try:
            module = template.make_module(variables)
            text = str(module)
        except Exception as e:  # anything the template's code raises is the template's (the user's) error
            raise template_error(e, template=name, given=variables) from None
        exported = {key: getattr(module, key) for key in METADATA_KEYS if hasattr(module, key)}
        declared = _metadata_from(exported, template.filename)
        return RenderedPrompt(
            text=text,
            template_name=name,
            template_hash=template_hash,
            answer_prefix=declared.answer_prefix,
            choices=declared.choices,
            reasoning_prefix=declared.reasoning_prefix,
            chat=declared.chat,
        )


def _documented_variables(name: str) -> frozenset[str] | None:
    if name in TEMPLATE_VARIABLES:
        return TEMPLATE_VARIABLES[name]
    if name.startswith("_"):
        return frozenset().union(*TEMPLATE_VARIABLES.values())
    return None


def _unneutralized(expr: nodes.Node) -> Iterator[nodes.Name]:
    """Untrusted variables printed by this output expression without passing through ``neutralize``."""
    if isinstance(expr, nodes.Filter) and expr.name == "neutralize":
        return
    if isinstance(expr, nodes.Name) and expr.ctx == "load" and expr.name in UNTRUSTED_VARIABLES:
        yield expr
        return
    for child in expr.iter_child_nodes():
        yield from _unneutralized(child)


def check_template_file(path: Path) -> list[Problem]:
    """Every problem found in one template file, without rendering it (an empty list means it is fine).

    Reports: unreadable or non-UTF-8 files, syntax errors, unknown filters and tests, includes of missing
    templates or of computed names, invalid metadata, and, for the shipped template names
    (:data:`TEMPLATE_VARIABLES`), variables those templates are not given, missing ``answer_prefix``/``choices``
    on scored templates and untrusted responses printed without ``| neutralize``.
    """
    path = Path(path)
    where = str(path)
    if not path.exists():
        return [Problem("template file not found", path=where)]
    if path.is_dir():
        return [Problem("is a directory, not a template file", path=where)]
    try:
        source = decode_template_source(path.read_bytes(), path)
    except TemplateError as e:
        return list(e.problems)
    except OSError as e:
        return [Problem(f"cannot read: {e.strerror or e}", path=where)]

    env = create_environment(_check_search_path(path))
    try:
        ast = env.parse(source, path.name, where)
    except jinja2.TemplateSyntaxError as e:
        return list(template_error(e).problems)

    problems: list[Problem] = []
    for node in ast.find_all(nodes.Filter):
        if node.name not in env.filters:
            problems.append(Problem(f"unknown filter '{node.name}'", path=where, line=node.lineno))
    for test in ast.find_all(nodes.Test):
        if test.name not in env.tests:
            problems.append(Problem(f"unknown test '{test.name}'", path=where, line=test.lineno))
    if not problems:
        try:
            env.compile(source, path.name, where, raw=True)
        except jinja2.TemplateSyntaxError as e:
            problems.extend(template_error(e).problems)

    loader = env.loader_
    for ref in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        target = getattr(ref, "template", None)
        names: list[Any] = []
        if isinstance(target, nodes.Const):
            names = [target.value]
        elif isinstance(target, nodes.List | nodes.Tuple):
            consts = [i for i in target.items if isinstance(i, nodes.Const)]
            names = [i.value for i in consts] if len(consts) == len(target.items) else []
        if not names or not all(isinstance(n, str) for n in names):
            problems.append(
                Problem(
                    "includes a template whose name is computed at render time (the template hash cannot "
                    "cover it); include templates by a literal name",
                    path=where,
                    line=ref.lineno,
                )
            )
            continue
        ignore_missing = getattr(ref, "ignore_missing", False)
        try:
            found = [n for n in names if loader.find(n) is not None]
        except (jinja2.TemplateNotFound, TemplateError):  # '..' in the name, or a folder of that name
            found = []
        if not found and not ignore_missing:
            problems.append(
                Problem(
                    f"includes '{names[0]}', which is neither next to this file nor shipped",
                    path=where,
                    line=ref.lineno,
                )
            )

    seen_keys: set[str] = set()
    for key, line, _, problem in _static_metadata(ast):
        seen_keys.add(key)
        if problem:
            problems.append(Problem(f"metadata '{key}' {problem}", path=where, line=line, field=key))

    allowed = _documented_variables(path.name)
    if allowed is not None:
        stored = _stored_names(ast)
        first_use: dict[str, int] = {}
        for name_node in ast.find_all(nodes.Name):
            if name_node.ctx == "load":
                first_use.setdefault(name_node.name, name_node.lineno)
        unknown = meta.find_undeclared_variables(ast) - stored - set(env.globals) - allowed
        for var in sorted(unknown, key=lambda v: (first_use.get(v, 0), v)):
            problems.append(
                Problem(
                    f"variable '{var}' is not given to {path.name} (it is rendered with: {', '.join(sorted(allowed))})",
                    path=where,
                    line=first_use.get(var),
                    field=var,
                )
            )
        for output in ast.find_all(nodes.Output):
            for expr in output.nodes:
                for bare in _unneutralized(expr):
                    problems.append(
                        Problem(
                            f"untrusted text '{bare.name}' is printed without '| neutralize' (a response could "
                            "close its delimiters or fake a chat turn)",
                            path=where,
                            line=bare.lineno,
                            field=bare.name,
                        )
                    )
        if path.name in SCORED_TEMPLATES:
            for key in ("answer_prefix", "choices"):
                if key not in seen_keys:
                    problems.append(
                        Problem(
                            f"{path.name} is scored by the labeler, so it must declare "
                            f"{{% set {key} = ... %}} at the top level",
                            path=where,
                            field=key,
                        )
                    )
    return problems


def _check_search_path(path: Path) -> tuple[Path, ...]:
    dirs = [path.parent.resolve()]
    try:
        shipped = shipped_dir("prompts").resolve()
    except RlaifError:
        return tuple(dirs)
    if shipped not in dirs:
        dirs.append(shipped)
    return tuple(dirs)


def list_templates(directory: Path | None = None) -> list[TemplateInfo]:
    """Every template in ``directory`` and the shipped folder (a user's file hides the shipped one), by name.

    A broken template is listed with ``error`` set rather than failing the whole listing.
    """
    templates = TemplateSet.load(directory)
    user_dirs = 1 if directory is not None else 0
    infos: list[TemplateInfo] = []
    for name, (path, index) in sorted(templates._files().items()):
        origin = "user" if index < user_dirs else "shipped"
        try:
            metadata = templates.metadata(name)
            infos.append(
                TemplateInfo(
                    name=name,
                    path=path,
                    variables=sorted(templates.variables(name)),
                    hash=templates.template_hash(name),
                    answer_prefix=metadata.answer_prefix,
                    choices=metadata.choices,
                    origin=origin,
                )
            )
        except RlaifError as e:
            infos.append(
                TemplateInfo(name=name, path=path, variables=[], hash="", origin=origin, error=e.format())
            )
    return infos


__all__ = [
    "METADATA_KEYS",
    "SCORED_TEMPLATES",
    "TEMPLATE_VARIABLES",
    "UNTRUSTED_VARIABLES",
    "RenderedPrompt",
    "TemplateInfo",
    "TemplateMetadata",
    "TemplateSet",
    "check_template_file",
    "list_templates",
]
