"""params.yaml, typed: each stage turns the sections it reads into dataclasses when it starts.

A misspelled key (`model.epoch: 3`), a wrong type, an impossible value or two settings that
contradict each other would otherwise surface minutes later as a traceback, or never (a typo'd
key is simply not read). So every stage parses its sections first and stops at once with one
line that names the key and what is allowed:

    params.yaml: model.epoch: unknown key (did you mean epochs?); model takes: protocols, ...

A schema is a dataclass, nanoGPT-style: one field per key with a short comment; the field's
type says what YAML value it takes and the dataclass's optional `check()` says which values
make sense. No field has a default (only `lambda_`, see TrainConfig): every knob the code reads
is written in params.yaml, where its paper value sits beside it.

The sections a stage owns are declared beside the stage (`AlignParams` in align.py,
`FlowParams` in flow.py, ...); this module holds the parser and the schemas several stages
share: `preprocess` and the network sections of train@<network> and evaluate@<network>.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, TypeVar, Union

import yaml

T = TypeVar("T")


class ParamsError(ValueError):
    """params.yaml holds a key or a value that a stage cannot use. One line, naming the key."""


class Loader(yaml.SafeLoader):
    """YAML with YAML 1.2's floats: `dvc exp run -S model.optimizer.lr=0.00001` writes `1e-05`,
    which YAML 1.1 (PyYAML's) would read as text."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                  |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def read_params(path: str | Path = "params.yaml") -> dict:
    """The raw params.yaml; a missing or unparsable file is a ParamsError."""
    path = Path(path)
    try:
        params = yaml.load(path.read_text(), Loader=Loader)
    except FileNotFoundError:
        raise ParamsError(f"{path} not found; run the stage from the repository root") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path} must be a mapping of sections, got {type(params).__name__}")
    return params


def section(params: dict, dotted: str) -> Any:
    """The value at a dotted key such as `baselines.fr`; a missing part is a ParamsError."""
    value: Any = params
    for i, part in enumerate(dotted.split(".")):
        if not isinstance(value, dict) or part not in value:
            where = ".".join(dotted.split(".")[:i + 1])
            raise ParamsError(f"params.yaml: {where}: missing section")
        value = value[part]
    return value


# --------------------------------------------------------------------------- the parser

def key_of(field_name: str) -> str:
    """The YAML key of a dataclass field: `lambda_` stands for `lambda`, a Python keyword."""
    return field_name.removesuffix("_")


