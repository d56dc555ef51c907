"""Host-side random draws, bit-identical on every backend and device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import from_host, target_of
from .checks import check_seed
from .targets import Array


def check_state(state: Any) -> dict[str, Any]:
    """``state`` if it is a state of :class:`HostRandom`'s generator (what
    :meth:`HostRandom.state` returned), else ``ValueError``."""
    trial = np.random.default_rng(0).bit_generator
    if not isinstance(state, dict) or state.get("bit_generator") != type(trial).__name__:
        raise ValueError(f"random_state must be a {type(trial).__name__} state, got "
                         f"{str(state)[:80]!r}")
    try:
        trial.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ValueError(f"random_state is not a valid {type(trial).__name__} state: "
                         f"{exc}") from None
    if trial.state != state:
        raise ValueError("random_state is not a valid state: it does not read back as written")
    return state


class HostRandom:
    """Seeded random draws made on the host with NumPy, then copied to the
    device: dropout masks and mini-batch orders come out the same on every
    backend and device (the Array API has no random module)."""

    def __init__(self, seed: int | None) -> None:
        self._seed = check_seed(seed)
        self._generator: np.random.Generator | None = None

    @property
    def _rng(self) -> np.random.Generator:
        """The generator, made at its first use (a fit without draws makes none)."""
        if self._generator is None:
            self._generator = np.random.default_rng(self._seed)
        return self._generator

    def state(self) -> dict[str, Any]:
        """The generator's state, to :meth:`restore` it (divergence replay)."""
        # a new dict at run time; NumPy's stubs say Mapping
        return self._rng.bit_generator.state  # type: ignore[return-value]

    def restore(self, state: dict[str, Any]) -> None:
        """Go back to a :meth:`state`: the same draws follow."""
        self._rng.bit_generator.state = state

    def dropout_mask(self, shape: tuple[int, int], keep_prob: float, like: Array) -> Array:
        """D / keep_prob with D ~ Bernoulli(keep_prob), as ``like``'s dtype and device."""
        return from_host(self._mask(shape, keep_prob), like)

    def _mask(self, shape: tuple[int, ...], keep_prob: float) -> np.ndarray:
        """One draw of D / keep_prob on the host, D ~ Bernoulli(keep_prob)."""
        return (self._rng.random(shape) < keep_prob) / keep_prob

    def dropout_masks(self, shapes: dict[int, tuple[int, int]], keep: Any, k: int,
                      capacity: int, like: Array) -> dict[int, Array]:
        """The masks of ``k`` steps, each drawn as :meth:`dropout_mask` would
        draw it (step by step, layers in order), stacked along a first axis
        padded to ``capacity``, as ``like``'s dtype and device."""
        stacks = {l: np.zeros((capacity, *shapes[l])) for l in sorted(shapes)}
        for j in range(k):
            for l in sorted(shapes):
                stacks[l][j] = self._mask(shapes[l], keep[l])
        return {l: from_host(a, like) for l, a in stacks.items()}

    def chunked_permutation(self, sizes: Sequence[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        """A shuffle of data read by chunks of ``sizes`` examples: an order of
        the chunks and, for each chunk in that order, an order of its
        examples (host index arrays). With one chunk it is the draw of
        :meth:`permutation`."""
        chunks = (self._rng.permutation(len(sizes)) if len(sizes) > 1
                  else np.zeros(1, dtype=np.intp))
        small = np.int32 if max(sizes) < 2**31 else np.int64
        return chunks, [self._rng.permutation(sizes[c]).astype(small) for c in chunks]

    def permutation(self, m: int, like: Array, among: np.ndarray | None = None) -> Array:
        """A shuffled ``0..m−1`` as an integer index array where ``like`` lives;
        with ``among`` (m indices), those indices in that shuffled order."""
        order = self._rng.permutation(m)
        return target_of(like).put(order if among is None else among[order])
