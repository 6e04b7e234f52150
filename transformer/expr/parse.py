"""Parse a JMESPath expression into jmespath's AST, with `$name` variable references.

jmespath.py has no variables; the spec language uses `$name` for settings and `let` values (the
syntax of JMESPath's lexical-scoping proposal). We add one token and one AST node, `variable`,
and record the position of variables and function names so errors can point at them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from jmespath import exceptions, lexer, parser

__all__ = ["Node", "ParseFailure", "parse_expression"]

Node = dict[str, Any]


class ParseFailure(Exception):  # noqa: N818 - a failure to parse, caught at one place
    """An expression that does not parse; `offset` is the 0-based character position."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


class _Lexer(lexer.Lexer):  # type: ignore[misc]
    SIMPLE_TOKENS: ClassVar[dict[str, str]] = {**lexer.Lexer.SIMPLE_TOKENS, "$": "variable"}


class _Parser(parser.Parser):  # type: ignore[misc]
    BINDING_POWER: ClassVar[dict[str, int]] = {**parser.Parser.BINDING_POWER, "variable": 0}

    def parse_uncached(self, expression: str) -> Node:
        self.tokenizer = _Lexer().tokenize(expression)
        self._tokens = list(self.tokenizer)
        self._index = 0
        parsed: Node = self._expression(binding_power=0)
        if self._current_token() != "eof":
            token = self._lookahead_token(0)
            raise exceptions.ParseError(token["start"], token["value"], token["type"],
                                        f"unexpected token {token['value']!r}")
        return parsed

    def _token_nud_variable(self, token: dict[str, Any]) -> Node:
        name = self._lookahead_token(0)
        if name["type"] != "unquoted_identifier" or name["start"] != token["end"]:
            raise exceptions.ParseError(token["start"], "$", "variable",
                                        "'$' must be followed by a variable name")
        self._advance()
        return {"type": "variable", "value": name["value"], "children": [], "pos": token["start"]}

    def _token_nud_unquoted_identifier(self, token: dict[str, Any]) -> Node:
        node: Node = super()._token_nud_unquoted_identifier(token)
        node["pos"] = token["start"]
        return node

    def _token_led_or(self, left: Node) -> Node:
        position = self._lookahead_token(-1)["start"]
        node: Node = super()._token_led_or(left)
        node["pos"] = position
        return node

    def _token_led_lparen(self, left: Node) -> Node:
        node: Node = super()._token_led_lparen(left)
        node["pos"] = left.get("pos", 0)
        return node


def parse_expression(text: str) -> Node:
    """Parse `text`; raises `ParseFailure` with the offset of the problem."""
    if not text.strip():
        raise ParseFailure(0, "empty expression")
    try:
        return _Parser().parse_uncached(text)
    except exceptions.IncompleteExpressionError:
        return _incomplete(text)
    except exceptions.LexerError as exc:
        raise ParseFailure(exc.lex_position or 0, _lexer_message(exc)) from None
    except exceptions.ParseError as exc:
        raise ParseFailure(exc.lex_position or 0, _parse_message(exc)) from None


def _incomplete(text: str) -> Node:
    raise ParseFailure(len(text), "expression ends too early")


def _lexer_message(exc: Any) -> str:
    message = str(getattr(exc, "message", "") or "invalid token")
    return message[0].lower() + message[1:] if message else "invalid token"


def _parse_message(exc: Any) -> str:
    msg = str(getattr(exc, "msg", "") or "invalid syntax")
    if exc.token_type == "eof" or "got: eof" in msg:
        return "expression ends too early"
    if msg.lower().startswith("invalid token"):
        return f"unexpected {exc.token_value!r}"
    return msg[0].lower() + msg[1:]