def parse(schema: type[T], raw: object, where: str) -> T:
    """`raw` (a mapping from params.yaml) as an instance of the dataclass `schema`.

    Every key must be a field and every field without a default must be present; values are
    converted and checked against the field types (see `convert`); then `schema.check()` runs,
    when it has one. Any problem is a ParamsError naming `where.key`."""
    fields = {key_of(f.name): f for f in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    if not isinstance(raw, dict):
        raise ParamsError(f"params.yaml: {where}: expected a mapping with the keys "
                          f"{', '.join(fields)}; got {describe(raw)}")
    for key in raw:
        if key not in fields:
            raise ParamsError(f"params.yaml: {where}.{key}: unknown key{suggest(key, fields)}; "
                              f"{where} takes: {', '.join(fields)}")
    values = {}
    for key, f in fields.items():
        if key not in raw:
            if f.default is dataclasses.MISSING:
                raise ParamsError(f"params.yaml: {where}.{key}: missing key; {where} takes: "
                                  f"{', '.join(fields)}")
            continue
        values[f.name] = convert(raw[key], hints[f.name], f"{where}.{key}")
    instance = schema(**values)
    check = getattr(instance, "check", None)
    if check is not None:
        try:
            check()
        except ValueError as error:
            raise ParamsError(f"params.yaml: {where}.{error}") from None
    return instance


def parse_arguments(function: Callable, raw: object, where: str,
                    given: tuple[str, ...] = ()) -> dict[str, Any]:
    """`raw` as keyword arguments of `function` (a class or a builder): exactly its parameters
    minus `given` (those the pipeline fills in, such as num_classes), each converted to its
    annotated type. This is how a network's `net:` and its input view's `input:` are checked
    against the constructors they feed, with no second list of their arguments."""
    target = function.__init__ if inspect.isclass(function) else function
    hints = typing.get_type_hints(target)
    names = [n for n, p in inspect.signature(target).parameters.items()
             if n != "self" and n not in given and p.kind is p.POSITIONAL_OR_KEYWORD]
    if not isinstance(raw, dict):
        raise ParamsError(f"params.yaml: {where}: expected a mapping with the keys "
                          f"{', '.join(names)}; got {describe(raw)}")
    for key in raw:
        if key not in names:
            extra = (" (it is set by the pipeline)" if key in given else suggest(key, names))
            raise ParamsError(f"params.yaml: {where}.{key}: unknown key{extra}; {where} takes: "
                              f"{', '.join(names)}")
    missing = [n for n in names if n not in raw]
    if missing:
        raise ParamsError(f"params.yaml: {where}.{missing[0]}: missing key; {where} takes: "
                          f"{', '.join(names)}")
    return {n: convert(raw[n], hints.get(n, Any), f"{where}.{n}") for n in names}


def convert(value: object, kind: Any, where: str) -> Any:
    """A YAML value as the annotated type `kind`, or a ParamsError saying what `where` takes.

    int (no bool, no fraction), float (an int is fine), bool (true/false only), str, Literal,
    tuple[X, ...] or tuple[X, Y] from a YAML list, list[X], dict[str, X], X | None, Any, a
    dataclass (parsed with `parse`), and a union of dataclasses told apart by the Literal value
    of their first field (the optimiser's `name`, a protocol's `protocol`)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return None
        if len(options) == 1:
            return convert(value, options[0], where)
        if all(dataclasses.is_dataclass(o) for o in options):
            return convert_tagged(value, options, where)
        raise TypeError(f"{where}: unsupported annotation {kind}")
    if dataclasses.is_dataclass(kind):
        return parse(kind, value, where)
    if origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
            raise ParamsError(f"params.yaml: {where}: {describe(value)} is not allowed; use one "
                              f"of {', '.join(map(str, args))}")
        return value
    if origin is tuple or origin is list:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"params.yaml: {where}: expected {name_of(kind)}, got {describe(value)}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ParamsError(f"params.yaml: {where}: expected {name_of(kind)}, got "
                                  f"{describe(value)}")
            return tuple(convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        items = [convert(v, args[0] if args else Any, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: {where}: expected a mapping, got {describe(value)}")
        return {str(k): convert(v, args[1] if args else Any, f"{where}.{k}") for k, v in value.items()}
    if kind is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: {where}: expected a mapping, got {describe(value)}")
        return dict(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"params.yaml: {where}: expected true or false, got {describe(value)}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"params.yaml: {where}: expected an integer, got {describe(value)}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"params.yaml: {where}: expected a number, got {describe(value)}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ParamsError(f"params.yaml: {where}: expected a string, got {describe(value)}")
        return value
    raise TypeError(f"{where}: unsupported annotation {kind}")


def convert_tagged(value: object, options: list[type], where: str) -> Any:
    """One of several dataclasses, chosen by the value of their first (Literal) field."""
    tags = {}
    for option in options:
        first = dataclasses.fields(option)[0]
        for tag in typing.get_args(typing.get_type_hints(option)[first.name]):
            tags[tag] = option
    tag_key = key_of(dataclasses.fields(options[0])[0].name)
    tag = value.get(tag_key) if isinstance(value, dict) else None
    if tag not in tags:
        raise ParamsError(f"params.yaml: {where}.{tag_key}: {describe(tag)} is not allowed; use "
                          f"one of {', '.join(map(str, tags))}")
    return parse(tags[tag], value, where)


def name_of(kind: Any) -> str:
    """How an error message says what a type takes."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return f"a list of {len(args)} values ({', '.join(name_of(a) for a in args)})"
    if origin in (tuple, list):
        plural = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}
        return f"a list of {plural.get(args[0], 'values') if args else 'values'}"
    return {int: "integer", float: "number", bool: "true/false", str: "string"}.get(kind, str(kind))


def as_yaml(instance: Any) -> Any:
    """A parsed section back as plain YAML-style data, with params.yaml's key names (shards
    record the params that made them this way)."""
    if dataclasses.is_dataclass(instance):
        return {key_of(f.name): as_yaml(getattr(instance, f.name))
                for f in dataclasses.fields(instance)}
    if isinstance(instance, (list, tuple)):
        return [as_yaml(v) for v in instance]
    if isinstance(instance, dict):
        return {k: as_yaml(v) for k, v in instance.items()}
    return instance


def describe(value: object) -> str:
    return "nothing" if value is None else f"{value!r} ({type(value).__name__})"


