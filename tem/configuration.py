"""Frozen config dataclasses: their field docs, plain dicts (JSON files, checkpoints) and flags.

Every config of the package is a frozen dataclass whose fields each carry a one-line docstring
(the string right below the field, as in nanoGPT's and CleanRL's configs). This module reads those
docstrings, turns configs into plain dicts and back (a field that holds one of several config
classes is stored with its ``kind``), and adds one command-line flag per field to an
``argparse`` parser.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import types
import typing


@functools.lru_cache(maxsize=None)
def field_docs(cls) -> dict[str, str]:
    """``{field: first line of its docstring}`` of a dataclass (empty where the source is missing)."""
    docs = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def to_dict(config) -> dict:
    """A config dataclass as a plain dict (tuples as lists, nested configs as dicts with ``kind``)."""
    out = {"kind": config.kind} if isinstance(getattr(type(config), "kind", None), str) else {}
    for f in dataclasses.fields(config):
        out[f.name] = _plain(getattr(config, f.name))
    return out


def _plain(value):
    if dataclasses.is_dataclass(value):
        return to_dict(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def from_dict(cls, data: dict, where: str = ""):
    """Rebuild ``cls`` from :func:`to_dict`'s output; unknown fields are an error naming them."""
    if not isinstance(data, dict):
        raise ValueError(f"{where or cls.__name__} must be a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names - {"kind"})
    if unknown:
        raise ValueError(f"unknown {where or cls.__name__} fields: {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    values = {name: _typed(hints[name], value, f"{where}.{name}".lstrip("."))
              for name, value in data.items() if name in names}
    # a field added later: a config saved before it existed keeps the behaviour it was saved with
    return cls(**{**getattr(cls, "BEFORE_FIELD", {}), **values})


def config_classes(hint) -> tuple[type, ...]:
    """The config dataclasses a field's type admits (one, several for a union, or none)."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    return tuple(t for t in options if dataclasses.is_dataclass(t))


def _is_union(hint) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _typed(hint, value, where: str):
    classes = config_classes(hint)
    if classes:
        if len(classes) == 1:
            return from_dict(classes[0], value, where)
        kinds = {c.kind: c for c in classes}
        kind = value.get("kind") if isinstance(value, dict) else None
        if kind not in kinds:
            raise ValueError(f"{where} needs a 'kind' among {', '.join(kinds)}, got {kind!r}")
        return from_dict(kinds[kind], value, where)
    if typing.get_origin(hint) is tuple:
        inner = typing.get_args(hint)[0]
        return tuple(_typed(inner, v, where) for v in value)
    return value


def flag(name: str) -> str:
    return name.replace("_", "-")


def _parser_for(hint):
    """A function text -> value for a field of type ``hint`` (bools are handled by the caller)."""
    optional = _is_union(hint) and type(None) in typing.get_args(hint)
    if optional:
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    if typing.get_origin(hint) is tuple:
        inner = typing.get_args(hint)[0]
        convert = lambda text: tuple(inner(part) for part in text.split(",") if part)  # noqa: E731
    else:
        convert = hint
    if optional:
        return lambda text: None if text.lower() == "none" else convert(text)
    return convert


def add_flags(parser: argparse.ArgumentParser, cls, prefix: str, *, bare: bool, dotted: bool = True,
              title: str | None = None) -> dict[str, str]:
    """One flag per (non-config) field of ``cls``: ``--PREFIX.FIELD`` (``dotted``) and/or ``--FIELD``
    (``bare``), default None (unset). Returns ``{dest: field}``; the values land in ``PREFIX.FIELD``."""
    group = parser.add_argument_group(title or prefix, (cls.__doc__ or "").strip().splitlines()[0])
    hints, docs, dests = typing.get_type_hints(cls), field_docs(cls), {}
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if config_classes(hint):
            continue
        names = ([f"--{flag(f.name)}"] if bare else []) + ([f"--{prefix}.{flag(f.name)}"] if dotted else [])
        dest = f"{prefix}.{f.name}"
        default = defaults[f.name]
        text = docs.get(f.name, "")
        if default is not dataclasses.MISSING:
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            text += f" (default: {shown})" if shown != "" else " (default: empty)"
        if hint is bool:
            group.add_argument(*names, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            convert = _parser_for(hint)

            def checked(value, convert=convert, name=names[0]):
                try:
                    return convert(value)
                except ValueError:
                    raise argparse.ArgumentTypeError(f"invalid value for {name}: {value!r}") from None

            group.add_argument(*names, dest=dest, type=checked, default=None, metavar=f.name.upper(), help=text)
        dests[dest] = f.name
    return dests


def set_values(config, values: dict):
    """``config`` with fields replaced by ``values`` (``{field: value}``; None values are ignored)."""
    values = {k: v for k, v in values.items() if v is not None}
    return dataclasses.replace(config, **values) if values else config
