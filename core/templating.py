"""Merge recipients into a template: strict Jinja2 sandbox, compiled once per campaign."""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jinja2
import jinja2.meta
import markdown
from jinja2.sandbox import SandboxedEnvironment

from core.address_fields import mark_data
from core.errors import IssueKind, MergeError
from core.models import BodyFormat, Recipient, Template

__all__ = [
    "MARKDOWN_EXTENSIONS",
    "CompiledTemplate",
    "RenderedMessage",
    "TemplatePart",
    "compile_errors",
    "markdown_to_html_template",
    "render_context",
]

# nl2br keeps line breaks as written, as mailmerge does
MARKDOWN_EXTENSIONS = ("extra", "nl2br", "sane_lists")
_HTML_HEAD = '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n</head>\n<body>\n'
_HTML_TAIL = "\n</body>\n</html>\n"
_TEMPLATE_NAME = "<template>"  # Jinja2's file name for templates made with from_string

_HEADER_FORBIDDEN_RE = re.compile(r"[\r\n\x00]")
_JINJA_TAG_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_UNDEFINED_RE = re.compile(r"^'([^']+)' is undefined$")

# Errors a template can raise while rendering (the sandbox turns unsafe access into SecurityError).
_RENDER_ERRORS = (
    jinja2.TemplateError,
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
    AttributeError,
)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """Everything a template says for one recipient, rendered but not yet encoded."""

    subject: str
    text: str | None  # the plain part (for Markdown: the rendered Markdown source)
    html: str | None  # the HTML part, merge values escaped
    # Address headers keep the data markers of core.address_fields around merged values
    # (`plain()` removes them); the builder uses them to keep data out of the structure.
    to: str | None  # rendered `Template.to`; None means "the recipient"
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    list_unsubscribe_mailto: str | None = None
    list_unsubscribe_url: str | None = None
    attachment: str | None = None  # rendered `recipient_attachment`, not yet resolved


def render_context(recipient: Recipient) -> dict[str, str]:
    """The merge fields a template sees: the row's fields, plus `email` and `name` if absent."""
    context = dict(recipient.fields)
    context.setdefault("email", recipient.email)
    if recipient.name:
        context.setdefault("name", recipient.name)
    return context


def _make_env(*, autoescape: bool, address: bool = False) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        auto_reload=False,
        finalize=mark_data if address else None,
    )


_TEXT_ENV = _make_env(autoescape=False)
_HTML_ENV = _make_env(autoescape=True)
# To, Cc, Bcc and Reply-To: every merged value is marked, so the builder can tell the
# template's own addresses from the row's data (core.address_fields).
_ADDRESS_ENV = _make_env(autoescape=False, address=True)