def suggest(key: str, allowed: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


# --------------------------------------------------------------------------- shared sections

@dataclass(frozen=True)
class PreprocessParams:
    """`preprocess`: what every preprocessing stage shares."""

    jobs: int           # worker processes per stage; 0 = every core (results do not depend on it)
    max_failed: float   # the stage fails when more than this fraction of its clips fail

    def check(self) -> None:
        if self.jobs < 0:
            raise ValueError("jobs: must be 0 (every core) or more")
        if not 0 <= self.max_failed <= 1:
            raise ValueError(f"max_failed: must be a fraction in [0, 1], got {self.max_failed}")


@dataclass(frozen=True)
class SGD:
    """SGD with momentum and a step schedule (lr x gamma every step_epochs)."""

    name: Literal["sgd"]
    lr: float
    momentum: float
    weight_decay: float
    step_epochs: int      # the learning rate is multiplied by gamma every step_epochs epochs
    gamma: float

    def check(self) -> None:
        check_schedule(self)
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum: must be in [0, 1), got {self.momentum}")


@dataclass(frozen=True)
class Adam:
    """Adam (torch's betas) with the same step schedule."""

    name: Literal["adam"]
    lr: float
    weight_decay: float
    step_epochs: int
    gamma: float

    def check(self) -> None:
        check_schedule(self)


def check_schedule(opt: SGD | Adam) -> None:
    if opt.lr <= 0:
        raise ValueError(f"lr: must be positive, got {opt.lr}")
    if opt.weight_decay < 0:
        raise ValueError(f"weight_decay: must be 0 or more, got {opt.weight_decay}")
    if opt.step_epochs < 1:
        raise ValueError(f"step_epochs: must be at least 1, got {opt.step_epochs}")
    if not 0 < opt.gamma <= 1:
        raise ValueError(f"gamma: must be in (0, 1], got {opt.gamma}")


@dataclass(frozen=True)
class TrainConfig:
    """A network's section (`model` for SMA-STN, `baselines.<name>` for the others): how
    train@<network> trains it and which protocols evaluate@<network> scores. `per_protocol`
    overrides any of the training keys for one protocol (the papers set batch size, optimiser
    and augmentation per protocol), e.g. {hde_casme2_samm: {batch_size: 10, input: {...}}};
    mappings merge key by key."""

    protocols: list[str]      # entries of the `protocols` section, run in this order
    epochs: int               # fixed budget per fold: nothing is chosen on the held-out fold
    batch_size: int
    balance_classes: bool     # resample every class to the largest each epoch (Micro-Attention)
    optimizer: SGD | Adam
    input: dict               # arguments of the network's input view (pipeline/datasets.py)
    net: dict                 # arguments of the network's constructor (models/<family>.py)
    amp: bool                 # mixed precision (pipeline/training.py precision_for)
    amp_dtype: Literal["auto", "bfloat16", "float16"]   # auto: bf16 where the GPU has it, else fp16
    deterministic: bool       # CUDA: cuDNN's deterministic kernels, no autotuning (CPU: always)
    threads: int              # CPU threads for torch; small inputs run fastest on one
    folds_at_once: int        # folds trained side by side in worker processes on one device
    seeds: list[int]          # every protocol runs once per seed; metrics give mean and std
    per_protocol: dict        # {protocol: {key: value}}: settings that differ for one protocol
    lambda_: float | None = None   # weight of the network's extra loss term; only where it has one

    def check(self) -> None:
        if not self.protocols:
            raise ValueError("protocols: name at least one entry of the protocols section")
        if len(set(self.protocols)) != len(self.protocols):
            raise ValueError(f"protocols: {self.protocols} names a protocol twice")
        if self.epochs < 1:
            raise ValueError(f"epochs: must be at least 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size: must be at least 2 (BatchNorm), got {self.batch_size}")
        if self.threads < 1:
            raise ValueError(f"threads: must be at least 1, got {self.threads}")
        if self.folds_at_once < 1:
            raise ValueError(f"folds_at_once: must be at least 1, got {self.folds_at_once}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: one or more different seeds, got {self.seeds}")
        if self.lambda_ is not None and self.lambda_ < 0:
            raise ValueError(f"lambda: must be 0 or more, got {self.lambda_}")
        for name, override in self.per_protocol.items():
            fixed = {"protocols", "seeds", "per_protocol", "folds_at_once"} & set(override or {})
            if not isinstance(override, dict) or fixed:
                raise ValueError(f"per_protocol.{name}: a mapping of training keys to override "
                                 f"(not {', '.join(sorted(fixed)) or 'a ' + type(override).__name__})")


def merged(base: dict, override: dict) -> dict:
    """`base` with `override` on top, mappings merged key by key (per-protocol settings)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
