"""Key maps: how the keys of a checkpoint become the keys of a model (ordered regex rules
plus ``drop`` patterns), and the generic maps. Each architecture owns its ImageNet map
(:mod:`~semipose.models.resnet`, :mod:`~semipose.models.hrnet`); the reference layouts' maps
are in :mod:`~semipose.models.reference`."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from torch import Tensor

from ..errors import CheckpointError, InputError

__all__ = ["KeyMap", "IDENTITY", "prefixed_key_map"]


@dataclass(frozen=True)
class KeyMap:
    """Translate checkpoint keys to model keys.

    A checkpoint key matching any ``drop`` pattern (``re.search``) is discarded. Otherwise the
    first rule whose pattern matches is applied with ``re.sub(pattern, replacement, key,
    count=1)``; keys matching no rule pass through unchanged.

    Args:
        rules: ordered ``(regex, replacement)`` pairs (``replacement`` may use ``\\1`` groups).
        drop: regexes of checkpoint keys to discard.
        name: label used in reports and error messages.
    """

    rules: Sequence[tuple[str, str]] = ()
    drop: Sequence[str] = ()
    name: str = "custom"
    _compiled: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rules = tuple((str(p), str(r)) for p, r in self.rules)
        drop = tuple(str(p) for p in self.drop)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "drop", drop)
        object.__setattr__(
            self,
            "_compiled",
            (tuple(re.compile(p) for p in drop), tuple((re.compile(p), r) for p, r in rules)),
        )

    def map_key(self, key: str) -> str | None:
        """The model key for checkpoint ``key``, or ``None`` if it is dropped."""
        drop, rules = self._compiled
        if any(d.search(key) for d in drop):
            return None
        for pattern, repl in rules:
            if pattern.search(key):
                return pattern.sub(repl, key, count=1)
        return key

    def apply(
        self, state: Mapping[str, Tensor]
    ) -> tuple[OrderedDict[str, Tensor], list[str], dict[str, str]]:
        """Map a checkpoint state_dict.

        Returns:
            ``(mapped, dropped, origin)``: the model-keyed state_dict, the dropped checkpoint
            keys, and ``{model key: checkpoint key}``.

        Raises:
            CheckpointError: two checkpoint keys map to the same model key.
        """
        mapped: OrderedDict[str, Tensor] = OrderedDict()
        origin: dict[str, str] = {}
        dropped: list[str] = []
        for key, value in state.items():
            new = self.map_key(key)
            if new is None:
                dropped.append(key)
                continue
            if new in mapped:
                raise CheckpointError(
                    f"key map {self.name!r} maps both {origin[new]!r} and {key!r} to {new!r}"
                )
            mapped[new] = value
            origin[new] = key
        return mapped, dropped, origin


#: Keys used as they are.
IDENTITY = KeyMap(name="identity")


def prefixed_key_map(
    inner: KeyMap, prefix: str, *, extra_drop: Sequence[str] = (), name: str | None = None
) -> KeyMap:
    """``inner`` applied to the keys under ``prefix`` (which is stripped); other keys dropped.

    For example ``prefixed_key_map(TORCHVISION_RESNET, "resnet2.")`` maps
    ``resnet2.layer1.0.conv1.weight`` to ``layer1.0.conv1.weight``, drops ``resnet2.fc.*`` and
    every key outside ``resnet2.``.

    Args:
        inner: key map for the un-prefixed keys. Its rule patterns must be anchored with ``^``.
        prefix: e.g. ``"resnet."``.
        extra_drop: more drop regexes, matched against the key *without* the prefix (anchor
            them with ``^``, or they match anywhere after it).
        name: label of the result (default ``"<inner.name>@<prefix>"``).

    Raises:
        ValueError: an ``inner`` rule pattern is not anchored.
    """
    esc = "^" + re.escape(prefix)

    def under(pattern: str) -> str:
        return esc + pattern[1:] if pattern.startswith("^") else esc + "(?:.*?)" + pattern

    for pattern, _ in inner.rules:
        if not pattern.startswith("^"):
            raise InputError(f"prefixed_key_map needs rules anchored with '^', got {pattern!r}")
    return KeyMap(
        rules=[*((under(p), r) for p, r in inner.rules), (esc, "")],
        drop=[f"^(?!{re.escape(prefix)})", *(under(d) for d in (*inner.drop, *extra_drop))],
        name=name or f"{inner.name}@{prefix}",
    )
