"""Secrets out of everything riskpilot stores or logs: alert URLs (apprise URLs carry webhook
tokens and passwords: ``discord://webhook_id/token``, ``mailto://user:pass@host``,
``slack://tokenA/tokenB/tokenC``) and broker keys (``api_key``, ``secret``, ``token``,
``password``, a PEM private key pasted into the file).

- :func:`redact_url`: a URL with its password, its token-bearing parts and its query values
  replaced by ``***``. The scheme, the user name and a host name that looks like one
  (``gmail.com``, ``localhost``) stay, so a reader still sees which channel it was.
- :func:`redact_config_text`: YAML configuration text with every secret replaced, keeping
  comments and layout; what it returns still parses when the input did. Values under a key
  named like a secret (:data:`SECRET_KEY_RE`; ``*_path`` and ``*_file`` keys name files and
  stay), PEM private keys anywhere, and URLs anywhere (comments included) are redacted.
- :func:`redact_text`: the same for free text (log lines, error messages);
  :func:`redact_mapping` for a configuration dumped as data (the backtest JSON).
- :class:`RedactingFilter`: a ``logging`` filter that passes every record through
  :func:`redact_text`, for the handlers a command installs.

Redaction is idempotent: redacting twice gives the same text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MASK = "***"

#: Key names whose values are secrets (matched on the lower-cased name, ``-`` read as ``_``).
SECRET_KEY_RE = re.compile(
    r"(^|_)(password|passwd|passphrase|pass|pwd|secret|secrets|token|tokens|api_?key|apikey|"
    r"private_?key|access_?key|secret_?key|client_secret|credentials?|auth|authorization|"
    r"bearer|webhook|signature|cookie|session)(_|$)"
)
#: Keys that name where a secret lives rather than holding it.
_LOCATION_SUFFIXES = ("_path", "_file", "_dir", "_env")
#: Our own channels whose paths are files, not tokens.
_PLAIN_SCHEMES = frozenset({"rpfile", "rpconsole", "file"})

_URL_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{},`]*")
_PEM_RE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY[A-Z ]*)-----[\s\S]*?(?:-----END \1-----|\Z)"
)
_KEY_VALUE_RE = re.compile(
    r"""(?P<key>["']?(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)["']?\s*[:=]\s*)"""
    r"""(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s,})\]#]+)"""
)
_BEARER_RE = re.compile(r"(?i)\b(bearer\s+)(?!\*\*\*)[A-Za-z0-9\-._~+/]+=*")
_WHOLE_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://\S*$")
_HOST_RE = re.compile(r"^(localhost|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+)(:\d+)?$")


def is_secret_key(name: str) -> bool:
    """Whether a configuration key holds a secret (``api_key``, ``broker-secret``, ``token``;
    not ``private_key_path``)."""
    n = name.strip().lower().replace("-", "_")
    return bool(SECRET_KEY_RE.search(n)) and not n.endswith(_LOCATION_SUFFIXES)


def _split_url(url: str) -> tuple[str, str, str, str, str] | None:
    """(scheme, userinfo, '@' or '', host[:port], the rest from the first / ? or #), or None
    when ``url`` has no ``scheme://`` or is one of our file channels."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() in _PLAIN_SCHEMES:
        return None
    cut = len(rest)
    for ch in "/?#":
        at = rest.find(ch)
        if at != -1:
            cut = min(cut, at)
    netloc, tail = rest[:cut], rest[cut:]
    userinfo, at_sign, hostport = netloc.rpartition("@")
    return scheme, userinfo, at_sign, hostport, tail


def redact_url(url: str) -> str:
    """``url`` without its secrets: the password of ``user:password@``, a host that is not a
    host name (apprise puts tokens there), every path segment and every query or fragment
    value become ``***``. ``rpfile://`` and ``rpconsole://`` paths are file names and stay."""
    parts = _split_url(url)
    if parts is None:
        return url
    scheme, userinfo, at_sign, hostport, tail = parts
    if at_sign:
        user, colon, _password = userinfo.partition(":")
        userinfo = f"{user}:{MASK}" if colon else user
    shown_host = hostport if (not hostport or hostport == MASK or _HOST_RE.match(hostport)) else MASK
    path, qmark, query = tail.partition("?")
    path, hash_, fragment = path.partition("#")
    if not qmark:
        query, hash2, frag2 = "", "", ""
    else:
        query, hash2, frag2 = query.partition("#")
    masked_path = "/".join(MASK if seg else seg for seg in path.split("/"))
    masked_query = "&".join(_mask_query_item(item) for item in query.split("&")) if qmark else ""
    fragment = fragment or frag2
    out = f"{scheme}://{userinfo}{'@' if at_sign else ''}{shown_host}{masked_path}"
    if qmark:
        out += f"?{masked_query}"
    if hash_ or hash2:
        out += f"#{MASK}" if fragment else "#"
    return out


def _mask_query_item(item: str) -> str:
    key, eq, value = item.partition("=")
    if not eq:
        return MASK if key else key
    return f"{key}={MASK}" if value else f"{key}="


def redact_text(text: str) -> str:
    """Free text without secrets: PEM private keys, URLs, bearer tokens, and ``name: value``
    or ``name=value`` pairs whose name is a secret's."""
    text = _PEM_RE.sub(MASK, text)
    text = _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _KEY_VALUE_RE.sub(_mask_pair, text)


def _mask_pair(m: re.Match[str]) -> str:
    if not is_secret_key(m.group("name")):
        return m.group(0)
    value = m.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{m.group('key')}{quote}{MASK}{quote}"


def redact_config_text(text: str) -> str:
    """YAML configuration text with its secrets replaced by ``***`` (module docstring), for
    storing with a run or showing. Text that is not YAML is redacted as free text."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return redact_text(text)
    edits: list[tuple[int, int, str]] = []
    if root is not None:
        _collect(root, text, edits)
    out = text
    for start, end, replacement in sorted(edits, reverse=True):
        out = out[:start] + replacement + out[end:]
    # Comments are not in the YAML tree: URLs, keys and PEM blocks written there too.
    out = _PEM_RE.sub(MASK, out)
    out = _URL_RE.sub(lambda m: redact_url(m.group(0)), out)
    return "\n".join(_redact_comment(line) for line in out.split("\n"))


def _redact_comment(line: str) -> str:
    at = _comment_start(line)
    if at is None:
        return line
    return line[:at] + _KEY_VALUE_RE.sub(_mask_pair, line[at:])


def _comment_start(line: str) -> int | None:
    """Index of a YAML comment's '#' in ``line`` (outside quotes, at the start or after a
    space), or None."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return None


