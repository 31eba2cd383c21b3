"""Training configuration: one dataclass per stage, overridable from the command line.

Every field of a config dataclass is an option: ``--steps 200``, ``--steps=200``, ``--batch-size 4``
(dashes and underscores are the same), booleans as ``--amp``, ``--no-amp`` or ``--amp false``, tuples as
comma-separated lists (``--channels 64,32,16``). A field may restrict its values with
``field(metadata={"choices": (...)})`` and document itself with ``metadata={"help": "..."}``.

This module is the only command-line parsing in ``training/``: the CLI, the stages, the bundle builder and
the evaluator all go through `parse_config`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "HelpRequested",
    "TrainConfig",
    "parse_config",
    "format_help",
    "config_to_dict",
    "config_from_dict",
    "save_config",
    "load_config",
]

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


class ConfigError(ValueError):
    """A bad command-line option or config value. The message names the option and what is expected."""


class HelpRequested(Exception):
    """``--help`` was given; ``str(exc)`` is the help text to print."""


@dataclass
class TrainConfig:
    """Options shared by every training stage."""

    data: str = field(
        default="synthetic",
        metadata={"help": "synthetic | celebamask-hq:DIR | lapa:DIR | folder:DIR"},
    )
    out: str = field(default="runs/stage", metadata={"help": "output folder (checkpoints, logs, nets)"})
    steps: int = field(default=1000, metadata={"help": "optimiser steps to train (total, not more)"})
    batch_size: int = field(default=8, metadata={"help": "global batch (split over DDP processes)"})
    size: int = field(default=128, metadata={"help": "training resolution (multiple of 32)"})
    lr: float = field(default=1e-4, metadata={"help": "learning rate of the main networks"})
    seed: int = field(default=0, metadata={"help": "seed of data order, augmentation and init"})
    device: str = field(default="auto", metadata={"choices": ("auto", "cpu", "cuda")})
    amp: bool = field(default=True, metadata={"help": "mixed precision (CUDA only; ignored on CPU)"})
    ema_decay: float = field(default=0.999, metadata={"help": "EMA decay of the exported nets (0 = off)"})
    ckpt_every: int = field(default=500, metadata={"help": "checkpoint every N steps (0 = only at end)"})
    keep_ckpts: int = field(default=2, metadata={"help": "how many checkpoints to keep"})
    log_every: int = field(default=10, metadata={"help": "scalar logging period in steps"})
    image_every: int = field(default=250, metadata={"help": "TensorBoard image grid period (0 = off)"})
    resume: bool = field(default=True, metadata={"help": "continue from the newest checkpoint in --out"})
    progress: bool = field(default=True, metadata={"help": "tqdm progress bar (rank 0 only)"})
    tensorboard: bool = field(default=True, metadata={"help": "TensorBoard logs when installed"})
    repeat_batch: bool = field(
        default=False, metadata={"help": "train on one fixed batch (overfitting checks, tests)"}
    )
    tiny: bool = field(default=False, metadata={"help": "tiny network configs (tests, smoke runs)"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = cores / processes)"})
    max_minutes: float = field(default=0.0, metadata={"help": "stop early after this wall time (0 = off)"})
    grad_clip: float = field(default=0.0, metadata={"help": "clip gradient norm (0 = off)"})
    lr_schedule: str = field(
        default="constant",
        metadata={
            "choices": ("constant", "cosine"),
            "help": "cosine: every lr falls to 5 percent of its start between --lr-decay-from and --steps",
        },
    )
    lr_decay_from: int = field(
        default=0, metadata={"help": "cosine: the step where the decay starts (to continue a run)"}
    )
    first_seed: int = field(
        default=1_000_000, metadata={"help": "first synthetic seed of the training split"}
    )

    def __post_init__(self) -> None:
        _tuplify(self)
        _validate_choices(self)
        if self.steps < 0:
            raise ConfigError(f"--steps must be >= 0, got {self.steps}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.size < 32 or self.size % 32:
            raise ConfigError(f"--size must be a multiple of 32 (>= 32), got {self.size}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"--ema-decay must lie in [0, 1), got {self.ema_decay}")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        for name in ("ckpt_every", "keep_ckpts", "log_every", "image_every", "threads", "lr_decay_from"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{_opt(name)} must be >= 0, got {getattr(self, name)}")

    def lr_factor(self, step: int) -> float:
        """The learning-rate multiplier at ``step`` (0-based) under ``lr_schedule``."""
        if self.lr_schedule == "constant" or step <= self.lr_decay_from:
            return 1.0
        span = max(self.steps - self.lr_decay_from, 1)
        t = min((step - self.lr_decay_from) / span, 1.0)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))


# --------------------------------------------------------------------------------------------------
# type handling


def _opt(name: str) -> str:
    return name.replace("_", "-")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _describe(tp: Any) -> str:
    tp, optional = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        inner = plural.get(args[0], "values") if args else "values"
        text = f"a comma-separated list of {inner}"
    elif origin is typing.Literal:
        text = "one of " + ", ".join(map(str, typing.get_args(tp)))
    else:
        text = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
            tp, getattr(tp, "__name__", str(tp))
        )
    return text + (" or none" if optional else "")


def _convert(tp: Any, raw: Any, opt: str) -> Any:
    """Convert ``raw`` (a string from argv, or a JSON value) to type ``tp``; ConfigError otherwise."""
    tp, optional = _unwrap_optional(tp)
    if optional and (raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "null"))):
        return None
    origin = typing.get_origin(tp)
    bad = ConfigError(f"--{opt} expects {_describe(tp)}, got {raw!r}")
    if origin is tuple:
        args = typing.get_args(tp)
        inner = args[0] if args else str
        if isinstance(raw, str):
            items = [p.strip() for p in raw.split(",") if p.strip()]
        elif isinstance(raw, list | tuple):
            items = list(raw)
        else:
            raise bad
        try:
            return tuple(_convert(inner, it, opt) for it in items)
        except ConfigError:
            raise bad from None
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        for c in choices:
            if raw == c or str(raw) == str(c):
                return c
        raise bad
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad
    if tp is int:
        if isinstance(raw, bool):
            raise bad
        if isinstance(raw, int):
            return raw
        text = str(raw).strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            value = float(text)
        except ValueError:
            raise bad from None
        if not value.is_integer():
            raise bad
        return int(value)
    if tp is float:
        if isinstance(raw, bool):
            raise bad
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise bad from None
        if value != value:  # NaN
            raise bad
        return value
    if tp is str:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise bad
        return str(raw)
    raise ConfigError(f"--{opt}: unsupported option type {tp!r}")


def _tuplify(cfg: Any) -> None:
    """Lists (from JSON) back to tuples for tuple-typed fields."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, list):
            object.__setattr__(cfg, f.name, tuple(value))


