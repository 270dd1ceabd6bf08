"""A strict YAML loader for untrusted documents: disclosures, and the rule and questionnaire data files.

Its own module so that every part of the register can read YAML the same strict way without importing the
disclosure format (screening and impact build on this, and the disclosure format builds on them).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["FAST_LOADER", "MAX_DEPTH", "Refused", "StrictLoader"]

MAX_DEPTH = 50


class Refused(Exception):
    """A YAML construct a disclosure may not use; carries the position for the error message."""

    def __init__(self, message: str, fix: str, mark: Any) -> None:
        super().__init__(message)
        self.message, self.fix, self.mark = message, fix, mark


_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _StrictConstructor(yaml.constructor.SafeConstructor):
    """Builds plain data; refuses duplicate keys, non-text keys and merge keys instead of guessing."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise Refused("expected a mapping", "give fields as 'name: value'", node.start_mark)
        mapping: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise Refused("merge keys (<<) are not allowed", "write the fields out in full", key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise Refused(f"the key {key!r} is not text", "put the key in quotes", key_node.start_mark)
            if key in mapping:
                raise Refused(
                    f"duplicate key '{key}' (first given on line {first_line[key] + 1})",
                    "give each field once; remove or merge the repeated one",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


class _StrictResolver(yaml.resolver.Resolver):
    """Types only YAML 1.2 core scalars (true/false, decimal integers, floats, null); all else stays text."""


_StrictResolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _INT_TAG, _FLOAT_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_StrictResolver.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_StrictResolver.add_implicit_resolver(_INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_StrictResolver.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+)$"),
    list("-+0123456789."),
)


class StrictLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _StrictConstructor,
    _StrictResolver,
):
    """PyYAML's safe loader, made strict and predictable for untrusted documents (pure Python).

    Why not plain ``yaml.safe_load``: it silently keeps the last of duplicate keys, expands aliases (a
    "billion laughs" document can exhaust memory), and follows YAML 1.1, where ``NO`` (Norway) is ``false``,
    ``1:20`` is 80 and ``2026-01-01`` becomes a date object inside a text field.
    """

    _depth = 0

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _StrictConstructor.__init__(self)
        _StrictResolver.__init__(self)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise Refused("aliases (*name) are not allowed", "write the value out in full", event.start_mark)
        # An explicit limit rather than Python's recursion limit: a disclosure is at most about 8 levels deep.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise Refused(
                    f"the document is nested too deeply (more than {MAX_DEPTH} levels)",
                    "a disclosure needs only a few levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


if yaml.__with_libyaml__:
    _CParser: Any = vars(yaml.cyaml)["CParser"]  # libyaml's parser (the type stubs do not export it)

    class _FastLoader(_CParser, _StrictConstructor, _StrictResolver):  # type: ignore[misc]
        """The same rules on libyaml's parser, about ten times faster; aliases and depth are checked first."""

        def __init__(self, stream: str) -> None:
            _prescan(stream)
            _CParser.__init__(self, stream)
            _StrictConstructor.__init__(self)
            _StrictResolver.__init__(self)

    def _prescan(stream: str) -> None:
        # libyaml composes nodes in C, where we cannot hook in; so walk its event stream once beforehand.
        parser = _CParser(stream)
        depth = 0
        try:
            while parser.check_event():
                event = parser.get_event()
                if isinstance(event, yaml.AliasEvent):
                    raise Refused("aliases (*name) are not allowed", "write the value out in full", event.start_mark)
                if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise Refused(
                            f"the document is nested too deeply (more than {MAX_DEPTH} levels)",
                            "a disclosure needs only a few levels",
                            event.start_mark,
                        )
                elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                    depth -= 1
        finally:
            parser.dispose()

    FAST_LOADER: type = _FastLoader
else:  # pragma: no cover - PyYAML built without libyaml
    FAST_LOADER = StrictLoader