def markdown_to_html_template(source: str) -> str:
    """Turn a Markdown template into an HTML template, keeping its Jinja2 tags intact.

    Markdown is converted once per campaign, before merging: each Jinja2 tag is swapped for an
    inert placeholder, converted, and put back. Merge values therefore never become Markdown or
    HTML (they are escaped by the HTML environment), and the conversion is not paid per recipient.
    """
    prefix = "jinjaslot"
    while prefix in source:
        prefix += "x"
    tags: list[str] = []

    def stash(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"{prefix}{len(tags) - 1}z"

    protected = _JINJA_TAG_RE.sub(stash, source)
    html = markdown.markdown(protected, extensions=list(MARKDOWN_EXTENSIONS), output_format="html")
    slot = re.compile(rf"{prefix}(\d+)z")

    def unwrap(match: re.Match[str]) -> str:
        # A {% tag %} alone in a paragraph: keep the tag, drop the empty paragraph around it.
        tag = tags[int(match.group(1))]
        return tag if tag.startswith(("{%", "{#")) else match.group(0)

    html = re.sub(rf"<p>{prefix}(\d+)z</p>", unwrap, html)
    html = slot.sub(lambda m: tags[int(m.group(1))], html)
    return f"{_HTML_HEAD}{html}{_HTML_TAIL}"


@dataclass(frozen=True, slots=True)
class TemplatePart:
    """One compiled piece of a template (subject, body, a header value) and the fields it uses."""

    name: str
    template: jinja2.Template | None  # None when the source has no Jinja2 tags
    static: str  # the value when `template` is None
    undeclared: frozenset[str]
    header: bool  # a header value: CR, LF and NUL are refused

    def render(self, context: Mapping[str, str]) -> str:
        value = self.static if self.template is None else self.template.render(context)
        if self.header and _HEADER_FORBIDDEN_RE.search(value):
            raise MergeError(
                f"{self.name} would contain a line break or NUL after merging "
                "(header injection refused)",
                kind=IssueKind.HEADER_INJECTION,
                part=self.name,
            )
        return value

    def render_error(self, exc: Exception, context: Mapping[str, str]) -> MergeError:
        """Translate a rendering failure into a MergeError naming the missing fields."""
        template_line = _template_line(exc)
        if isinstance(exc, jinja2.UndefinedError):
            missing = tuple(sorted(name for name in self.undeclared if name not in context))
            match = _UNDEFINED_RE.match(str(exc.message or ""))
            if match and match.group(1) not in missing:
                missing = (match.group(1),)
            if missing:
                names = ", ".join(missing)
                return MergeError(
                    f"{self.name}: missing merge field(s) {names}",
                    kind=IssueKind.MISSING_FIELD,
                    part=self.name,
                    fields=missing,
                    template_line=template_line,
                )
        return MergeError(
            f"{self.name}: {exc}",
            kind=IssueKind.RENDER_ERROR,
            part=self.name,
            template_line=template_line,
        )


def _template_line(exc: BaseException) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == _TEMPLATE_NAME:
            line = lineno
    return line


def _has_tags(source: str) -> bool:
    return "{{" in source or "{%" in source or "{#" in source


class CompiledTemplate:
    """A campaign's template compiled once; `render` merges one recipient into it."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self._errors: list[MergeError] = []
        fmt = template.format
        self.subject = self._compile("subject", template.subject, header=True)
        self.text: TemplatePart | None
        self.html: TemplatePart | None
        if fmt is BodyFormat.TEXT:
            self.text = self._compile("body", template.body)
            self.html = None
        elif fmt is BodyFormat.HTML:
            self.html = self._compile("body", template.body, html=True)
            alt = template.text_alternative
            self.text = self._compile("text_alternative", alt) if alt is not None else None
        else:
            self.text = self._compile("body", template.body)
            # Only convert what compiles: syntax errors are reported against the Markdown lines.
            self.html = (
                self._compile("body", markdown_to_html_template(template.body), html=True)
                if not self._errors
                else None
            )
        self.to = self._optional("to", template.to, address=True)
        self.cc = tuple(
            self._compile(f"cc[{i}]", v, header=True, address=True)
            for i, v in enumerate(template.cc)
        )
        self.bcc = tuple(
            self._compile(f"bcc[{i}]", v, header=True, address=True)
            for i, v in enumerate(template.bcc)
        )
        self.reply_to = self._optional("reply_to", template.reply_to, address=True)
        self.list_unsubscribe_mailto = self._optional(
            "list_unsubscribe_mailto", template.list_unsubscribe_mailto
        )
        self.list_unsubscribe_url = self._optional(
            "list_unsubscribe_url", template.list_unsubscribe_url
        )
        self.attachment = self._optional("recipient_attachment", template.recipient_attachment)
        if self._errors:
            first = self._errors[0]
            raise MergeError(
                first.message,
                kind=IssueKind.SYNTAX_ERROR,
                part=first.part,
                template_line=first.template_line,
            ) from _CompileErrors(tuple(self._errors))

    def _optional(
        self, name: str, source: str | None, *, address: bool = False
    ) -> TemplatePart | None:
        return None if source is None else self._compile(name, source, header=True, address=address)

    def _compile(
        self,
        name: str,
        source: str,
        *,
        html: bool = False,
        header: bool = False,
        address: bool = False,
    ) -> TemplatePart:
        env = _ADDRESS_ENV if address else _HTML_ENV if html else _TEXT_ENV
        if header and ("\n" in source or "\r" in source):
            self._errors.append(
                MergeError(
                    f"{name}: must be a single line",
                    kind=IssueKind.SYNTAX_ERROR,
                    part=name,
                )
            )
            return TemplatePart(name, None, "", frozenset(), header)
        if not _has_tags(source):
            return TemplatePart(name, None, source, frozenset(), header)
        try:
            tree = env.parse(source)
            compiled = env.from_string(tree)
        except jinja2.TemplateSyntaxError as exc:
            self._errors.append(
                MergeError(
                    f"{name}: template syntax error on line {exc.lineno}: {exc.message}",
                    kind=IssueKind.SYNTAX_ERROR,
                    part=name,
                    template_line=exc.lineno,
                )
            )
            return TemplatePart(name, None, "", frozenset(), header)
        undeclared = frozenset(jinja2.meta.find_undeclared_variables(tree)) - set(env.globals)
        # Jinja2 keeps a template's globals as a ChainMap over the environment's, and walks it
        # twice on every render (merging the context, listing the keys): a third of the time
        # of a short render. Ours never change after start-up, so one plain dict does.
        compiled.globals = dict(compiled.globals)
        return TemplatePart(name, compiled, "", undeclared, header)

    @property
    def fields(self) -> frozenset[str]:
        """Every merge field the template refers to (a recipient may lack optional ones)."""
        names: set[str] = set()
        for part in self._parts():
            names |= part.undeclared
        return frozenset(names)

    def _parts(self) -> Iterable[TemplatePart]:
        singles = (
            self.subject,
            self.text,
            self.html,
            self.to,
            self.reply_to,
            self.list_unsubscribe_mailto,
            self.list_unsubscribe_url,
            self.attachment,
        )
        yield from (p for p in singles if p is not None)
        yield from self.cc
        yield from self.bcc

    def render(self, recipient: Recipient) -> RenderedMessage:
        """Merge one recipient; raise MergeError (an InputError) on the first problem."""
        rendered = self._render(recipient, None)
        assert rendered is not None  # without a collector every problem raises
        return rendered

    def render_collect(
        self, recipient: Recipient, problems: list[MergeError]
    ) -> RenderedMessage | None:
        """Merge one recipient, appending every problem found; None if there was any."""
        return self._render(recipient, problems)

    def _render(
        self, recipient: Recipient, problems: list[MergeError] | None
    ) -> RenderedMessage | None:
        context = render_context(recipient)
        found: list[MergeError] = []

        def run(part: TemplatePart | None) -> str | None:
            if part is None:
                return None
            try:
                return part.render(context)
            except MergeError as exc:
                error = exc.for_recipient(recipient)
            except _RENDER_ERRORS as exc:
                error = part.render_error(exc, context).for_recipient(recipient)
            if problems is None:
                raise error
            found.append(error)
            return None

        subject = run(self.subject)
        text = run(self.text)
        html = run(self.html)
        to = run(self.to)
        cc = tuple(run(p) or "" for p in self.cc)
        bcc = tuple(run(p) or "" for p in self.bcc)
        reply_to = run(self.reply_to)
        mailto = run(self.list_unsubscribe_mailto)
        url = run(self.list_unsubscribe_url)
        attachment = run(self.attachment)
        if found:
            assert problems is not None
            problems.extend(_merge_problems(found))
            return None
        return RenderedMessage(
            subject=subject or "",
            text=text,
            html=html,
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            list_unsubscribe_mailto=mailto,
            list_unsubscribe_url=url,
            attachment=attachment,
        )


def _merge_problems(found: list[MergeError]) -> list[MergeError]:
    """One MISSING_FIELD error per recipient listing every missing field; others once per part."""
    merged: list[MergeError] = []
    missing: dict[str, None] = {}
    first_missing: MergeError | None = None
    seen: set[tuple[IssueKind, str | None]] = set()
    for error in found:
        if error.kind is IssueKind.MISSING_FIELD:
            first_missing = first_missing or error
            missing.update(dict.fromkeys(error.fields))
        elif (error.kind, error.part) not in seen:
            seen.add((error.kind, error.part))
            merged.append(error)
    if first_missing is not None:
        names = tuple(missing)
        merged.insert(
            0,
            MergeError(
                f"missing merge field(s) {', '.join(names)}",
                kind=IssueKind.MISSING_FIELD,
                part=first_missing.part,
                fields=names,
                line=first_missing.line,
                email=first_missing.email,
                template_line=first_missing.template_line,
                source=first_missing.source,
            ),
        )
    return merged


class _CompileErrors(Exception):
    """Every syntax error of a template, chained under the first one's MergeError."""

    def __init__(self, errors: tuple[MergeError, ...]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def compile_errors(exc: MergeError) -> tuple[MergeError, ...]:
    """All syntax errors behind a MergeError raised by CompiledTemplate, or just that error."""
    cause = exc.__cause__
    return cause.errors if isinstance(cause, _CompileErrors) else (exc,)