def _validate_choices(cfg: Any) -> None:
    for f in dataclasses.fields(cfg):
        choices = f.metadata.get("choices")
        if choices is not None and getattr(cfg, f.name) not in choices:
            raise ConfigError(
                f"--{_opt(f.name)} must be one of {', '.join(map(str, choices))}, "
                f"got {getattr(cfg, f.name)!r}"
            )


# --------------------------------------------------------------------------------------------------
# parsing


def format_help(cls: type, prog: str = "facepaint-train", summary: str = "") -> str:
    """A help text listing every option of config class ``cls`` with its type and default."""
    hints = _hints(cls)
    lines = [f"usage: {prog} [--option value ...]"]
    if summary:
        lines += ["", summary.strip()]
    lines += ["", "options:"]
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        kind = _describe(hints[f.name])
        if f.metadata.get("choices"):
            kind = "one of " + ", ".join(map(str, f.metadata["choices"]))
        text = f.metadata.get("help", "")
        lines.append(f"  --{_opt(f.name):<20} {kind}; default {default}" + (f". {text}" if text else ""))
    lines.append(f"  --{'help':<20} show this text")
    return "\n".join(lines)


def parse_config(cls: type, argv: list[str] | None, base: Any | None = None, prog: str = "facepaint-train"):
    """Build ``cls`` from its defaults (or ``base``) overridden by ``--field value`` options in ``argv``.

    Raises `ConfigError` for unknown options (with a suggestion), missing or malformed values, and values
    that the config's own checks reject; `HelpRequested` for ``--help``/``-h``.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    argv = list(argv or [])
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values: dict[str, Any] = {}
    if base is not None:
        values.update({name: getattr(base, name) for name in fields})
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok in ("-h", "--help"):
            raise HelpRequested(format_help(cls, prog, (cls.__doc__ or "")))
        if not tok.startswith("--") or tok == "--":
            raise ConfigError(f"unexpected argument {tok!r}: options look like --name value")
        body = tok[2:]
        inline = None
        if "=" in body:
            body, inline = body.split("=", 1)
        name = body.replace("-", "_")
        negated = False
        if name not in fields and name.startswith("no_") and name[3:] in fields:
            if _unwrap_optional(hints[name[3:]])[0] is bool and inline is None:
                name, negated = name[3:], True
        if name not in fields:
            options = [_opt(n) for n in fields]
            close = difflib.get_close_matches(_opt(name), options, n=1)
            hint = f"; did you mean --{close[0]}?" if close else ""
            raise ConfigError(f"unknown option --{_opt(name)}{hint} (see --help for the list)")
        tp = hints[name]
        is_bool = _unwrap_optional(tp)[0] is bool
        if negated:
            values[name] = False
            i += 1
            continue
        if inline is not None:
            raw = inline
            i += 1
        elif is_bool and (i + 1 >= len(argv) or argv[i + 1].startswith("--")):
            raw = "true"
            i += 1
        else:
            if i + 1 >= len(argv) or (argv[i + 1].startswith("--") and len(argv[i + 1]) > 2):
                raise ConfigError(f"--{_opt(name)} needs a value ({_describe(tp)})")
            raw = argv[i + 1]
            i += 2
        values[name] = _convert(tp, raw, _opt(name))
    return _build(cls, values)


def _build(cls: type, values: dict[str, Any]):
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad {cls.__name__}: {e}") from None


# --------------------------------------------------------------------------------------------------
# JSON round trip (the config saved beside every checkpoint)


def config_to_dict(cfg: Any) -> dict:
    data = dataclasses.asdict(cfg)
    return json.loads(json.dumps(data))


def config_from_dict(cls: type, data: dict) -> Any:
    """Rebuild ``cls`` from a JSON dict; unknown keys are an error (a config from another stage)."""
    hints = _hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no fields {unknown}")
    values = {k: _convert(hints[k], v, _opt(k)) for k, v in data.items()}
    return _build(cls, values)


def save_config(cfg: Any, path: str | Path, extra: dict | None = None) -> None:
    payload = {"type": type(cfg).__name__, "config": config_to_dict(cfg)}
    if extra:
        payload.update(extra)
    Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def load_config(cls: type, path: str | Path) -> Any:
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from None
    if not isinstance(payload, dict) or "config" not in payload:
        raise ConfigError(f"{path} is not a saved training config")
    return config_from_dict(cls, payload["config"])


def parse_command(cls: type, argv: list[str], prog: str, check: Callable[[Any], None] | None = None):
    """A ``facepaint-train`` command's options: ``(config, None)``, or ``(None, exit code)`` once the
    help (0) or a one-line error (2) is printed. ``check(cfg)`` may raise ConfigError for what the
    options cannot say alone (a required folder, say)."""
    import sys

    try:
        cfg = parse_config(cls, argv, prog=prog)
        if check is not None:
            check(cfg)
    except HelpRequested as h:
        print(h)
        return None, 0
    except ConfigError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return None, 2
    return cfg, None