def _collect(root: Node, text: str, edits: list[tuple[int, int, str]]) -> None:
    """The (start, end, replacement) of every scalar to redact, each node once."""
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, secret = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            replacement = _scalar_replacement(node, secret)
            if replacement is not None:
                edits.append(_edit(node, text, replacement))
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                named = isinstance(key, ScalarNode) and is_secret_key(key.value)
                stack.append((value, secret or named))
                if not isinstance(key, ScalarNode):
                    stack.append((key, secret))
        elif isinstance(node, SequenceNode):
            stack.extend((item, secret) for item in node.value)


def _scalar_replacement(node: ScalarNode, secret: bool) -> str | None:
    value = node.value
    if secret:
        return MASK if value and value != MASK else None
    if _PEM_RE.search(value):
        return MASK
    if "://" in value:
        # A value that is one URL is redacted whole (a query may hold commas); else each URL.
        redacted = (redact_url(value) if _WHOLE_URL_RE.match(value)
                    else _URL_RE.sub(lambda m: redact_url(m.group(0)), value))
        return redacted if redacted != value else None
    return None


def _edit(node: ScalarNode, text: str, value: str) -> tuple[int, int, str]:
    start, end = node.start_mark.index, node.end_mark.index
    original = text[start:end]
    # Keep an anchor or tag written before the value (&name, !!str), so aliases still resolve.
    props = re.match(r"^((?:[&!][^\s]*\s+)*)", original)
    prefix = props.group(1) if props else ""
    quoted = "'" + value.replace("'", "''") + "'"
    if node.style in ("|", ">") and original.endswith("\n"):
        quoted += "\n"
    return start, end, prefix + quoted


def redact_mapping(data: Any, *, secret: bool = False) -> Any:
    """A copy of JSON-like ``data`` (a configuration dumped for a report) with values under
    secret-named keys masked and URLs and PEM keys in text redacted."""
    if isinstance(data, dict):
        return {k: redact_mapping(v, secret=secret or (isinstance(k, str) and is_secret_key(k)))
                for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_mapping(v, secret=secret) for v in data]
    if secret and data not in (None, ""):
        return MASK
    if isinstance(data, str):
        return redact_text(data) if ("://" in data or "-----BEGIN" in data) else data
    return data


class RedactingFilter(logging.Filter):
    """A logging filter (install it on handlers, so records of every logger pass it) that
    redacts each record's message and traceback with :func:`redact_text`, and masks the
    fragments given to :meth:`add_fragments` (secrets known to the process, such as the
    tokens of its alert channels, which a library may quote without their URL)."""

    def __init__(self) -> None:
        super().__init__()
        self._fragments: set[str] = set()

    def add_fragments(self, fragments: Iterable[str]) -> None:
        self._fragments.update(f for f in fragments if f)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message, self._fragments)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), self._fragments)
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text, self._fragments)
        return True


def install_log_redaction(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Add a :class:`RedactingFilter` to ``handlers`` (default: the root logger's), once."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def secret_fragments(url: str) -> set[str]:
    """The parts of ``url`` that :func:`redact_url` hides and that look like secrets: the
    password (3+ characters) and a token host, path segment or query value of 8+ characters
    (shorter ones are words such as ``hook``): for scrubbing texts that quote them without the
    URL around them (an HTTP library's error naming the request path)."""
    split = _split_url(url)
    if split is None:
        return set()
    _, userinfo, at_sign, hostport, tail = split
    parts: set[str] = set()
    if at_sign and ":" in userinfo and len(userinfo.split(":", 1)[1]) >= 3:
        parts.add(userinfo.split(":", 1)[1])
    candidates = [hostport] if hostport and not _HOST_RE.match(hostport) else []
    for piece in re.split(r"[/?#&]", tail):
        candidates.append(piece.split("=", 1)[1] if "=" in piece else piece)
    parts.update(c for c in candidates if len(c) >= 8)
    return {p for p in parts if p != MASK}


def scrub(text: str, fragments: Iterable[str]) -> str:
    """``text`` with :func:`redact_text` applied and every known secret fragment masked."""
    out = redact_text(text)
    for fragment in sorted(fragments, key=len, reverse=True):
        out = out.replace(fragment, MASK)
    return out
